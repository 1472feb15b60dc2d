// AuthService: etcd's Auth gRPC service. Authentication is not implemented
// yet, so it reports itself disabled, as a fresh etcd does.
#pragma once

#include "api/etcd_server.h"
#include "rpc.grpc.pb.h"

namespace capstan::api {

class AuthService final : public etcdserverpb::Auth::CallbackService {
 public:
  explicit AuthService(EtcdServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* AuthStatus(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::AuthStatusRequest* req,
                                       etcdserverpb::AuthStatusResponse* resp) override;
  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::AuthenticateRequest* req,
                                         etcdserverpb::AuthenticateResponse* resp) override;

 private:
  EtcdServer* server_;
};

}  // namespace capstan::api
