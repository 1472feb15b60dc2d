#include "api/etcd_server.h"

#include <pthread.h>

#include <utility>  // before asio (Boost 1.74 with C++20)

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>

#include "api/etcd_errors.h"
#include "raft/raft_node.h"
#include "raft/single_node_log.h"
#include "raft/wal.h"
#include "storage/durable_file.h"
#include "storage/etcd_data_dir.h"
#include "storage/private_files.h"
#include "storage/revision.h"
#include "storage/varint.h"

namespace capstan::api {
namespace {

constexpr std::string_view kMemberIdKey = "member_id";
constexpr std::string_view kClusterIdKey = "cluster_id";
// In the member dir once the member runs a Raft log (see SwitchToRaft).
constexpr const char* kRaftMarker = "raft";

Status WriteMarker(const std::string& path) { return WriteFileDurably(path, ""); }
// The store is synced (and the WAL released) after this many entries or this long.
constexpr uint64_t kSyncEveryEntries = 10000;
constexpr auto kSyncEvery = std::chrono::seconds(5);

// The request id is field 1 of InternalRequest, first on the wire.
bool PeekRequestId(const std::string& data, uint64_t* id) {
  if (data.empty() || static_cast<unsigned char>(data[0]) != 0x08) return false;
  std::string_view rest(data);
  rest.remove_prefix(1);
  return GetVarint(&rest, id);
}

uint64_t LoadOrStoreId(MvccStore* store, std::string_view key, uint64_t fresh) {
  std::string v;
  if (store->GetAux(Table::kMeta, key, &v).ok() && v.size() == 8) return GetBigEndian64(v.data());
  auto batch = store->NewBatch();
  std::string enc(8, '\0');
  PutBigEndian64(enc.data(), fresh);
  batch->PutAux(Table::kMeta, key, enc);
  batch->Commit();
  return fresh;
}

// Creates the data dir (and the WAL dir's parent) private, and makes private
// whatever an earlier version or an operator left readable by others: the
// files hold every value, Secrets included. etcd only warns ("check file
// permission"); this fixes, and refuses to start if it cannot.
Status PrepareDirs(const EtcdServerOptions& options) {
  const std::string member_dir = options.data_dir + "/member";
  std::vector<std::string> dirs = {options.data_dir};
  Status s = CreatePrivateDirs(member_dir);
  if (s.ok() && !options.wal_dir.empty()) {
    const std::string parent = std::filesystem::path(options.wal_dir).parent_path().string();
    if (!parent.empty()) s = CreatePrivateDirs(parent);
    std::error_code ec;
    if (s.ok() && std::filesystem::exists(options.wal_dir, ec)) dirs.push_back(options.wal_dir);
  }
  if (!s.ok()) return Status::IOError("cannot create " + member_dir + ": " + s.ToString());
  for (const std::string& dir : dirs) {
    std::vector<std::string> fixed;
    s = TightenPermissions(dir, &fixed);
    for (const std::string& f : fixed) {
      spdlog::warn(
          "{} was accessible to other users; changed to owner-only (directories 0700, files 0600)",
          f);
    }
    if (!s.ok()) {
      return Status::FailedPrecondition(
          "refusing to start: " + dir + " holds files other users can access, and " + s.ToString() +
          "; make it private (chmod -R go= " + dir + ") or run as its owner");
    }
  }
  return Status::OK();
}

}  // namespace

struct EtcdServer::ReadPool {
  explicit ReadPool(size_t threads) : pool(threads) {}
  boost::asio::thread_pool pool;
};

Status EtcdServer::Start(const EtcdServerOptions& options, std::unique_ptr<EtcdServer>* out) {
  std::unique_ptr<EtcdServer> srv(new EtcdServer());
  srv->options_ = options;
  const std::string member_dir = options.data_dir + "/member";
  std::error_code ec;
  Status s = PrepareDirs(options);
  if (!s.ok()) return s;

  StoreOptions store_options;
  // LMDB's map is address space; leave room above the quota for the alarm.
  store_options.map_size =
      std::max<size_t>(size_t{64} << 30, static_cast<size_t>(options.quota_backend_bytes) * 2);
  store_options.sync_fault = options.store_sync_fault;
  // Migration from etcd: an etcd data dir or snapshot becomes the store. The
  // store's applied index is then etcd's, and the log starts after it.
  EtcdDataDir::Result imported;
  s = EtcdDataDir::PrepareStore(options.data_dir, options.initial_snapshot, store_options,
                                &imported);
  if (!s.ok()) return s;
  if (imported.imported) {
    const EtcdImportInfo& i = imported.info;
    std::string msg = "imported etcd data from " + imported.source + ": revision " +
                      std::to_string(i.revision) + ", compacted at " +
                      std::to_string(i.compact_revision) + ", " + std::to_string(i.revisions) +
                      " revisions, " + std::to_string(i.leases) + " leases, applied index " +
                      std::to_string(i.applied_index);
    if (!imported.backup_dir.empty()) msg += "; etcd's files moved to " + imported.backup_dir;
    fprintf(stderr, "capstan: %s\n", msg.c_str());
    if (i.auth_enabled || i.auth_users > 0) {
      fprintf(stderr,
              "capstan: warning: the etcd data has auth users/roles, which Capstan "
              "does not serve yet: they were not imported\n");
    }
  } else if (imported.snapshot_ignored) {
    fprintf(stderr, "capstan: %s holds data: --initial-snapshot ignored\n",
            options.data_dir.c_str());
  }
  s = MvccStore::Open(member_dir + "/db", store_options, &srv->store_);
  if (!s.ok()) return s;

  // Identities are derived from --initial-cluster the same way on every
  // member, once, at the first start, and kept in the store.
  std::vector<MemberInfo> initial;
  std::vector<uint64_t> ids;
  uint64_t self_id = MemberTable::MemberId(options.peer_urls, options.initial_cluster_token);
  for (const auto& im : options.initial_members) {
    MemberInfo m;
    m.id = MemberTable::MemberId(im.peer_urls, options.initial_cluster_token);
    m.peer_urls = im.peer_urls;
    if (im.name == options.name) {
      self_id = m.id;
      m.name = im.name;
      m.client_urls = options.client_urls;
    }
    ids.push_back(m.id);
    initial.push_back(std::move(m));
  }
  if (initial.empty()) {
    MemberInfo self;
    self.id = self_id;
    self.name = options.name;
    self.peer_urls = options.peer_urls;
    self.client_urls = options.client_urls;
    ids.push_back(self_id);
    initial.push_back(self);
  }
  srv->member_id_ = LoadOrStoreId(srv->store_.get(), kMemberIdKey, self_id);
  uint64_t cluster_id = MemberTable::ClusterId(ids);
  std::string stored;
  if (!options.new_cluster && !srv->store_->GetAux(Table::kMeta, kClusterIdKey, &stored).ok()) {
    // Joining an existing cluster: its id comes from its members, as etcd
    // asks them, since this member's --initial-cluster lists a later membership.
    std::vector<std::string> peers;
    for (const MemberInfo& m : initial) {
      if (m.id == self_id) continue;
      raftpb::MemberContext c;
      for (const auto& u : m.peer_urls) c.add_peer_urls(u);
      for (auto& a : raft::RaftNode::PeerAddresses(c)) peers.push_back(std::move(a));
    }
    s = raft::PeerTransport::FetchClusterId(peers, std::chrono::seconds(10), &cluster_id,
                                            options.peer_tls);
    if (!s.ok()) return s;
  }
  srv->cluster_id_ = LoadOrStoreId(srv->store_.get(), kClusterIdKey, cluster_id);
  s = srv->members_.Load(srv->store_.get(), initial);
  if (!s.ok()) return s;
  // The identities above are written outside the log: make them durable.
  s = srv->store_->Sync();
  if (!s.ok()) return s;
  srv->alarms_.Load(*srv->store_);
  srv->applier_ = std::make_unique<Applier>(srv->store_.get(), &srv->alarms_, &srv->members_);
  // watch hub (issue 3): told about every committed batch by ApplyEntries.
  watch::WatchHubOptions watch_options;
  watch_options.progress_notify_interval = options.watch_progress_notify_interval;
  watch_options.max_response_bytes = static_cast<size_t>(options.max_request_bytes);
  srv->watch_hub_ = std::make_unique<watch::WatchHub>(srv->store_.get(), watch_options);
  srv->watch_hub_->Start();

  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  srv->next_id_ =
      ((srv->member_id_ & 0xffff) << 48) | ((static_cast<uint64_t>(now_ms) & 0xffffffffff) << 8);

  // A member runs Raft once its cluster has (or had) more than one member;
  // the marker file remembers a one-member log that was replaced, since
  // --initial-cluster still names one member then.
  const bool was_raft = std::filesystem::exists(member_dir + "/" + kRaftMarker);
  srv->clustered_ =
      initial.size() > 1 || !options.new_cluster || was_raft || srv->members_.List().size() > 1;
  std::filesystem::remove_all(srv->WalDir() + ".single", ec);  // an interrupted switch
  uint64_t start_index = 0;
  if (srv->clustered_ && !raft::Wal::Exists(srv->WalDir()) && srv->store_->AppliedIndex() > 0) {
    if (!options.new_cluster && !was_raft) {
      // Joining an existing cluster: its leader's state replaces ours anyway,
      // and a member with data of its own is more likely a mistake.
      return Status::FailedPrecondition(
          "this data dir holds data but no Raft log: a member joining an existing cluster "
          "(--initial-cluster-state existing) must start with an empty data dir");
    }
    // Data without a log (an imported snapshot, on every member alike, or a
    // one-member log replaced by a Raft log): the log starts after it.
    start_index = srv->store_->AppliedIndex();
  }
  if (srv->clustered_) {
    srv->logs_.push_back(
        std::make_unique<raft::RaftNode>(srv->RaftOptions(start_index, options.new_cluster)));
    if (!was_raft) {
      s = WriteMarker(member_dir + "/" + kRaftMarker);
      if (!s.ok()) return s;
    }
  } else {
    srv->logs_.push_back(std::make_unique<raft::SingleNodeLog>(srv->SingleNodeOptions()));
  }
  srv->log_.store(srv->logs_.back().get());

  srv->read_pool_ =
      std::make_unique<ReadPool>(std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 8));
  EtcdServer* raw = srv.get();
  srv->apply_thread_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "cap-apply");
    raw->ApplyLoop();
  });
  srv->checkpoint_thread_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "cap-checkpoint");
    raw->CheckpointLoop();
  });
  srv->last_sync_index_ = srv->store_->AppliedIndex();
  srv->last_sync_time_ = std::chrono::steady_clock::now();
  s = srv->log()->Start(srv->store_->AppliedIndex(),
                        [raw](std::vector<raftpb::Entry> e) { raw->OnCommitted(std::move(e)); });
  if (!s.ok()) {
    srv->Stop();
    return s;
  }
  // Serve only once the entries the log replayed are applied, so that even
  // serializable reads after a restart see every acknowledged write.
  if (!srv->clustered_) {
    std::promise<void> replayed;
    srv->ReadBarrier([&](Status) { replayed.set_value(); });
    replayed.get_future().wait();
  }
  srv->lease_thread_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "cap-lease");
    raw->LeaseLoop();
  });
  if (options.auto_compaction_period.count() > 0) {
    srv->auto_compactor_ = AutoCompactor::Periodic(options.auto_compaction_period);
  } else if (options.auto_compaction_revisions > 0) {
    srv->auto_compactor_ = AutoCompactor::Revisions(options.auto_compaction_revisions);
  }
  if (srv->auto_compactor_) {
    srv->auto_compactor_->Start([raw] { return raw->store_->CurrentRevision(); },
                                [raw](int64_t rev) {
                                  auto req = std::make_shared<internalpb::InternalRequest>();
                                  req->mutable_compaction()->set_revision(rev);
                                  raw->Propose(std::move(req), nullptr, [](Status) {});
                                });
  }
  *out = std::move(srv);
  return Status::OK();
}

EtcdServer::~EtcdServer() { Stop(); }

void EtcdServer::Stop() {
  if (auto_compactor_) auto_compactor_->Stop();
  {
    std::lock_guard l(lease_mu_);
    lease_stopping_ = true;
  }
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  CheckLeaderWaits(true);
  CheckpointAllLeases();
  for (auto& l : logs_) l->Stop();
  {
    std::lock_guard l(apply_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  apply_cv_.notify_all();
  if (apply_thread_.joinable()) apply_thread_.join();
  {
    std::lock_guard l(checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  reads_stopped_.store(true, std::memory_order_release);
  if (read_pool_) read_pool_->pool.join();  // the reads already handed over finish
  if (watch_hub_) watch_hub_->Stop();       // watch hub (issue 3)
  // Nothing will apply what is still waiting.
  std::unordered_map<uint64_t, Pending> pending;
  {
    std::lock_guard l(pending_mu_);
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p.done(Status::Unavailable(errors::kStopped));
  std::multimap<uint64_t, Done> readers;
  {
    std::lock_guard l(read_mu_);
    readers.swap(read_waiters_);
  }
  for (auto& [i, d] : readers) d(Status::Unavailable(errors::kStopped));
  if (store_) store_->Sync();
}

void EtcdServer::Propose(std::shared_ptr<internalpb::InternalRequest> req,
                         google::protobuf::Message* response, Done done) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  req->set_id(id);
  std::string data = req->SerializeAsString();
  if (static_cast<int64_t>(data.size()) > options_.max_request_bytes) {
    done(Status::InvalidArgument(errors::kRequestTooLarge));
    return;
  }
  {
    std::lock_guard l(pending_mu_);
    pending_.emplace(
        id, Pending{std::move(req), response, std::move(done), std::chrono::steady_clock::now()});
  }
  Status s = log()->Propose(std::move(data));
  if (!s.ok()) Complete(id, s);  // unless applied after all
}

void EtcdServer::ReadBarrier(Done done) {
  log()->ReadIndex([this, done = std::move(done)](Status s, uint64_t index) mutable {
    if (!s.ok()) {
      done(s);
      return;
    }
    {
      std::lock_guard l(read_mu_);
      if (store_->AppliedIndex() < index) {
        read_waiters_.emplace(index, std::move(done));
        return;
      }
    }
    RunRead(std::move(done));
  });
}

void EtcdServer::RunRead(Done done) {
  if (!read_pool_) {  // not started yet: run it here
    done(Status::OK());
    return;
  }
  if (reads_stopped_.load(std::memory_order_acquire)) {
    done(Status::Unavailable(errors::kStopped));
    return;
  }
  boost::asio::post(read_pool_->pool, [done = std::move(done)]() mutable { done(Status::OK()); });
}

Status EtcdServer::CheckQuota(int64_t cost) {
  if (alarms_.Has(etcdserverpb::NOSPACE)) return Status::ResourceExhausted(errors::kNoSpace);
  const int64_t quota = options_.quota_backend_bytes;
  if (store_->DbSize() + cost <= quota) return Status::OK();
  if (store_->DbSizeInUse() + cost <= quota) return Status::OK();
  // Raise the alarm through the log, as etcd does, so every member sees it,
  // and wait for it: a client that gets NOSPACE must find the alarm listed.
  auto req = std::make_shared<internalpb::InternalRequest>();
  auto* alarm = req->mutable_alarm();
  alarm->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  alarm->set_memberid(member_id_);
  alarm->set_alarm(etcdserverpb::NOSPACE);
  auto resp = std::make_shared<etcdserverpb::AlarmResponse>();
  auto raised = std::make_shared<std::promise<void>>();
  Propose(req, resp.get(), [resp, raised](Status) { raised->set_value(); });
  raised->get_future().wait_for(std::chrono::seconds(5));
  return Status::ResourceExhausted(errors::kNoSpace);
}

void EtcdServer::FillHeaderWithoutRevision(etcdserverpb::ResponseHeader* h) const {
  h->set_cluster_id(cluster_id_);
  h->set_member_id(member_id_);
  h->set_raft_term(log()->GetStatus().term);
}

void EtcdServer::FillHeader(etcdserverpb::ResponseHeader* h) const {
  FillHeaderWithoutRevision(h);
  if (h->revision() == 0) h->set_revision(store_->CurrentRevision());
}

void EtcdServer::FillHeader(etcdserverpb::ResponseHeader* h, int64_t revision) const {
  h->set_revision(revision);
  FillHeader(h);
}

void EtcdServer::OnCommitted(std::vector<raftpb::Entry> entries) {
  {
    std::lock_guard l(apply_mu_);
    if (apply_queue_.empty()) {
      apply_queue_ = std::move(entries);
    } else {
      apply_queue_.insert(apply_queue_.end(), std::make_move_iterator(entries.begin()),
                          std::make_move_iterator(entries.end()));
    }
  }
  apply_cv_.notify_one();
}

void EtcdServer::ApplyLoop() {
  std::vector<raftpb::Entry> entries;
  std::vector<std::function<void()>> tasks;
  while (true) {
    {
      std::unique_lock l(apply_mu_);
      apply_cv_.wait(l,
                     [&] { return stopping_ || !apply_queue_.empty() || !apply_tasks_.empty(); });
      if (apply_queue_.empty() && apply_tasks_.empty()) return;  // stopping, and drained
      entries.swap(apply_queue_);
      tasks.swap(apply_tasks_);
    }
    // A task was queued after every entry taken with it (the log thread
    // waits for its task), so entries go first.
    if (!entries.empty()) ApplyEntries(entries);
    entries.clear();
    for (auto& t : tasks) t();
    tasks.clear();
  }
}

std::string EtcdServer::WalDir() const {
  return options_.wal_dir.empty() ? options_.data_dir + "/member/wal" : options_.wal_dir;
}

raft::SingleNodeLogOptions EtcdServer::SingleNodeOptions() const {
  raft::SingleNodeLogOptions o;
  o.wal_dir = WalDir();
  o.member_id = member_id_;
  o.wal.segment_size = options_.wal_segment_bytes;
  return o;
}

raft::RaftNodeOptions EtcdServer::RaftOptions(uint64_t start_index, bool bootstrap) {
  const std::string member_dir = options_.data_dir + "/member";
  raft::RaftNodeOptions ro;
  ro.member_id = member_id_;
  ro.cluster_id = cluster_id_;
  ro.wal_dir = WalDir();
  ro.wal.segment_size = options_.wal_segment_bytes;
  ro.listen_peer_addresses = options_.listen_peer_addresses;
  ro.peer_tls = options_.peer_tls;
  for (const MemberInfo& m : members_.List())
    ro.initial_members.push_back(MemberTable::ToContext(m));
  ro.bootstrap = bootstrap;
  ro.start_index = start_index;
  ro.start_term = store_->AppliedTerm();
  ro.tick = std::chrono::milliseconds(options_.heartbeat_ms);
  ro.election_ticks = std::max(2, options_.election_ms / std::max(1, options_.heartbeat_ms));
  ro.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  ro.snap_dir = member_dir + "/snap";
  ro.snapshot_count = std::max<uint64_t>(1, options_.snapshot_count);
  ro.snapshot_catchup_entries = options_.snapshot_catchup_entries;
  ro.save_snapshot = [this](const std::string& path) { return SaveSnapshotFile(path); };
  ro.restore_snapshot = [this](const std::string& path, uint64_t index,
                               std::vector<raftpb::MemberContext>* members) {
    return RestoreSnapshotFile(path, index, members);
  };
  ro.on_dropped = [this](std::string_view head, const Status& why) {
    // Fail its client at once with etcd's error for the cause.
    uint64_t id = 0;
    if (!PeekRequestId(std::string(head), &id)) return;
    const bool no_leader = why.message().find("no leader") != std::string::npos;
    Complete(id, Status::Unavailable(no_leader ? errors::kNoLeader : errors::kLeaderChanged));
  };
  return ro;
}

Status EtcdServer::SwitchToRaft() {
  std::lock_guard sl(switch_mu_);
  if (clustered_) return Status::OK();
  fprintf(stderr, "capstan: the cluster grows: replacing the one-member log with a Raft log\n");
  const std::string member_dir = options_.data_dir + "/member";
  raft::ConsensusLog* single = log();
  // 1. No more commits; everything committed applied and durable in the store.
  single->Stop();
  std::promise<void> drained;
  {
    std::lock_guard l(apply_mu_);
    apply_tasks_.push_back([&] { drained.set_value(); });
  }
  apply_cv_.notify_one();
  drained.get_future().wait();
  Status s = store_->Sync();
  if (!s.ok()) return s;
  // 2. The old log is not needed any more (a crash from here on restarts a
  // one-member log from the store, as after an import).
  std::error_code ec;
  std::filesystem::rename(WalDir(), WalDir() + ".single", ec);
  if (ec) return Status::IOError("moving the one-member log aside: " + ec.message());
  // 3. A Raft log that starts with a snapshot of the store, with this member
  // as its only voter; it elects itself.
  auto node = std::make_unique<raft::RaftNode>(RaftOptions(store_->AppliedIndex(), false));
  s = node->Start(store_->AppliedIndex(),
                  [this](std::vector<raftpb::Entry> e) { OnCommitted(std::move(e)); });
  if (s.ok()) s = WriteMarker(member_dir + "/" + kRaftMarker);
  if (!s.ok()) {
    node->Stop();
    std::filesystem::remove_all(WalDir(), ec);
    std::filesystem::rename(WalDir() + ".single", WalDir(), ec);
    auto restarted = std::make_unique<raft::SingleNodeLog>(SingleNodeOptions());
    Status rs = restarted->Start(store_->AppliedIndex(), [this](std::vector<raftpb::Entry> e) {
      OnCommitted(std::move(e));
    });
    if (rs.ok()) {
      logs_.push_back(std::move(restarted));
      log_.store(logs_.back().get(), std::memory_order_release);
    } else {
      fprintf(stderr, "capstan: restarting the one-member log failed too: %s\n",
              rs.ToString().c_str());
    }
    return Status::Unavailable("cannot start the Raft log: " + s.ToString());
  }
  std::filesystem::remove_all(WalDir() + ".single", ec);
  logs_.push_back(std::move(node));
  log_.store(logs_.back().get(), std::memory_order_release);
  clustered_ = true;
  // A membership change needs a leader: wait for the election.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.election_ms * 5 + 1000);
  while (log()->GetStatus().leader_id != member_id_ &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::OK();
}

namespace {
// etcd's HealthInterval: a peer counts as connected after this long.
constexpr auto kPeerHealthInterval = std::chrono::seconds(5);
}  // namespace

Status EtcdServer::MayAddMember(bool is_learner) const {
  const std::vector<MemberInfo> members = members_.List();
  const auto since = std::chrono::steady_clock::now() - kPeerHealthInterval;
  int voters = 1, started = 0;  // counting the one being added
  for (const MemberInfo& m : members) {
    if (m.is_learner) continue;
    voters++;
    if (!m.name.empty()) started++;  // a member is started once it published its name
  }
  // Adding a second member to a one-member cluster is allowed (etcd's
  // restore-a-cluster path); otherwise the started members must still make
  // a quorum of the larger cluster.
  if (!is_learner && !(started == 1 && voters == 2) && started < voters / 2 + 1) {
    return Status::FailedPrecondition(errors::kNotEnoughStartedMembers);
  }
  for (const MemberInfo& m : members) {
    if (m.is_learner || m.id == member_id_) continue;
    auto active = log()->PeerActiveSince(m.id);
    if (!active || *active > since) return Status::Unavailable(errors::kUnhealthy);
  }
  return Status::OK();
}

Status EtcdServer::MayRemoveMember(uint64_t id) const {
  const std::vector<MemberInfo> members = members_.List();
  int voters = 0, started = 0;
  for (const MemberInfo& m : members) {
    if (m.id == id && m.is_learner) return Status::OK();  // no quorum to protect
    if (m.is_learner || m.id == id) continue;
    voters++;
    if (!m.name.empty()) started++;
  }
  if (started < voters / 2 + 1) return Status::FailedPrecondition(errors::kNotEnoughStartedMembers);
  // A member that is down is not part of the active quorum: safe to remove.
  if (id != member_id_ && !log()->PeerActiveSince(id)) return Status::OK();
  const auto since = std::chrono::steady_clock::now() - kPeerHealthInterval;
  int all_voters = 0, active = 0;
  for (const MemberInfo& m : members) {
    if (m.is_learner) continue;
    all_voters++;
    auto a = m.id == member_id_ ? std::optional(since) : log()->PeerActiveSince(m.id);
    if (a && *a <= since) active++;
  }
  if (active - 1 < 1 + (all_voters - 1) / 2) return Status::Unavailable(errors::kUnhealthy);
  return Status::OK();
}

Status EtcdServer::SaveSnapshotFile(const std::string& path) const {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + path + ": " + std::strerror(errno));
  Status s = store_->CopyTo(fd);
  close(fd);
  return s;
}

Status EtcdServer::RestoreSnapshotFile(const std::string& path, uint64_t index,
                                       std::vector<raftpb::MemberContext>* members) {
  std::promise<Status> done;
  auto task = [&] {
    // Tests: makes an install that copies the store this much slower
    // (failpoint; a large store takes as long to copy).
    static const long delay_ms = [] {
      const char* v = std::getenv("CAPSTAN_FAILPOINT_SNAPSHOT_INSTALL_DELAY_MS");
      return v != nullptr ? std::atol(v) : 0L;
    }();
    if (delay_ms > 0 && store_->AppliedIndex() < index) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    Status s = store_->ReplaceWith(path, {std::string(kMemberIdKey)});
    if (s.ok() && store_->AppliedIndex() < index) {
      s = Status::Corruption("the snapshot's store covers index " +
                             std::to_string(store_->AppliedIndex()) + ", not " +
                             std::to_string(index));
    }
    if (s.ok()) s = members_.Load(store_.get(), {});
    if (!s.ok()) {
      done.set_value(s);
      return;
    }
    alarms_.Load(*store_);
    last_sync_index_ = store_->AppliedIndex();
    // Watchers catch up on the revisions the snapshot skipped from storage.
    watch_hub_->Resync(store_->CurrentRevision());
    ReleaseReads(store_->AppliedIndex());
    for (const MemberInfo& m : members_.List()) members->push_back(MemberTable::ToContext(m));
    done.set_value(Status::OK());
  };
  {
    std::lock_guard l(apply_mu_);
    if (stopping_) return Status::Unavailable(errors::kStopped);
    apply_tasks_.push_back(task);
  }
  apply_cv_.notify_one();
  return done.get_future().get();
}

void EtcdServer::ApplyEntries(std::vector<raftpb::Entry>& entries) {
  // After a restart the log may hand back entries the store already holds.
  const uint64_t already = store_->AppliedIndex();
  std::erase_if(entries, [already](const raftpb::Entry& e) { return e.index() <= already; });
  if (entries.empty()) return;
  auto batch = store_->NewBatch();
  std::vector<Completion> completions;
  completions.reserve(entries.size());
  internalpb::InternalRequest parsed;
  uint64_t noop_term = 0;
  for (const raftpb::Entry& e : entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      raftpb::ConfChange cc;
      if (!cc.ParseFromString(e.data())) continue;
      members_.ApplyConfChange(batch.get(), cc);
      if (cc.type() == raftpb::CONF_CHANGE_REMOVE_NODE && cc.node_id() == member_id_) {
        // As etcd: a member removed from the cluster stops serving. The main
        // thread waits for SIGTERM to shut down cleanly.
        fprintf(stderr, "capstan: the member has been permanently removed from the cluster\n");
        kill(getpid(), SIGTERM);
      }
      std::lock_guard l(pending_mu_);
      if (auto it = pending_.find(cc.id()); cc.id() != 0 && it != pending_.end()) {
        completions.push_back(Completion{std::move(it->second.done), ApplyResult{}});
        pending_.erase(it);
      }
      continue;
    }
    if (e.type() == raftpb::ENTRY_NORMAL && e.data().empty()) {
      // A new leader's first entry: everything of earlier terms is applied
      // once it is (the lessor may be promoted, see FollowLeadership).
      noop_term = e.term();
      continue;
    }
    if (e.type() != raftpb::ENTRY_NORMAL) continue;
    uint64_t id = 0;
    Pending p{nullptr, nullptr, nullptr, {}};
    if (PeekRequestId(e.data(), &id)) {
      std::lock_guard l(pending_mu_);
      auto it = pending_.find(id);
      if (it != pending_.end()) {
        p = std::move(it->second);
        pending_.erase(it);
      }
    }
    const internalpb::InternalRequest* req = p.req.get();
    if (req == nullptr) {
      if (!parsed.ParseFromString(e.data())) {
        fprintf(stderr, "capstan: skipping unreadable log entry %llu\n",
                static_cast<unsigned long long>(e.index()));
        continue;
      }
      req = &parsed;
    }
    ApplyResult result =
        applier_->Apply(*req, batch.get(), p.response, Applier::LogPosition{e.index(), e.term()});
    if (result.status.IsCorruption()) {
      fprintf(stderr, "capstan: fatal: apply of entry %llu failed: %s\n",
              static_cast<unsigned long long>(e.index()), result.status.ToString().c_str());
      std::abort();
    }
    if (p.done) completions.push_back(Completion{std::move(p.done), std::move(result)});
  }
  batch->SetApplied(entries.back().index(), entries.back().term());
  Status s = batch->Commit();
  if (!s.ok()) {
    fprintf(stderr, "capstan: fatal: store commit failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  if (noop_term != 0) noop_applied_term_.store(noop_term);
  // watch hub (issue 3): before replying, so a client that saw its write
  // applied and then watches from "now" does not get it again.
  watch_hub_->Notify(batch->events(), store_->CurrentRevision());
  std::vector<Completion> replies;
  replies.reserve(completions.size());
  for (Completion& c : completions) {
    if (c.result.status.ok() && c.result.wait_compacted > 0) {
      store_->OnCompacted(c.result.wait_compacted,
                          [done = std::move(c.done)] { done(Status::OK()); });
    } else {
      replies.push_back(std::move(c));
    }
  }
  Reply(std::move(replies));
  const uint64_t applied = entries.back().index();
  ReleaseReads(applied);
  MaybeSync(applied);
}

void EtcdServer::Reply(std::vector<Completion> replies) {
  // Sending a reply (gRPC's write and the TCP send) costs several times what
  // applying it did; on the apply thread it would hold up the next batch and
  // keep every send of a batch on one core. The pool sends them, a slice per
  // task, so a large batch spreads over its threads for one wake-up each.
  // A few replies go out here: a hand-off would cost a lone client more
  // latency (a thread wake-up) than the sends cost the apply thread.
  constexpr size_t kPerTask = 64;
  constexpr size_t kInline = 4;
  if (replies.empty()) return;
  if (replies.size() <= kInline || !read_pool_ || reads_stopped_.load(std::memory_order_acquire)) {
    for (Completion& c : replies) c.done(c.result.status);
    return;
  }
  const size_t tasks = (replies.size() + kPerTask - 1) / kPerTask;
  auto shared = std::make_shared<std::vector<Completion>>(std::move(replies));
  for (size_t t = 0; t < tasks; ++t) {
    boost::asio::post(read_pool_->pool, [shared, t] {
      const size_t end = std::min(shared->size(), (t + 1) * kPerTask);
      for (size_t i = t * kPerTask; i < end; ++i) {
        Completion& c = (*shared)[i];
        c.done(c.result.status);
      }
    });
  }
}

void EtcdServer::ReleaseReads(uint64_t applied) {
  std::vector<Done> ready;
  {
    std::lock_guard l(read_mu_);
    auto end = read_waiters_.upper_bound(applied);
    for (auto it = read_waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    read_waiters_.erase(read_waiters_.begin(), end);
  }
  for (Done& d : ready) RunRead(std::move(d));
}

void EtcdServer::ProposeConfChange(raftpb::ConfChange cc, Done done) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  cc.set_id(id);
  {
    std::lock_guard l(pending_mu_);
    pending_.emplace(id,
                     Pending{nullptr, nullptr, std::move(done), std::chrono::steady_clock::now()});
  }
  Status s = clustered_ ? Status::OK() : SwitchToRaft();
  if (s.ok()) s = log()->ProposeConfChange(cc);
  if (!s.ok()) Complete(id, s);
}

void EtcdServer::Complete(uint64_t id, Status status) {
  Done d;
  {
    std::lock_guard l(pending_mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    d = std::move(it->second.done);
    pending_.erase(it);
  }
  d(status);
}

void EtcdServer::MoveLeader(uint64_t target, Done done) {
  const raft::LogStatus ls = log()->GetStatus();
  if (ls.leader_id != member_id_) {
    done(Status::FailedPrecondition(errors::kNotLeader));
    return;
  }
  MemberInfo m;
  if (!members_.Find(target, &m) || m.is_learner) {
    done(Status::FailedPrecondition(errors::kBadLeaderTransferee));
    return;
  }
  if (target == member_id_) {
    done(Status::OK());
    return;
  }
  Status s = log()->TransferLeadership(target);
  if (!s.ok()) {
    done(s);
    return;
  }
  std::lock_guard l(lease_mu_);
  leader_waits_.push_back(LeaderWait{
      target,
      std::chrono::steady_clock::now() + 5 * std::chrono::milliseconds(options_.election_ms),
      std::move(done)});
}

void EtcdServer::CheckLeaderWaits(bool stopping) {
  std::vector<std::pair<Done, Status>> ready;
  {
    std::lock_guard l(lease_mu_);
    const uint64_t leader = log() ? log()->GetStatus().leader_id : 0;
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(leader_waits_, [&](LeaderWait& w) {
      if (stopping) {
        ready.emplace_back(std::move(w.done), Status::Unavailable(errors::kStopped));
      } else if (leader == w.target) {
        ready.emplace_back(std::move(w.done), Status::OK());
      } else if (now > w.deadline) {
        ready.emplace_back(std::move(w.done),
                           Status::Unavailable("request timed out, leader transfer took too long"));
      } else {
        return false;
      }
      return true;
    });
  }
  for (auto& [d, s] : ready) d(s);
}

void EtcdServer::CheckpointAllLeases() {
  // On a clean stop the leader persists every remaining TTL, so a restart
  // continues exactly where it stopped.
  if (!log() || !store_ || log()->GetStatus().leader_id != member_id_) return;
  auto remaining = store_->lessor()->Remaining();
  if (remaining.empty()) return;
  auto req = std::make_shared<internalpb::InternalRequest>();
  for (auto [id, ttl] : remaining) {
    auto* c = req->mutable_lease_checkpoint()->add_checkpoints();
    c->set_id(id);
    c->set_remaining_ttl(ttl);
  }
  auto done = std::make_shared<std::promise<void>>();
  Propose(std::move(req), nullptr, [done](Status) { done->set_value(); });
  done->get_future().wait_for(std::chrono::seconds(2));
}

void EtcdServer::ExpirePending(const raft::LogStatus& ls) {
  // etcd's request timeout: 5 s plus two election timeouts.
  const auto election = std::chrono::milliseconds(options_.election_ms);
  const auto timeout = std::chrono::seconds(5) + 2 * election;
  const auto now = std::chrono::steady_clock::now();
  if (ls.term != pending_term_) {
    pending_term_ = ls.term;
    term_changed_at_ = now;
  }
  // A proposal made before the current term began and still not applied an
  // election timeout after the new leader's first entry was: it was lost with
  // the old leader (or forwarded into the void).
  const bool settled = clustered_ && ls.leader_id != 0 && noop_applied_term_.load() == ls.term &&
                       now - term_changed_at_ > election;
  std::vector<std::pair<Done, Status>> expired;
  {
    std::lock_guard l(pending_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second.since > timeout) {
        expired.emplace_back(std::move(it->second.done), Status::Unavailable(errors::kTimeout));
      } else if (settled && it->second.since < term_changed_at_) {
        expired.emplace_back(std::move(it->second.done),
                             Status::Unavailable(errors::kLeaderChanged));
      } else {
        ++it;
        continue;
      }
      it = pending_.erase(it);
    }
  }
  for (auto& [d, s] : expired) d(s);
}

void EtcdServer::KeepAlive(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done) {
  resp->set_id(id);
  if (!clustered_) {
    int64_t ttl = 0;
    // An unknown or expired lease is answered with TTL 0, not an error.
    if (!store_->lessor()->Renew(id, &ttl).ok()) ttl = 0;
    resp->set_ttl(ttl);
    done(Status::OK());
    return;
  }
  const uint64_t term = lease_primary_term_.load();
  if (term == 0) {
    ProposeRenewal(id, resp, std::move(done));
    return;
  }
  // A leader may have been deposed without knowing it yet: it answers only
  // once a quorum confirmed it still leads, so a deposed leader's answers
  // stop. The renewal is made after the confirmation.
  log()->ConfirmLeadership(
      [this, id, resp, term, done = std::move(done)](Status s, uint64_t) mutable {
        auto answer = [this, s, id, resp, term, done = std::move(done)]() mutable {
          if (!s.ok() || lease_primary_term_.load() != term) {
            ProposeRenewal(id, resp, std::move(done));
            return;
          }
          int64_t ttl = 0;
          if (store_->lessor()->Renew(id, &ttl).ok()) {
            std::lock_guard l(renewals_mu_);
            renewals_.insert(id);
          } else {
            ttl = 0;
          }
          resp->set_ttl(ttl);
          done(Status::OK());
        };
        // Called on the Raft thread: answer from the pool.
        if (read_pool_ && !reads_stopped_.load(std::memory_order_acquire)) {
          boost::asio::post(read_pool_->pool, std::move(answer));
        } else {
          answer();
        }
      });
}

void EtcdServer::ProposeRenewal(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done) {
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  ireq->mutable_lease_renew()->set_id(id);
  Propose(std::move(ireq), resp, std::move(done));
}

void EtcdServer::FollowLeadership(const raft::LogStatus& ls) {
  Lessor* lessor = store_->lessor();
  const bool leads = ls.leader_id == member_id_;
  const uint64_t promoted = lease_primary_term_.load();
  if (promoted != 0 && (!leads || ls.term != promoted)) {
    // Deposed (or re-elected in a later term, which promotes again): nothing
    // expires here any more, and renewals not yet proposed are dropped (the
    // next leader's promotion covers what they promised).
    lease_primary_term_.store(0);
    lessor->Demote();
    std::lock_guard rl(renewals_mu_);
    renewals_.clear();
  }
  // As etcd, once this leader applied its first entry, i.e. every renewal and
  // revocation of earlier terms: every lease gets its TTL again plus an
  // election timeout, so no keep-alive another member answered expires early.
  if (leads && ls.term != 0 && lease_primary_term_.load() == 0 &&
      noop_applied_term_.load() == ls.term) {
    lessor->Promote(std::chrono::milliseconds(options_.election_ms),
                    std::max<int64_t>(1, options_.lease_revoke_rate));
    lease_primary_term_.store(ls.term);
  }
}

void EtcdServer::LeaseLoop() {
  using namespace std::chrono_literals;
  constexpr auto kTick = 100ms;
  constexpr auto kCheckpointEvery = 1s;
  // A revocation that did not apply (e.g. lost with a leader) is proposed again after this.
  constexpr auto kRetryExpiry = 3s;
  // Revocation credit accrues at the configured rate (fractions carried over,
  // so any rate is honoured) and never beyond one tick's worth, so a storm
  // starts at the configured rate rather than with a burst.
  const double rate = static_cast<double>(std::max<int64_t>(1, options_.lease_revoke_rate));
  double credit = 0;
  auto last_checkpoint = std::chrono::steady_clock::now();
  auto propose_quietly = [this](std::shared_ptr<internalpb::InternalRequest> req) {
    Propose(std::move(req), nullptr, [](Status) {});
  };
  // A single member is its own leader from the start: it counts down from the
  // persisted remaining TTLs (a cluster's leader promotes, see FollowLeadership).
  if (!clustered_) store_->lessor()->ResumeAsPrimary();
  std::unique_lock l(lease_mu_);
  while (!lease_stopping_) {
    lease_cv_.wait_for(l, kTick);
    if (lease_stopping_) break;
    l.unlock();
    const raft::LogStatus ls = log()->GetStatus();
    ExpirePending(ls);
    CheckLeaderWaits(false);
    // Publish this member's name and client URLs through the log once per
    // start, as etcd does, so every member lists them.
    if (!published_.load() && ls.leader_id != 0 && !publishing_.exchange(true)) {
      auto req = std::make_shared<internalpb::InternalRequest>();
      auto* a = req->mutable_member_attributes();
      a->set_id(member_id_);
      a->set_name(options_.name);
      for (const auto& u : options_.client_urls) a->add_client_urls(u);
      Propose(std::move(req), nullptr, [this](Status s) {
        if (s.ok()) published_.store(true);
        publishing_.store(false);
      });
    }
    // Only the primary decides expiry and checkpoints: a single member, or a
    // cluster's leader once promoted (its deadlines are the only ones that count).
    if (clustered_) FollowLeadership(ls);
    const uint64_t primary_term = clustered_ ? lease_primary_term_.load() : ls.term;
    if (ls.leader_id != member_id_ || (clustered_ && primary_term == 0)) {
      l.lock();
      continue;
    }
    Lessor* lessor = store_->lessor();
    {
      // The leader's own renewals reach the other members within a tick: a
      // new leader's deadlines lag by at most that (clients renew at a third
      // of the TTL).
      std::unordered_set<int64_t> renewed;
      {
        std::lock_guard rl(renewals_mu_);
        renewed.swap(renewals_);
      }
      if (!renewed.empty()) {
        auto req = std::make_shared<internalpb::InternalRequest>();
        for (int64_t id : renewed) req->mutable_lease_renewals()->add_ids(id);
        propose_quietly(std::move(req));
      }
    }
    const double per_tick_rate = rate * std::chrono::duration<double>(kTick).count();
    credit = std::min(credit + per_tick_rate, std::max(per_tick_rate, 1.0));
    const auto per_tick = static_cast<size_t>(credit);
    // Read before the deadlines: a renewal applied later has a higher index.
    const uint64_t decided_at = store_->AppliedIndex();
    std::vector<int64_t> expired =
        per_tick > 0 ? lessor->Expired(per_tick, kRetryExpiry) : std::vector<int64_t>{};
    credit -= static_cast<double>(expired.size());
    if (!expired.empty()) {
      auto req = std::make_shared<internalpb::InternalRequest>();
      for (int64_t id : expired) req->mutable_lease_expiry()->add_ids(id);
      req->mutable_lease_expiry()->set_term(primary_term);
      req->mutable_lease_expiry()->set_decided_at(decided_at);
      propose_quietly(std::move(req));
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_checkpoint >= kCheckpointEvery) {
      last_checkpoint = now;
      auto due = lessor->CheckpointsDue(1000, std::chrono::seconds(5));
      if (!due.empty()) {
        auto req = std::make_shared<internalpb::InternalRequest>();
        for (auto [id, remaining] : due) {
          auto* c = req->mutable_lease_checkpoint()->add_checkpoints();
          c->set_id(id);
          c->set_remaining_ttl(remaining);
        }
        propose_quietly(std::move(req));
      }
    }
    l.lock();
  }
}

void EtcdServer::MaybeSync(uint64_t applied) {
  auto now = std::chrono::steady_clock::now();
  // A small --snapshot-count asks for Raft snapshots (which follow a sync) that often.
  const uint64_t every =
      std::min<uint64_t>(kSyncEveryEntries, std::max<uint64_t>(1, options_.snapshot_count));
  if (applied - last_sync_index_ < every && now - last_sync_time_ < kSyncEvery) return;
  last_sync_index_ = applied;
  last_sync_time_ = now;
  {
    std::lock_guard l(checkpoint_mu_);
    checkpoint_wanted_ = true;
  }
  checkpoint_cv_.notify_one();
}

void EtcdServer::CheckpointLoop() {
  std::unique_lock l(checkpoint_mu_);
  while (true) {
    checkpoint_cv_.wait(l, [&] { return checkpoint_wanted_ || checkpoint_stopping_; });
    if (checkpoint_stopping_) return;
    checkpoint_wanted_ = false;
    l.unlock();
    uint64_t durable = 0;
    Status s = store_->Sync(&durable);
    if (!s.ok()) {
      // As for a failed WAL write: after a failed fsync the store's pages may
      // be lost although a retry would succeed, and the log holds the only
      // other copy. Stop here, keeping the log; a restart replays it onto the
      // last good checkpoint.
      spdlog::critical("fatal: store checkpoint failed: {}; stopping, the log is kept",
                       s.ToString());
      spdlog::default_logger()->flush();
      std::abort();
    }
    // Keep the last applied entry so the log never ends before the store.
    log()->ReleaseBefore(durable);
    l.lock();
  }
}

}  // namespace capstan::api
