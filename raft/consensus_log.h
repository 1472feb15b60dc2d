// ConsensusLog: the replicated log in front of the state machine.
//
// Every write is proposed here, made durable, committed, and then handed to
// the apply callback in log order; nothing is applied any other way. A single
// member runs SingleNodeLog; a cluster runs the Raft node driver. Both keep
// this contract, so the server does not know which one it has.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

struct LogStatus {
  uint64_t member_id = 0;
  uint64_t leader_id = 0;  // 0 = no leader known
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t last_index = 0;
};

class ConsensusLog {
 public:
  // Called on the log's own thread with committed entries, in order. Entries
  // at or below the index given to Start() may be delivered again after a
  // restart; the state machine skips what it has already applied.
  // The callee takes the entries (no copy of their data on the write path).
  using ApplyFn = std::function<void(std::vector<raftpb::Entry> entries)>;
  // Called with the index a linearizable read must wait for, once it is
  // known that no other leader can have committed more (ReadIndex).
  using ReadIndexFn = std::function<void(Status status, uint64_t index)>;

  virtual ~ConsensusLog() = default;

  // Replays committed entries after `applied_index` through `apply`, then
  // starts delivering new commits.
  virtual Status Start(uint64_t applied_index, ApplyFn apply) = 0;
  virtual void Stop() = 0;

  // Asynchronous: the entry comes back through ApplyFn once committed.
  // Unavailable when stopped or without a leader.
  virtual Status Propose(std::string data) = 0;

  virtual void ReadIndex(ReadIndexFn done) = 0;
  // As ReadIndex, but only this member's own leadership counts: `done` gets
  // OK only if this member was leader when the round started and a quorum
  // then confirmed it (no other member leads a later term yet); on a
  // follower it fails at once instead of asking the leader. A one-member log
  // is always its own leader.
  virtual void ConfirmLeadership(ReadIndexFn done) { ReadIndex(std::move(done)); }

  // Membership changes (one voter at a time); the entry comes back through
  // ApplyFn as ENTRY_CONF_CHANGE once committed. `cc.context` holds a
  // serialized MemberContext.
  virtual Status ProposeConfChange(const raftpb::ConfChange& cc) = 0;
  // Hands leadership to `to` (asynchronously).
  virtual Status TransferLeadership(uint64_t to) = 0;

  // The state machine has made everything up to `index` durable, so the log
  // may release what comes before it.
  virtual void ReleaseBefore(uint64_t index) = 0;

  virtual LogStatus GetStatus() const = 0;

  // Whether learner `id` may be promoted. Only the leader knows how far a
  // learner's log matches: kReady once it matches at least 90% of the
  // leader's (etcd's readyPercent), kNotReady before; kNotLeader on any other
  // member. Ids that are not learners are kReady (the member table decides).
  enum class LearnerState { kNotLeader, kReady, kNotReady };
  // Since when this member has been connected to member `id` (nullopt: not
  // connected, or no such peer), for etcd's reconfiguration safety checks.
  virtual std::optional<std::chrono::steady_clock::time_point> PeerActiveSince(uint64_t) const {
    return std::nullopt;
  }
  virtual LearnerState LearnerProgress(uint64_t id) const {
    (void)id;
    return LearnerState::kReady;  // a one-member log has no learners
  }
};

}  // namespace capstan::raft
