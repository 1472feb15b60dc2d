#include "api/cluster_service.h"

#include "api/propose_and_reply.h"
#include "api/server_config.h"

namespace capstan::api {
namespace {

void ToProto(const MemberInfo& m, etcdserverpb::Member* out) {
  out->set_id(m.id);
  out->set_name(m.name);
  for (const auto& u : m.peer_urls) out->add_peerurls(u);
  for (const auto& u : m.client_urls) out->add_clienturls(u);
  out->set_islearner(m.is_learner);
}

template <typename Response>
void FillMembers(EtcdServer* server, Response* resp) {
  for (const MemberInfo& m : server->Members()) ToProto(m, resp->add_members());
  server->FillHeaderWithoutRevision(resp->mutable_header());
}

// Parses and normalizes peer URLs as etcd does ("http://host:port").
Status ParsePeerUrls(const google::protobuf::RepeatedPtrField<std::string>& in,
                     std::vector<std::string>* out) {
  if (in.empty()) return Status::InvalidArgument(errors::kMemberBadURLs);
  for (const std::string& text : in) {
    Url u;
    if (!ParseUrl(text, &u).ok()) return Status::InvalidArgument(errors::kMemberBadURLs);
    out->push_back(u.ToString());
  }
  return Status::OK();
}

}  // namespace

template <typename Response>
grpc::ServerUnaryReactor* ClusterService::ProposeMembership(grpc::CallbackServerContext* ctx,
                                                            raftpb::ConfChange cc,
                                                            Response* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  server_->ProposeConfChange(std::move(cc), [this, reactor, resp](Status s) {
    if (s.ok()) FillMembers(server_, resp);
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::MemberAddRequest* req,
                                                    etcdserverpb::MemberAddResponse* resp) {
  MemberInfo m;
  Status s = ParsePeerUrls(req->peerurls(), &m.peer_urls);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  if (server_->member_table()->PeerUrlsTaken(m.peer_urls, 0)) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kPeerURLExist)));
  }
  m.id = MemberTable::MemberId(m.peer_urls, server_->options().initial_cluster_token);
  m.is_learner = req->islearner();
  MemberInfo existing;
  if (server_->member_table()->Find(m.id, &existing)) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kMemberExist)));
  }
  ToProto(m, resp->mutable_member());
  raftpb::ConfChange cc;
  cc.set_type(m.is_learner ? raftpb::CONF_CHANGE_ADD_LEARNER_NODE : raftpb::CONF_CHANGE_ADD_NODE);
  cc.set_node_id(m.id);
  cc.set_context(MemberTable::ToContext(m).SerializeAsString());
  return ProposeMembership(ctx, std::move(cc), resp);
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberRemoveRequest* req,
                                                       etcdserverpb::MemberRemoveResponse* resp) {
  MemberInfo m;
  if (!server_->member_table()->Find(req->id(), &m)) {
    return FinishNow(ctx, ToGrpcStatus(Status::NotFound(errors::kMemberNotFound)));
  }
  raftpb::ConfChange cc;
  cc.set_type(raftpb::CONF_CHANGE_REMOVE_NODE);
  cc.set_node_id(req->id());
  return ProposeMembership(ctx, std::move(cc), resp);
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberUpdateRequest* req,
                                                       etcdserverpb::MemberUpdateResponse* resp) {
  MemberInfo m;
  if (!server_->member_table()->Find(req->id(), &m)) {
    return FinishNow(ctx, ToGrpcStatus(Status::NotFound(errors::kMemberNotFound)));
  }
  std::vector<std::string> urls;
  Status s = ParsePeerUrls(req->peerurls(), &urls);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  if (server_->member_table()->PeerUrlsTaken(urls, req->id())) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kPeerURLExist)));
  }
  m.peer_urls = urls;
  raftpb::ConfChange cc;
  cc.set_type(raftpb::CONF_CHANGE_UPDATE_NODE);
  cc.set_node_id(req->id());
  cc.set_context(MemberTable::ToContext(m).SerializeAsString());
  return ProposeMembership(ctx, std::move(cc), resp);
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(
    grpc::CallbackServerContext* ctx, const etcdserverpb::MemberPromoteRequest* req,
    etcdserverpb::MemberPromoteResponse* resp) {
  MemberInfo m;
  if (!server_->member_table()->Find(req->id(), &m)) {
    return FinishNow(ctx, ToGrpcStatus(Status::NotFound(errors::kMemberNotFound)));
  }
  if (!m.is_learner) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kMemberNotLearner)));
  }
  raftpb::ConfChange cc;
  cc.set_type(raftpb::CONF_CHANGE_ADD_NODE);
  cc.set_node_id(req->id());
  cc.set_context(MemberTable::ToContext(m).SerializeAsString());
  return ProposeMembership(ctx, std::move(cc), resp);
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest* req,
                                                     etcdserverpb::MemberListResponse* resp) {
  if (!req->linearizable()) {
    FillMembers(server_, resp);
    return FinishNow(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  server_->ReadBarrier([this, reactor, resp](Status s) {
    if (s.ok()) FillMembers(server_, resp);
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

}  // namespace capstan::api
