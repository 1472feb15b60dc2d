// KvService: etcd's KV gRPC service (Range, Put, DeleteRange, Txn, Compact).
// It validates, then reads the store or proposes; the Applier does the rest.
#pragma once

#include "api/etcd_server.h"
#include "rpc.grpc.pb.h"

namespace capstan::api {

// Txn is served from raw bytes (see api/grpc_messages.h): its requests nest,
// deeper than gRPC C++'s parser allows, and its replies can outgrow what
// gRPC C++ can send.
using KvServiceBase = etcdserverpb::KV::WithCallbackMethod_Range<
    etcdserverpb::KV::WithCallbackMethod_Put<etcdserverpb::KV::WithCallbackMethod_DeleteRange<
        etcdserverpb::KV::WithRawCallbackMethod_Txn<
            etcdserverpb::KV::WithCallbackMethod_Compact<etcdserverpb::KV::Service>>>>>;

class KvService final : public KvServiceBase {
 public:
  explicit KvService(EtcdServer* server);

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
                                grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  EtcdServer* server_;
  int txn_recursion_limit_;
};

}  // namespace capstan::api
