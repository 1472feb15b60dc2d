#include "raft/unstable_log.h"

#include "raft/invariant.h"

namespace capstan::raft {

std::optional<uint64_t> UnstableLog::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata().index() + 1;
  return std::nullopt;
}

std::optional<uint64_t> UnstableLog::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata().index();
  return std::nullopt;
}

std::optional<uint64_t> UnstableLog::MaybeTerm(uint64_t i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata().index() == i) return snapshot_->metadata().term();
    return std::nullopt;
  }
  if (i - offset_ >= entries_.size()) return std::nullopt;
  return entries_[i - offset_].term();
}

void UnstableLog::StableTo(uint64_t i, uint64_t t) {
  std::optional<uint64_t> term = MaybeTerm(i);
  if (!term || i < offset_ || *term != t) return;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(i + 1 - offset_));
  offset_ = i + 1;
}

void UnstableLog::StableSnapTo(uint64_t i) {
  if (snapshot_ && snapshot_->metadata().index() == i) snapshot_.reset();
}

void UnstableLog::Restore(const raftpb::Snapshot& snapshot) {
  offset_ = snapshot.metadata().index() + 1;
  entries_.clear();
  snapshot_ = snapshot;
}

void UnstableLog::TruncateAndAppend(std::vector<raftpb::Entry> entries) {
  if (entries.empty()) return;
  uint64_t after = entries.front().index();
  if (after == offset_ + entries_.size()) {
    entries_.insert(entries_.end(), std::make_move_iterator(entries.begin()),
                    std::make_move_iterator(entries.end()));
  } else if (after <= offset_) {
    offset_ = after;
    entries_ = std::move(entries);
  } else {
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), std::make_move_iterator(entries.begin()),
                    std::make_move_iterator(entries.end()));
  }
}

std::vector<raftpb::Entry> UnstableLog::Slice(uint64_t lo, uint64_t hi) const {
  RAFT_CHECK(lo <= hi && lo >= offset_ && hi - offset_ <= entries_.size(),
             "unstable slice [" + std::to_string(lo) + "," + std::to_string(hi) +
                 ") out of bounds [" + std::to_string(offset_) + "," +
                 std::to_string(offset_ + entries_.size()) + ")");
  return std::vector<raftpb::Entry>(entries_.begin() + static_cast<std::ptrdiff_t>(lo - offset_),
                                    entries_.begin() + static_cast<std::ptrdiff_t>(hi - offset_));
}

}  // namespace capstan::raft
