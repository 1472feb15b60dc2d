// Request parsing and response serialization for the methods served from raw
// bytes (KV.Txn), with etcd's limits and errors where gRPC C++'s own differ:
// gRPC C++ parses with protobuf's recursion limit of 100 (too shallow for
// etcd's nested txns) and answers a request it cannot parse with
// UNIMPLEMENTED and no message; it aborts on a reply of 2 GiB or more.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string_view>

#include "rpc.pb.h"

namespace capstan::api {

// The protobuf recursion limit that admits every TxnRequest etcd could
// accept with --max-txn-ops `max_txn_ops` (a nested txn is two message
// levels deeper, and the deepest valid one is max_txn_ops + 1 levels down),
// capped so that parsing and the checks that recurse over a request stay
// far from the end of a thread's stack.
int TxnRecursionLimit(int max_txn_ops);

// How deep txns nest in the encoded TxnRequest `bytes` (1: no nested txn),
// found without recursion; -1 if the bytes are not a well-formed message.
int TxnNestingDepth(std::string_view bytes);

// Parses a TxnRequest with `recursion_limit`. A txn nested deeper than that
// is INVALID_ARGUMENT "etcdserver: too many operations in txn request" (etcd
// refuses it so: each level takes at least one op from the budget); bytes
// that are not a TxnRequest get etcd's INTERNAL "grpc: error unmarshalling
// request: ...".
grpc::Status ParseTxnRequest(const grpc::ByteBuffer& raw, int recursion_limit,
                             etcdserverpb::TxnRequest* out);

// Serializes a response, or refuses one over `max_bytes` with grpc-go's
// RESOURCE_EXHAUSTED "grpc: trying to send message larger than max (N vs. M)".
grpc::Status SerializeResponse(const google::protobuf::Message& m, int64_t max_bytes,
                               grpc::ByteBuffer* out);

// etcd's unmarshal error text (grpc-go's prefix; gogo protobuf's detail
// names the defect, which protobuf C++ does not report).
inline constexpr const char* kUnmarshalError =
    "grpc: error unmarshalling request: proto: cannot parse invalid wire-format data";

// For the unary methods gRPC C++ parses itself: a request it could not parse
// is answered INTERNAL kUnmarshalError, as etcd does, instead of gRPC C++'s
// UNIMPLEMENTED with no message.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewUnmarshalErrorInterceptorFactory();

}  // namespace capstan::api
