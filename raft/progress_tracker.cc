#include "raft/progress_tracker.h"

#include <algorithm>
#include <vector>

namespace capstan::raft {

Progress ProgressTracker::MakeProgress(uint64_t next, bool is_learner) const {
  Progress p(next, max_inflight_, max_inflight_bytes_, is_learner);
  // A member just added counts as active, or a CheckQuorum right after the
  // change could make the leader step down before it had a chance to talk.
  p.recent_active = true;
  return p;
}

void ProgressTracker::Reset(const raftpb::ConfState& conf_state, uint64_t next) {
  voters_.clear();
  learners_.clear();
  progress_.clear();
  votes_.clear();
  for (uint64_t id : conf_state.voters()) AddVoter(id, next);
  for (uint64_t id : conf_state.learners()) AddLearner(id, next);
}

void ProgressTracker::AddVoter(uint64_t id, uint64_t next) {
  learners_.erase(id);
  voters_.insert(id);
  auto it = progress_.find(id);
  if (it == progress_.end()) {
    progress_.emplace(id, MakeProgress(next, false));
  } else {
    it->second.is_learner = false;
  }
}

void ProgressTracker::AddLearner(uint64_t id, uint64_t next) {
  voters_.erase(id);
  learners_.insert(id);
  auto it = progress_.find(id);
  if (it == progress_.end()) {
    progress_.emplace(id, MakeProgress(next, true));
  } else {
    it->second.is_learner = true;
  }
}

void ProgressTracker::Remove(uint64_t id) {
  voters_.erase(id);
  learners_.erase(id);
  progress_.erase(id);
  votes_.erase(id);
}

raftpb::ConfState ProgressTracker::GetConfState() const {
  raftpb::ConfState cs;
  for (uint64_t id : voters_) cs.add_voters(id);
  for (uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

bool ProgressTracker::IsQuorum(const std::set<uint64_t>& ids) const {
  size_t n = 0;
  for (uint64_t id : ids) n += voters_.count(id);
  return !voters_.empty() && n >= QuorumSize();
}

Progress* ProgressTracker::Get(uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(uint64_t id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

void ProgressTracker::ResetProgress(uint64_t next, uint64_t self, uint64_t self_match) {
  for (auto& [id, pr] : progress_) {
    bool learner = pr.is_learner;
    pr = Progress(next, max_inflight_, max_inflight_bytes_, learner);
    if (id == self) pr.match = self_match;
  }
}

uint64_t ProgressTracker::Committed() const {
  if (voters_.empty()) return 0;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  for (uint64_t id : voters_) {
    auto it = progress_.find(id);
    matches.push_back(it == progress_.end() ? 0 : it->second.match);
  }
  // Sorted descending, the QuorumSize()-th value is on at least a quorum.
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  return matches[QuorumSize() - 1];
}

bool ProgressTracker::QuorumActive() const {
  size_t active = 0;
  for (uint64_t id : voters_) {
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.recent_active) ++active;
  }
  return !voters_.empty() && active >= QuorumSize();
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) { votes_.emplace(id, granted); }

VoteResult ProgressTracker::TallyVotes(size_t* granted, size_t* rejected) const {
  size_t g = 0, r = 0;
  for (uint64_t id : voters_) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? g : r)++;
  }
  if (granted) *granted = g;
  if (rejected) *rejected = r;
  if (voters_.empty()) return VoteResult::kLost;
  if (g >= QuorumSize()) return VoteResult::kWon;
  if (r > voters_.size() - QuorumSize()) return VoteResult::kLost;
  return VoteResult::kPending;
}

std::string ProgressTracker::ToString() const {
  std::string s;
  for (const auto& [id, pr] : progress_) {
    s += std::to_string(id) + ": " + pr.ToString() + "\n";
  }
  return s;
}

}  // namespace capstan::raft
