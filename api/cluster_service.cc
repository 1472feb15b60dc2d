#include "api/cluster_service.h"

#include "api/propose_and_reply.h"

namespace capstan::api {

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest*,
                                                     etcdserverpb::MemberListResponse* resp) {
  for (const MemberInfo& m : server_->Members()) {
    auto* out = resp->add_members();
    out->set_id(m.id);
    out->set_name(m.name);
    for (const auto& u : m.peer_urls) out->add_peerurls(u);
    for (const auto& u : m.client_urls) out->add_clienturls(u);
    out->set_islearner(m.is_learner);
  }
  server_->FillHeaderWithoutRevision(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

}  // namespace capstan::api
