#include "api/auth_service.h"

#include "api/propose_and_reply.h"

namespace capstan::api {

grpc::ServerUnaryReactor* AuthService::AuthStatus(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthStatusRequest*,
                                                  etcdserverpb::AuthStatusResponse* resp) {
  resp->set_enabled(false);
  server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AuthService::Authenticate(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AuthenticateRequest*,
                                                    etcdserverpb::AuthenticateResponse*) {
  return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kAuthNotEnabled)));
}

}  // namespace capstan::api
