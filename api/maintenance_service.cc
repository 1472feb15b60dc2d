#include "api/maintenance_service.h"

#include "api/propose_and_reply.h"
#include "api/version.h"

namespace capstan::api {

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  if (req->action() == etcdserverpb::AlarmRequest::GET) {
    for (const auto& [member, type] : server_->alarms()->List()) {
      auto* a = resp->add_alarms();
      a->set_memberid(member);
      a->set_alarm(type);
    }
    server_->FillHeader(resp->mutable_header());
    return FinishNow(ctx, grpc::Status::OK);
  }
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  *ireq->mutable_alarm() = *req;
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest*,
                                                     etcdserverpb::StatusResponse* resp) {
  raft::LogStatus ls = server_->LogStatus();
  MvccStore* store = server_->store();
  resp->set_version(kEtcdCompatVersion);
  resp->set_dbsize(store->DbSize());
  resp->set_dbsizeinuse(store->DbSizeInUse());
  resp->set_dbsizequota(server_->options().quota_backend_bytes);
  resp->set_leader(ls.leader_id);
  resp->set_raftindex(ls.commit_index);
  resp->set_raftterm(ls.term);
  resp->set_raftappliedindex(store->AppliedIndex());
  resp->set_islearner(false);
  if (ls.leader_id == 0) resp->add_errors("etcdserver: no leader");
  for (const auto& [member, type] : server_->alarms()->List()) {
    resp->add_errors("memberID:" + std::to_string(member) +
                     " alarm:" + etcdserverpb::AlarmType_Name(type) + " ");
  }
  server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::DefragmentRequest*,
                                                         etcdserverpb::DefragmentResponse* resp) {
  // LMDB reuses freed pages in place, so there is nothing to rewrite; make
  // what is applied durable, which is what an operator expects to have after.
  capstan::Status s = server_->store()->Sync();
  if (s.ok()) server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, ToGrpcStatus(s));
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest*,
                                                   etcdserverpb::HashResponse* resp) {
  uint32_t hash = 0;
  capstan::Status s = server_->store()->Hash(&hash);
  if (s.ok()) {
    resp->set_hash(hash);
    server_->FillHeader(resp->mutable_header());
  }
  return FinishNow(ctx, ToGrpcStatus(s));
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  uint32_t hash = 0;
  int64_t compact_rev = 0, hash_rev = 0;
  capstan::Status s = server_->store()->HashKV(req->revision(), &hash, &compact_rev, &hash_rev);
  if (s.ok()) {
    resp->set_hash(hash);
    resp->set_compact_revision(compact_rev);
    resp->set_hash_revision(hash_rev);
    server_->FillHeader(resp->mutable_header());
  }
  return FinishNow(ctx, ToGrpcStatus(s));
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  if (req->targetid() != server_->member_id()) {
    return FinishNow(ctx, ToGrpcStatus(capstan::Status::FailedPrecondition(
                              "bad leader transferee")));
  }
  server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

}  // namespace capstan::api
