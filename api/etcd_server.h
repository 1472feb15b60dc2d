// EtcdServer: the member's core, between the gRPC services and the store.
//
// Writes: a service hands a request to Propose(); it is serialized into the
// ConsensusLog, and when committed the apply thread executes it with the
// Applier inside one LMDB write transaction per batch of log entries, fills
// the waiting RPC's response and calls its completion. Reads: linearizable
// reads wait for ReadIndex() to be applied, then read the store directly.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/applier.h"
#include "api/auto_compactor.h"
#include "api/member_table.h"
#include "internal.pb.h"
#include "raft/consensus_log.h"
#include "raft/peer_transport.h"
#include "raft/raft_node.h"
#include "raft/single_node_log.h"
#include "rpc.pb.h"
#include "storage/mvcc_store.h"
#include "watch/watch_hub.h"  // watch hub (issue 3)

namespace capstan::api {

struct EtcdServerOptions {
  std::string data_dir;
  // --wal-dir: the Raft log's directory, e.g. on its own disk so that its
  // fsyncs do not queue behind the store's checkpoints. Empty:
  // <data_dir>/member/wal.
  std::string wal_dir;
  std::string name = "default";
  std::vector<std::string> peer_urls;    // advertised
  std::vector<std::string> client_urls;  // advertised
  std::string initial_cluster_token = "etcd-cluster";
  // --initial-cluster: every member's name and peer URLs (this one's too).
  // One member runs a single-node log; more, or joining an existing cluster
  // (new_cluster false), run Raft.
  struct InitialMember {
    std::string name;
    std::vector<std::string> peer_urls;
  };
  std::vector<InitialMember> initial_members;
  bool new_cluster = true;
  std::vector<std::string> listen_peer_addresses;  // "host:port"
  raft::PeerTlsOptions peer_tls;
  int heartbeat_ms = 100;
  int election_ms = 1000;
  int64_t quota_backend_bytes = int64_t{2} << 30;
  int64_t max_request_bytes = 1572864;
  int max_txn_ops = 128;
  // WAL segment size (smaller in tests).
  size_t wal_segment_bytes = size_t{64} << 20;
  // Raft snapshots: every snapshot_count entries made durable; that many
  // entries stay for slow followers (--snapshot-count,
  // --experimental-snapshot-catchup-entries).
  uint64_t snapshot_count = 100000;
  uint64_t snapshot_catchup_entries = 5000;
  // Expired leases revoked per second at most (etcd hard-codes 1000).
  int64_t lease_revoke_rate = 1000;
  // watch hub (issue 3): etcd's --experimental-watch-progress-notify-interval.
  std::chrono::milliseconds watch_progress_notify_interval{std::chrono::minutes(10)};
  // Auto compaction: keep this much history (periodic) or this many
  // revisions (revision mode); both zero = off.
  std::chrono::nanoseconds auto_compaction_period{0};
  int64_t auto_compaction_revisions = 0;
  // An etcd snapshot to import into a new data dir (see storage/etcd_data_dir.h;
  // an etcd data dir in data_dir is imported without it).
  std::string initial_snapshot;
  // Tests only: StoreOptions::sync_fault of the member's store.
  std::function<Status()> store_sync_fault;
};

class EtcdServer {
 public:
  using Done = std::function<void(Status)>;

  static Status Start(const EtcdServerOptions& options, std::unique_ptr<EtcdServer>* out);
  ~EtcdServer();
  void Stop();

  // Proposes `req` (its id is assigned here). `response` must outlive the
  // call of `done`, which runs on the apply thread once the request is
  // applied, or earlier with an error (request too large, stopped, ...).
  void Propose(std::shared_ptr<internalpb::InternalRequest> req,
               google::protobuf::Message* response, Done done);

  // Calls `done` once every write committed before this call is applied
  // (linearizable read barrier). May run on the calling thread.
  void ReadBarrier(Done done);

  // Refuses writes when the quota is reached (etcd's NOSPACE), raising the alarm.
  Status CheckQuota(int64_t cost);

  void FillHeader(etcdserverpb::ResponseHeader* h) const;
  void FillHeader(etcdserverpb::ResponseHeader* h, int64_t revision) const;
  // Cluster-service headers carry no revision in etcd.
  void FillHeaderWithoutRevision(etcdserverpb::ResponseHeader* h) const;

  // A fresh id for a lease the client did not name: positive and unique.
  int64_t NewLeaseId() {
    return static_cast<int64_t>(next_id_.fetch_add(1, std::memory_order_relaxed) & INT64_MAX);
  }

  MvccStore* store() const { return store_.get(); }
  watch::WatchHub* watch_hub() const { return watch_hub_.get(); }  // watch hub (issue 3)
  AlarmSet* alarms() { return &alarms_; }
  const EtcdServerOptions& options() const { return options_; }
  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  std::vector<MemberInfo> Members() const { return members_.List(); }
  // etcd's --strict-reconfig-check (on by default there, always on here): a
  // membership change must not put the quorum at risk. FailedPrecondition
  // (not enough started members) or Unavailable (unhealthy cluster: this
  // member has not been connected to the voters for 5 s).
  Status MayAddMember(bool is_learner) const;
  Status MayRemoveMember(uint64_t id) const;
  MemberTable* member_table() { return &members_; }
  // Whether this member runs Raft with peers (not the single-node log).
  bool clustered() const { return clustered_; }
  // Answers a keep-alive of lease `id` in *resp (TTL 0 for an unknown or
  // expired lease), then calls `done` (on any thread). A single member renews
  // at once. A cluster's leader whose lessor is promoted (see LeaseLoop)
  // first confirms with a ReadIndex round that it still leads (as etcd; one
  // round serves every keep-alive waiting then), renews, answers, and
  // replicates its renewals in one batch per lease tick. Any other member,
  // or a leader that could not confirm, sends the renewal through the log
  // and answers once it is applied. `resp` must outlive `done`.
  void KeepAlive(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done);
  // Proposes a membership change; `done` runs once it is applied.
  void ProposeConfChange(raftpb::ConfChange cc, Done done);
  // Maintenance.MoveLeader: hands leadership to `target` and calls `done`
  // once it leads (or with etcd's errors: not leader, bad transferee, timeout).
  void MoveLeader(uint64_t target, Done done);
  raft::LogStatus LogStatus() const { return log()->GetStatus(); }
  // Whether the leader's log says learner `id` caught up (see
  // raft::ConsensusLog::LearnerProgress).
  raft::ConsensusLog::LearnerState LearnerProgress(uint64_t id) const {
    return log()->LearnerProgress(id);
  }
  // Whether this member is a learner (etcd then serves only Status and
  // serializable reads).
  bool IsLearner() const { return members_.IsLearner(member_id_); }

 private:
  EtcdServer() = default;

  struct Pending {
    std::shared_ptr<internalpb::InternalRequest> req;
    google::protobuf::Message* response;
    Done done;
    std::chrono::steady_clock::time_point since;
  };
  struct Completion {
    Done done;
    ApplyResult result;
  };

  // Completes applied requests off the apply thread (see Reply in the .cc).
  void Reply(std::vector<Completion> replies);
  void OnCommitted(std::vector<raftpb::Entry> entries);
  void ApplyLoop();
  void ApplyEntries(std::vector<raftpb::Entry>& entries);
  void MaybeSync(uint64_t applied);
  // Raft snapshots (see raft::RaftNodeOptions): a copy of the store for a
  // lagging member, and installing one from the leader.
  Status SaveSnapshotFile(const std::string& path) const;
  raft::RaftNodeOptions RaftOptions(uint64_t start_index, bool bootstrap);
  raft::SingleNodeLogOptions SingleNodeOptions() const;
  // Where the log lives (--wal-dir or <data-dir>/member/wal).
  std::string WalDir() const;
  // A one-member cluster about to grow: replaces the one-member log with a
  // Raft log that starts from the store (once; later calls do nothing).
  Status SwitchToRaft();
  Status RestoreSnapshotFile(const std::string& path, uint64_t index,
                             std::vector<raftpb::MemberContext>* members);
  // Promotes and demotes the lessor with this member's leadership; on the
  // promoted leader, proposes revocation of expired leases (rate-limited),
  // its answered renewals and checkpoints of remaining TTLs.
  void LeaseLoop();
  // The promotion rule (see LeaseLoop), once per tick.
  void FollowLeadership(const raft::LogStatus& ls);
  // A keep-alive through the log (see KeepAlive).
  void ProposeRenewal(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done);
  // Fails proposals that were not applied in time: lost with a leader (once
  // a new leader committed its first entry and had an election timeout to
  // commit what was forwarded to it: etcd's "leader changed"), or after
  // etcd's request timeout.
  void ExpirePending(const raft::LogStatus& ls);
  uint64_t pending_term_ = 0;                                // lease thread only
  std::chrono::steady_clock::time_point term_changed_at_{};  // lease thread only
  void CheckpointAllLeases();
  // Completes the waiting RPC of entry `id` with `status`.
  void Complete(uint64_t id, Status status);

  EtcdServerOptions options_;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  std::unique_ptr<MvccStore> store_;
  // The log in use. A one-member cluster's log is replaced by a Raft node
  // when the cluster grows (SwitchToRaft); the old one stays, stopped, so
  // that a thread still holding it is safe.
  raft::ConsensusLog* log() const { return log_.load(std::memory_order_acquire); }
  std::vector<std::unique_ptr<raft::ConsensusLog>> logs_;
  std::atomic<raft::ConsensusLog*> log_{nullptr};
  std::mutex switch_mu_;
  AlarmSet alarms_;
  MemberTable members_;
  std::atomic<bool> clustered_{false};
  std::atomic<bool> published_{false};  // this member's attributes are applied
  std::atomic<bool> publishing_{false};
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<watch::WatchHub> watch_hub_;  // watch hub (issue 3)

  std::atomic<uint64_t> next_id_{0};
  std::mutex pending_mu_;
  std::unordered_map<uint64_t, Pending> pending_;

  // Committed entries waiting for the apply thread.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;
  std::vector<raftpb::Entry> apply_queue_;
  // Work for the apply thread in order with the entries (a snapshot install).
  std::vector<std::function<void()>> apply_tasks_;
  bool stopping_ = false;
  std::thread apply_thread_;

  // Reads waiting for an index to be applied.
  std::mutex read_mu_;
  std::multimap<uint64_t, Done> read_waiters_;
  // Linearizable reads run here once their index is applied, and replies to
  // applied requests are sent from here: never on the log's or the apply
  // thread, which would otherwise serve them one by one.
  struct ReadPool;
  std::unique_ptr<ReadPool> read_pool_;
  std::atomic<bool> reads_stopped_{false};
  void RunRead(Done done);
  // Runs the reads waiting for an index at or below `applied`.
  void ReleaseReads(uint64_t applied);

  struct LeaderWait {
    uint64_t target;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  std::vector<LeaderWait> leader_waits_;  // guarded by lease_mu_
  void CheckLeaderWaits(bool stopping);

  std::unique_ptr<AutoCompactor> auto_compactor_;
  std::thread lease_thread_;
  std::mutex lease_mu_;
  std::mutex renewals_mu_;
  std::unordered_set<int64_t> renewals_;  // renewed by KeepAlive on the leader, not yet proposed
  // The term in which this member's lessor was promoted (0: not primary). A
  // leader promotes once it applied its own first (empty) entry, i.e. every
  // entry of earlier terms, as etcd does.
  std::atomic<uint64_t> lease_primary_term_{0};
  std::atomic<uint64_t> noop_applied_term_{0};  // term of the last empty entry applied
  std::condition_variable lease_cv_;
  bool lease_stopping_ = false;

  // Store checkpoints (MvccStore::Sync) run on their own thread, since one
  // fsyncs every page written since the last; the apply loop only asks.
  uint64_t last_sync_index_ = 0;  // apply thread only
  std::chrono::steady_clock::time_point last_sync_time_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stopping_ = false;
  void CheckpointLoop();
};

}  // namespace capstan::api
