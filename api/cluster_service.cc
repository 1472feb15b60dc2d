#include "api/cluster_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "api/propose_and_reply.h"
#include "api/server_config.h"

namespace capstan::api {
namespace {

// etcd 3.4 allows one learner at a time (membership.maxLearners).
constexpr int kMaxLearners = 1;

// A MemberPromote forwarded to the leader (see ClusterService::MemberPromote).
struct ForwardedPromote {
  std::unique_ptr<etcdserverpb::Cluster::Stub> stub;
  grpc::ClientContext ctx;
  etcdserverpb::MemberPromoteRequest req;
  etcdserverpb::MemberPromoteResponse resp;
};

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
                                                            raftpb::ConfChange cc, Response* resp) {
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  MemberInfo m;
  Status s = ParsePeerUrls(req->peerurls(), &m.peer_urls);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  s = server_->MayAddMember(req->islearner());
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  if (server_->member_table()->PeerUrlsTaken(m.peer_urls, 0)) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kPeerURLExist)));
  }
  m.id = MemberTable::MemberId(m.peer_urls, server_->options().initial_cluster_token);
  m.is_learner = req->islearner();
  if (m.is_learner) {
    int learners = 0;
    for (const MemberInfo& x : server_->Members()) learners += x.is_learner ? 1 : 0;
    if (learners + 1 > kMaxLearners) {
      return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kTooManyLearners)));
    }
  }
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  MemberInfo m;
  // As etcd: the quorum check comes first (an unknown id is found out when
  // the change is applied).
  Status s = server_->MayRemoveMember(req->id());
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  MemberInfo m;
  if (!server_->member_table()->Find(req->id(), &m)) {
    return FinishNow(ctx, ToGrpcStatus(Status::NotFound(errors::kMemberNotFound)));
  }
  if (!m.is_learner) {
    return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kMemberNotLearner)));
  }
  // Only the leader knows whether the learner caught up: etcd refuses to
  // promote one that did not, and a follower asks the leader.
  switch (server_->LearnerProgress(req->id())) {
    case raft::ConsensusLog::LearnerState::kNotReady:
      return FinishNow(ctx, ToGrpcStatus(Status::FailedPrecondition(errors::kLearnerNotReady)));
    case raft::ConsensusLog::LearnerState::kNotLeader:
      return ForwardPromote(ctx, req, resp);
    case raft::ConsensusLog::LearnerState::kReady:
      break;
  }
  raftpb::ConfChange cc;
  cc.set_type(raftpb::CONF_CHANGE_ADD_NODE);
  cc.set_node_id(req->id());
  cc.set_context(MemberTable::ToContext(m).SerializeAsString());
  return ProposeMembership(ctx, std::move(cc), resp);
}

grpc::ServerUnaryReactor* ClusterService::ForwardPromote(
    grpc::CallbackServerContext* ctx, const etcdserverpb::MemberPromoteRequest* req,
    etcdserverpb::MemberPromoteResponse* resp) {
  // etcd forwards to the leader's peer URL (POST /members/promote/<id>);
  // the leader's client URL serves the same request here.
  MemberInfo leader;
  const uint64_t lead = server_->LogStatus().leader_id;
  Url url;
  if (lead == 0 || lead == server_->member_id() || !server_->member_table()->Find(lead, &leader) ||
      leader.client_urls.empty() || !ParseUrl(leader.client_urls.front(), &url).ok()) {
    return FinishNow(ctx, ToGrpcStatus(Status::Unavailable(errors::kNoLeader)));
  }
  if (url.IsTls() || url.IsUnix()) {
    // No client credentials for the leader's TLS listener: propose here,
    // without the readiness check (the conf change itself is safe).
    raftpb::ConfChange cc;
    cc.set_type(raftpb::CONF_CHANGE_ADD_NODE);
    cc.set_node_id(req->id());
    MemberInfo m;
    server_->member_table()->Find(req->id(), &m);
    cc.set_context(MemberTable::ToContext(m).SerializeAsString());
    return ProposeMembership(ctx, std::move(cc), resp);
  }
  auto call = std::make_shared<ForwardedPromote>();
  call->stub = etcdserverpb::Cluster::NewStub(
      grpc::CreateChannel(url.HostPort(), grpc::InsecureChannelCredentials()));
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  call->req = *req;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  call->stub->async()->MemberPromote(
      &call->ctx, &call->req, &call->resp, [this, call, reactor, resp](grpc::Status st) {
        if (st.ok()) {
          // the leader's member list, this member's header (as etcd)
          resp->mutable_members()->Swap(call->resp.mutable_members());
          server_->FillHeaderWithoutRevision(resp->mutable_header());
        }
        reactor->Finish(st);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest* req,
                                                     etcdserverpb::MemberListResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
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
