#include "api/maintenance_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "api/propose_and_reply.h"
#include "api/version.h"
#include "storage/etcd_snapshot_writer.h"
#include "storage/sha256.h"

namespace capstan::api {
namespace {

// etcd's snapshotSendBufferSize.
constexpr size_t kSnapshotChunk = 32 * 1024;

// One Snapshot RPC: the snapshot is written to a temporary file on a thread
// of its own (it reads the whole store), then sent from it chunk by chunk,
// each chunk read when the previous one is on its way.
class SnapshotStream final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  explicit SnapshotStream(EtcdServer* server) : server_(server) {
    worker_ = std::thread([this] { Prepare(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot stream broken"));
      return;
    }
    Next();
  }

  void OnDone() override {
    if (worker_.joinable()) {
      if (worker_.get_id() == std::this_thread::get_id()) {
        worker_.detach();
      } else {
        worker_.join();
      }
    }
    if (fd_ >= 0) ::close(fd_);
    delete this;
  }

 private:
  void Prepare() {
    static std::atomic<uint64_t> seq{0};
    // In the data dir: a snapshot is as large as the store, /tmp may be small.
    const std::string path = server_->options().data_dir + "/member/snapshot-" +
                             std::to_string(::getpid()) + "-" + std::to_string(seq++) + ".tmp";
    EtcdSnapshotOptions options;
    for (const MemberInfo& m : server_->Members()) {
      options.members.push_back({m.id, m.name, m.peer_urls, m.client_urls, m.is_learner});
    }
    // Unlinked at once: nothing is left behind, whatever happens next.
    capstan::Status s;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) s = capstan::Status::IOError("create " + path + ": " + std::strerror(errno));
    ::unlink(path.c_str());
    EtcdSnapshotInfo info;
    if (s.ok()) {
      const int write_fd = ::dup(fd_);  // the writer's, closed by it
      s = write_fd < 0 ? capstan::Status::IOError(std::string("dup: ") + std::strerror(errno))
                       : EtcdSnapshotWriter::Write(*server_->store(), options, write_fd, &info);
    }
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    total_ = info.size;
    Next();
  }

  // Starts the next write, or finishes. Nothing may touch members after
  // StartWrite or Finish: OnWriteDone/OnDone may already run elsewhere.
  void Next() {
    if (sent_ < total_) {
      std::string* blob = resp_.mutable_blob();
      blob->resize(static_cast<size_t>(std::min<uint64_t>(kSnapshotChunk, total_ - sent_)));
      size_t got = 0;
      while (got < blob->size()) {
        ssize_t n =
            ::pread(fd_, blob->data() + got, blob->size() - got, static_cast<off_t>(sent_ + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          Finish(grpc::Status(grpc::StatusCode::INTERNAL, "snapshot read failed"));
          return;
        }
        got += static_cast<size_t>(n);
      }
      sha_.Update(*blob);
      sent_ += blob->size();
      resp_.set_remaining_bytes(total_ - sent_);
      StartWrite(&resp_);
    } else if (!digest_sent_) {
      digest_sent_ = true;
      resp_.set_remaining_bytes(0);
      resp_.set_blob(sha_.Finish());
      StartWrite(&resp_);
    } else {
      Finish(grpc::Status::OK);
    }
  }

  EtcdServer* server_;
  std::thread worker_;
  int fd_ = -1;
  uint64_t total_ = 0;
  uint64_t sent_ = 0;
  bool digest_sent_ = false;
  Sha256 sha_;
  etcdserverpb::SnapshotResponse resp_;
};

}  // namespace

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
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
  resp->set_islearner(server_->IsLearner());
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  // LMDB reuses freed pages in place, so there is nothing to rewrite; make
  // what is applied durable, which is what an operator expects to have after.
  // etcd answers with an empty response, header included.
  return FinishNow(ctx, ToGrpcStatus(server_->store()->Sync()));
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest*,
                                                   etcdserverpb::HashResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
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
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
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

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* MaintenanceService::Snapshot(
    grpc::CallbackServerContext*, const etcdserverpb::SnapshotRequest*) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) {
    return RefuseStream<grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>>(g);
  }
  // The gRPC callback API's ownership rule: the reactor frees itself in OnDone.
  return std::make_unique<SnapshotStream>(server_).release();
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // etcd answers with an empty response, header included.
  server_->MoveLeader(req->targetid(),
                      [reactor](capstan::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

}  // namespace capstan::api
