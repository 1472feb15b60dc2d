// ProposeAndReply: the one way a unary write RPC is served: propose the
// request, and when it is applied fill the response header and finish.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "api/etcd_errors.h"
#include "api/etcd_server.h"

namespace capstan::api {

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

inline grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                           const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace capstan::api
