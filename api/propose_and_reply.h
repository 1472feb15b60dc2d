// ProposeAndReply: the one way a unary write RPC is served: propose the
// request, and when it is applied fill the response header and finish.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "api/etcd_errors.h"
#include "api/etcd_server.h"

namespace capstan::api {

// etcd lets gRPC messages exceed --max-request-bytes by this much, so the
// request-too-large check (on the proposal) is the one clients usually see.
inline constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

// etcd's gRPC server (grpc-go) refuses a message over its receive limit with
// this text; C++ gRPC words it differently, so the limit is enforced here and
// the transport's own limit is set higher (twice as high), as a memory guard.
inline grpc::Status CheckReceivedBytes(const EtcdServer& server, int64_t size) {
  const int64_t limit = server.options().max_request_bytes + kGrpcOverheadBytes;
  if (size <= limit) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "grpc: received message larger than max (" + std::to_string(size) + " vs. " +
                          std::to_string(limit) + ")");
}

inline grpc::Status CheckReceivedSize(const EtcdServer& server,
                                      const google::protobuf::Message& m) {
  return CheckReceivedBytes(server, static_cast<int64_t>(m.ByteSizeLong()));
}

template <typename Response>
grpc::ServerUnaryReactor* ProposeAndReply(EtcdServer* server, grpc::CallbackServerContext* ctx,
                                          std::shared_ptr<internalpb::InternalRequest> req,
                                          Response* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  server->Propose(std::move(req), resp, [server, reactor, resp](Status s) {
    if (s.ok()) server->FillHeader(resp->mutable_header());
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

// etcd 3.4 answers a learner's clients only Status and serializable Range
// (its gRPC interceptors); everything else gets this error.
inline grpc::Status CheckNotLearner(const EtcdServer& server) {
  if (!server.IsLearner()) return grpc::Status::OK;
  return ToGrpcStatus(Status::Unavailable(errors::kNotSupportedForLearner));
}

// A stream refused before it starts (a learner refuses every stream, as
// etcd's stream interceptor does): it finishes at once with `status`.
template <typename Reactor>
class RefusedStream final : public Reactor {
 public:
  explicit RefusedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }  // NOLINT(cppcoreguidelines-owning-memory)
};

template <typename Reactor>
Reactor* RefuseStream(const grpc::Status& status) {
  return std::make_unique<RefusedStream<Reactor>>(status).release();
}

inline grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                           const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace capstan::api
