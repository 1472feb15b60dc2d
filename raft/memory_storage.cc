#include "raft/memory_storage.h"

#include "raft/entry_size.h"

namespace capstan::raft {

MemoryStorage::MemoryStorage() : ents_(1) {}

Status MemoryStorage::InitialState(raftpb::HardState* hard_state,
                                   raftpb::ConfState* conf_state) const {
  std::lock_guard l(mu_);
  *hard_state = hard_state_;
  *conf_state = snapshot_.metadata().conf_state();
  return Status::OK();
}

Status MemoryStorage::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                              std::vector<raftpb::Entry>* out) const {
  std::lock_guard l(mu_);
  out->clear();
  uint64_t offset = ents_[0].index();
  if (lo <= offset) return Status::OutOfRange("requested entries are compacted");
  if (hi > LastIndexLocked() + 1) {
    return Status::NotFound("requested entries beyond the last index " +
                            std::to_string(LastIndexLocked()));
  }
  if (lo >= hi) return Status::OK();
  uint64_t total = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = ents_[i - offset];
    total += EntrySize(e);
    if (!out->empty() && total > max_bytes) break;
    out->push_back(e);
  }
  return Status::OK();
}

Status MemoryStorage::Term(uint64_t i, uint64_t* term) const {
  std::lock_guard l(mu_);
  uint64_t offset = ents_[0].index();
  if (i < offset) return Status::OutOfRange("requested index is compacted");
  if (i - offset >= ents_.size()) return Status::NotFound("requested index is unavailable");
  *term = ents_[i - offset].term();
  return Status::OK();
}

uint64_t MemoryStorage::FirstIndex() const {
  std::lock_guard l(mu_);
  return FirstIndexLocked();
}

uint64_t MemoryStorage::LastIndex() const {
  std::lock_guard l(mu_);
  return LastIndexLocked();
}

Status MemoryStorage::Snapshot(raftpb::Snapshot* out) const {
  std::lock_guard l(mu_);
  *out = snapshot_;
  return Status::OK();
}

void MemoryStorage::SetHardState(const raftpb::HardState& hard_state) {
  std::lock_guard l(mu_);
  hard_state_ = hard_state;
}

void MemoryStorage::SetInitialConfState(const raftpb::ConfState& conf_state) {
  std::lock_guard l(mu_);
  *snapshot_.mutable_metadata()->mutable_conf_state() = conf_state;
}

Status MemoryStorage::ApplySnapshot(const raftpb::Snapshot& snapshot) {
  std::lock_guard l(mu_);
  if (snapshot.metadata().index() <= snapshot_.metadata().index()) {
    return Status::OutOfRange("snapshot is out of date");
  }
  snapshot_ = snapshot;
  ents_.assign(1, raftpb::Entry());
  ents_[0].set_index(snapshot.metadata().index());
  ents_[0].set_term(snapshot.metadata().term());
  return Status::OK();
}

Status MemoryStorage::CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                                     std::string data, raftpb::Snapshot* out) {
  std::lock_guard l(mu_);
  if (index <= snapshot_.metadata().index()) return Status::OutOfRange("snapshot is out of date");
  if (index > LastIndexLocked()) {
    return Status::InvalidArgument("snapshot index " + std::to_string(index) +
                                   " is after the last index " + std::to_string(LastIndexLocked()));
  }
  uint64_t offset = ents_[0].index();
  raftpb::SnapshotMetadata* md = snapshot_.mutable_metadata();
  md->set_index(index);
  md->set_term(ents_[index - offset].term());
  *md->mutable_conf_state() = conf_state;
  snapshot_.set_data(std::move(data));
  if (out) *out = snapshot_;
  return Status::OK();
}

Status MemoryStorage::Compact(uint64_t compact_index) {
  std::lock_guard l(mu_);
  uint64_t offset = ents_[0].index();
  if (compact_index <= offset) return Status::OutOfRange("already compacted");
  if (compact_index > LastIndexLocked()) {
    return Status::InvalidArgument("compact index " + std::to_string(compact_index) +
                                   " is after the last index " + std::to_string(LastIndexLocked()));
  }
  uint64_t i = compact_index - offset;
  // The entry at compact_index becomes the dummy: keep its index and term
  // only, so the memory of its data goes too.
  raftpb::Entry dummy;
  dummy.set_index(ents_[i].index());
  dummy.set_term(ents_[i].term());
  ents_.erase(ents_.begin(), ents_.begin() + static_cast<std::ptrdiff_t>(i));
  ents_[0] = std::move(dummy);
  return Status::OK();
}

Status MemoryStorage::Append(std::span<const raftpb::Entry> entries) {
  if (entries.empty()) return Status::OK();
  std::lock_guard l(mu_);
  uint64_t first = FirstIndexLocked();
  uint64_t last_new = entries.back().index();
  if (last_new < first) return Status::OK();  // all compacted already
  // Skip the part that is compacted.
  if (entries.front().index() < first) entries = entries.subspan(first - entries.front().index());
  uint64_t start = entries.front().index();
  if (start > LastIndexLocked() + 1) {
    return Status::InvalidArgument("missing log entries: last index " +
                                   std::to_string(LastIndexLocked()) + ", appending at " +
                                   std::to_string(start));
  }
  ents_.resize(start - ents_[0].index());  // truncate the conflicting suffix, if any
  ents_.insert(ents_.end(), entries.begin(), entries.end());
  return Status::OK();
}

}  // namespace capstan::raft
