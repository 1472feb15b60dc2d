// RaftNode: the ConsensusLog of a multi-member cluster; the driver around the
// pure Raft core (RawNode).
//
// One thread owns the RawNode. It ticks it, steps it with messages from the
// PeerTransport, feeds it proposals, read-index requests and conf changes
// queued by other threads, and handles each Ready in the order the core
// requires: persist (WAL, fdatasync only when the Ready needs it), send,
// hand committed entries to the apply callback, answer read states, Advance.
// Committed conf changes are applied to the core and the transport here, as
// they are handed over; the member table is the state machine's business.
//
// Snapshots. Once the state machine has made `snapshot_count` more entries
// durable (ReleaseBefore), the node records a Raft snapshot at that index
// (metadata only: index, term, membership), marks it in the WAL, releases
// the WAL segments it covers and keeps `snapshot_catchup_entries` in memory
// for followers that are only a little behind. A follower further behind is
// sent the state machine itself (SnapshotSender / SnapshotReceiver), which
// it installs through `restore_snapshot` before applying anything newer.
// After a restart the log starts at the last snapshot marker.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "raft/consensus_log.h"
#include "raft/memory_storage.h"
#include "raft/peer_transport.h"
#include "raft/raw_node.h"
#include "raft/snapshot_receiver.h"
#include "raft/snapshot_sender.h"
#include "raft/wal.h"

namespace capstan::raft {

struct RaftNodeOptions {
  uint64_t member_id = 0;
  uint64_t cluster_id = 0;
  std::string wal_dir;
  WalOptions wal;
  std::vector<std::string> listen_peer_addresses;  // "host:port"
  PeerTlsOptions peer_tls;
  // Every member of the cluster as bootstrapped (this one included). A new
  // cluster's members start with these voters; a member joining an existing
  // cluster learns the membership from the leader's log instead.
  std::vector<raftpb::MemberContext> initial_members;
  bool bootstrap = true;  // --initial-cluster-state new
  // A new log over a state machine that already holds data (an imported
  // snapshot, or a one-member log being replaced): instead of bootstrapping,
  // the log starts with a snapshot at start_index (of start_term) whose
  // membership is initial_members. Every member seeded so must hold the
  // same state at the same index.
  uint64_t start_index = 0;
  uint64_t start_term = 0;
  std::chrono::milliseconds tick{100};  // --heartbeat-interval
  int election_ticks = 10;              // --election-timeout / --heartbeat-interval
  uint64_t seed = 0;

  std::string snap_dir;              // state-machine files in transit
  uint64_t snapshot_count = 100000;  // --snapshot-count
  uint64_t snapshot_catchup_entries = 5000;
  // Writes a consistent copy of the state machine to a file (a leader
  // catching a follower up).
  SnapshotSender::SaveFn save_snapshot;
  // Replaces the state machine with the copy in the file at `path`, which
  // covers at least log index `index`, after applying every entry handed
  // over before; returns once that is durable, with the membership the copy
  // holds in *members (the log that changed it may be gone).
  std::function<Status(const std::string& path, uint64_t index,
                       std::vector<raftpb::MemberContext>* members)>
      restore_snapshot;

  // Called on the Raft thread for a proposal the core dropped (no leader,
  // a leadership transfer in progress, ...), with the entry's first bytes
  // (at most kDroppedHeadBytes) and why, so that its client fails at once
  // instead of waiting for a timeout.
  std::function<void(std::string_view head, const Status& why)> on_dropped;
};

inline constexpr size_t kDroppedHeadBytes = 16;

class RaftNode : public ConsensusLog {
 public:
  explicit RaftNode(RaftNodeOptions options);
  ~RaftNode() override;

  Status Start(uint64_t applied_index, ApplyFn apply) override;
  void Stop() override;
  Status Propose(std::string data) override;
  void ReadIndex(ReadIndexFn done) override;
  void ConfirmLeadership(ReadIndexFn done) override;
  Status ProposeConfChange(const raftpb::ConfChange& cc) override;
  Status TransferLeadership(uint64_t to) override;
  void ReleaseBefore(uint64_t index) override;
  LogStatus GetStatus() const override;
  LearnerState LearnerProgress(uint64_t id) const override;
  std::optional<std::chrono::steady_clock::time_point> PeerActiveSince(uint64_t id) const override {
    return transport_ ? transport_->ActiveSince(id) : std::nullopt;
  }

  // Peer addresses ("host:port") from URLs such as "http://10.0.0.1:2380".
  static std::vector<std::string> PeerAddresses(const raftpb::MemberContext& m);

 private:
  // Queues `done` for the Raft thread's next ReadIndex round (on `queue`,
  // one of read_requests_ and leader_checks_), or fails it once stopping.
  void QueueReadRound(std::vector<ReadIndexFn>* queue, ReadIndexFn done);

  void Run();
  void HandleReady();
  void ApplyConfChangeEntry(const raftpb::Entry& e);
  void ExpireReads(std::chrono::steady_clock::time_point now);
  // Takes a Raft snapshot at `durable` if enough entries accumulated since the last.
  void MaybeSnapshot(uint64_t durable);
  // Copies the leader's view of the learners' progress for LearnerProgress.
  void PublishLearnerProgress();
  // Installs a snapshot the core accepted from the leader.
  void InstallSnapshot(const raftpb::Snapshot& snapshot);
  // The snapshot installer's thread: installs the state machine of each
  // MSG_SNAP received, then hands the message to the Raft thread.
  void InstallLoop();
  raftpb::ConfState ConfStateAt(uint64_t index) const;
  void AddPeer(const raftpb::MemberContext& m);
  void OnMessage(raftpb::Message m);
  Status SeedFromStateMachine();

  const RaftNodeOptions options_;
  MemoryStorage storage_;
  std::unique_ptr<Wal> wal_;
  std::unique_ptr<RawNode> node_;
  std::unique_ptr<PeerTransport> transport_;
  ApplyFn apply_;
  std::thread thread_;

  // Inputs from other threads, taken by the Raft thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<raftpb::Message> inbox_;
  std::vector<std::string> proposals_;
  std::vector<raftpb::ConfChange> conf_changes_;
  std::vector<ReadIndexFn> read_requests_;
  std::vector<ReadIndexFn> leader_checks_;                   // ConfirmLeadership
  std::vector<std::pair<uint64_t, bool>> snapshot_reports_;  // (peer, success)
  std::map<uint64_t, std::string> snapshot_files_;           // received, by index
  std::deque<raftpb::Message> to_install_;                   // MSG_SNAPs for InstallLoop
  uint64_t installing_ = 0;  // the highest snapshot index InstallLoop has to install (0: none)
  std::condition_variable installer_cv_;
  std::thread installer_;
  uint64_t release_to_ = 0;  // the state machine is durable up to here
  bool release_pending_ = false;
  uint64_t transfer_to_ = 0;
  bool stopping_ = false;
  // Published by the Raft thread (PublishLearnerProgress): whether it leads,
  // its last log index and each learner's match index.
  bool leading_ = false;
  uint64_t leader_last_index_ = 0;
  std::map<uint64_t, uint64_t> learner_match_;

  // Raft thread only.
  // One ReadIndex round answers every read that was waiting when it started
  // (etcd's linearizable read loop does the same): each of them began before
  // the index was taken, so it may be served at that index.
  struct PendingRead {
    std::vector<ReadIndexFn> done;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, PendingRead> reads_;
  uint64_t next_read_ = 0;
  // The membership after each conf change since the last snapshot (and as of
  // the snapshot), so that a snapshot at any index records the right one.
  std::map<uint64_t, raftpb::ConfState> conf_states_;
  uint64_t snapshot_index_ = 0;
  std::set<uint64_t> peers_;  // known to the transport

  SnapshotReceiver receiver_;
  std::unique_ptr<SnapshotSender> sender_;

  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> commit_{0};
  std::atomic<uint64_t> last_index_{0};
};

}  // namespace capstan::raft
