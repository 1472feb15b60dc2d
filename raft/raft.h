// Raft: the consensus state machine of one member, without I/O.
//
// Inputs are messages (Step, including local ones such as MSG_HUP and
// MSG_PROP) and clock ticks (Tick); outputs are queued messages, read states
// and changes to the log and HardState, which RawNode packs into Ready
// batches. Nothing here blocks, reads a clock or draws true randomness, so a
// given Config (seed included) and input sequence always produce the same
// outputs.
//
// The implementation follows the Raft paper and thesis (Ongaro, 2014), with
// the extensions of etcd's raft package: PreVote (thesis 9.6), CheckQuorum
// and the leader lease on votes (6.2, 4.2.3), leader transfer (3.10),
// ReadIndex (6.4), learners, flow control (probe/replicate/snapshot) and
// single-voter membership changes that take effect when applied, with at
// most one uncommitted at a time (4.1).
//
// Most applications use RawNode; this class is public for tests and tools
// that inspect the core.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "raft/config.h"
#include "raft/progress_tracker.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/ready.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

// Context of the vote requests of a campaign started by MSG_TIMEOUT_NOW:
// voters grant it even within their leader lease, since the leader asked.
inline constexpr char kCampaignTransfer[] = "CampaignTransfer";

class Raft {
  struct Passkey {};

 public:
  // Builds a member from config and the state in config.storage.
  static Status Create(const Config& config, std::unique_ptr<Raft>* raft);
  Raft(Passkey, const Config& config);

  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // Processes one message. Local messages (term 0) are MSG_HUP, MSG_BEAT,
  // MSG_PROP, MSG_READ_INDEX, MSG_TRANSFER_LEADER, MSG_SNAP_STATUS,
  // MSG_UNREACHABLE and MSG_CHECK_QUORUM. Returns Unavailable when a
  // proposal is dropped (no leader, leadership transfer in progress,
  // forwarding disabled) and FailedPrecondition for a conf change refused
  // because another one is pending.
  Status Step(const raftpb::Message& m);

  // Advances the logical clock by one tick.
  void Tick();

  // Changes the membership; the application calls this when it applies a
  // committed ENTRY_CONF_CHANGE. Returns the membership in force after it.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);

  // Outputs, taken by RawNode when building a Ready.
  std::vector<raftpb::Message> TakeMessages();
  std::vector<ReadState> TakeReadStates();
  bool HasMessages() const { return !msgs_.empty(); }
  bool HasReadStates() const { return !read_states_.empty(); }

  SoftState GetSoftState() const { return SoftState{lead_, role_}; }
  raftpb::HardState GetHardState() const;

  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t lead() const { return lead_; }
  Role role() const { return role_; }
  bool is_learner() const { return is_learner_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  uint64_t pending_conf_index() const { return pending_conf_index_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  int election_elapsed() const { return election_elapsed_; }
  const Config& config() const { return config_; }
  const RaftLog& log() const { return log_; }
  RaftLog& mutable_log() { return log_; }
  const ProgressTracker& tracker() const { return tracker_; }
  size_t pending_read_count() const { return read_only_.PendingCount(); }

  // Used by RawNode::Bootstrap: starts term 1 as a follower, with `entries`
  // committed (they are conf changes adding the initial voters).
  void BootstrapLog(std::vector<raftpb::Entry> entries);

 private:
  enum class CampaignType { kPreElection, kElection, kTransfer };

  void Send(raftpb::Message m);

  // Role transitions.
  void Reset(uint64_t term);
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();

  // Elections.
  bool Promotable() const;
  bool HasUnappliedConfChanges() const;
  void Hup(CampaignType type);
  void Campaign(CampaignType type);
  VoteResult Poll(uint64_t id, bool granted);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }

  // Per-role message handling.
  Status StepLeader(const raftpb::Message& m);
  Status StepCandidate(const raftpb::Message& m);
  Status StepFollower(const raftpb::Message& m);
  void HandleVoteRequest(const raftpb::Message& m);
  void HandleAppendEntries(const raftpb::Message& m);
  void HandleHeartbeat(const raftpb::Message& m);
  void HandleSnapshot(const raftpb::Message& m);
  bool Restore(const raftpb::Snapshot& snapshot);

  // Leader replication.
  bool AppendEntries(std::vector<raftpb::Entry> entries);
  bool MaybeCommit();
  bool MaybeSendAppend(uint64_t to, bool send_if_empty);
  void SendAppend(uint64_t to) { MaybeSendAppend(to, true); }
  void BroadcastAppend();
  void SendHeartbeat(uint64_t to, const std::string& context);
  void BroadcastHeartbeat(const std::string& context);
  void SendTimeoutNow(uint64_t to);
  void AbortLeaderTransfer() { lead_transferee_ = 0; }

  // ReadIndex.
  bool CommittedEntryInCurrentTerm() const;
  void HandleReadIndexOnLeader(const raftpb::Message& m);
  void RespondReadIndex(const raftpb::Message& req, uint64_t index);
  void ReleasePendingReadIndexMessages();

  void TickElection();
  void TickHeartbeat();

  Config config_;
  uint64_t id_;
  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t lead_ = 0;
  Role role_ = Role::kFollower;
  bool is_learner_ = false;

  RaftLog log_;
  ProgressTracker tracker_;
  ReadOnly read_only_;
  // MSG_READ_INDEX received before this leader committed an entry of its
  // term: until then its commit index may be stale.
  std::vector<raftpb::Message> pending_read_index_msgs_;

  std::vector<raftpb::Message> msgs_;
  std::vector<ReadState> read_states_;

  // Leader: transfer target, 0 if none.
  uint64_t lead_transferee_ = 0;
  // Leader: index of the last conf change appended; a new one is refused
  // until the log is applied past it.
  uint64_t pending_conf_index_ = 0;

  // Leader and candidates count ticks towards the election timeout;
  // followers since they last heard from the leader.
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  std::mt19937_64 rng_;
};

}  // namespace capstan::raft
