// ProgressTracker: the membership (voters and learners) and, on a leader,
// the replication progress of every member; also the votes of an election.
//
// Quorums count voters only: learners receive the log but neither vote nor
// count towards commit or CheckQuorum.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "raft/progress.h"
#include "raftpb.pb.h"

namespace capstan::raft {

enum class VoteResult { kPending, kWon, kLost };

class ProgressTracker {
 public:
  ProgressTracker(size_t max_inflight, uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  // Membership. `next` is where a newly tracked member's progress starts.
  void Reset(const raftpb::ConfState& conf_state, uint64_t next);
  void AddVoter(uint64_t id, uint64_t next);    // also promotes a learner
  void AddLearner(uint64_t id, uint64_t next);  // also demotes a voter
  void Remove(uint64_t id);
  raftpb::ConfState GetConfState() const;

  bool IsVoter(uint64_t id) const { return voters_.count(id) > 0; }
  bool IsLearner(uint64_t id) const { return learners_.count(id) > 0; }
  bool IsMember(uint64_t id) const { return IsVoter(id) || IsLearner(id); }
  const std::set<uint64_t>& voters() const { return voters_; }
  const std::set<uint64_t>& learners() const { return learners_; }
  // One voter: that voter alone is a quorum.
  bool IsSingleton() const { return voters_.size() == 1; }
  size_t QuorumSize() const { return voters_.size() / 2 + 1; }
  bool IsQuorum(const std::set<uint64_t>& ids) const;

  Progress* Get(uint64_t id);
  const Progress* Get(uint64_t id) const;
  std::map<uint64_t, Progress>& progress() { return progress_; }
  const std::map<uint64_t, Progress>& progress() const { return progress_; }
  // Resets every member's progress (a new term starts).
  void ResetProgress(uint64_t next, uint64_t self, uint64_t self_match);

  // The highest index replicated on a quorum of voters.
  uint64_t Committed() const;
  // Whether a quorum of voters was heard from recently (recent_active).
  bool QuorumActive() const;

  void ResetVotes() { votes_.clear(); }
  // Records id's answer; only its first answer in an election counts.
  void RecordVote(uint64_t id, bool granted);
  VoteResult TallyVotes(size_t* granted, size_t* rejected) const;

  std::string ToString() const;

 private:
  Progress MakeProgress(uint64_t next, bool is_learner) const;

  size_t max_inflight_;
  uint64_t max_inflight_bytes_;
  std::set<uint64_t> voters_;
  std::set<uint64_t> learners_;
  std::map<uint64_t, Progress> progress_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace capstan::raft
