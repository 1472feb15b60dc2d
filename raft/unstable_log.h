// UnstableLog: the tail of the Raft log that is not yet on stable storage.
//
// New entries (and a snapshot received from the leader) land here first. A
// Ready hands them to the application to persist; RawNode::Advance then
// tells this log they are stable and they are dropped from memory here, to
// be read back from LogStorage from then on.
//
// entries_[i] has index offset_ + i. A pending snapshot, if any, has index
// offset_ - 1: it precedes every unstable entry.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "raftpb.pb.h"

namespace capstan::raft {

class UnstableLog {
 public:
  explicit UnstableLog(uint64_t offset = 1) : offset_(offset) {}

  // First index of the log if a snapshot is pending (it replaces storage).
  std::optional<uint64_t> MaybeFirstIndex() const;
  // Last index if any entry or snapshot is pending.
  std::optional<uint64_t> MaybeLastIndex() const;
  // Term of entry i if this log knows it.
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;

  // Entries up to (i, t) are persisted. Ignored if the entry at i has since
  // been replaced (its term differs): the newer one still needs persisting.
  void StableTo(uint64_t i, uint64_t t);
  // The snapshot at index i is persisted.
  void StableSnapTo(uint64_t i);

  // Replaces everything with a snapshot from the leader.
  void Restore(const raftpb::Snapshot& snapshot);

  // Appends entries, first truncating any held entries at or after the
  // first new index. Entries before offset_ are on stable storage; if the
  // new ones start there, they replace the whole unstable tail and storage
  // will overwrite its conflicting suffix when these are persisted.
  void TruncateAndAppend(std::vector<raftpb::Entry> entries);

  // Entries in [lo, hi); must lie within [offset_, offset_ + size).
  std::vector<raftpb::Entry> Slice(uint64_t lo, uint64_t hi) const;

  uint64_t offset() const { return offset_; }
  const std::vector<raftpb::Entry>& entries() const { return entries_; }
  const std::optional<raftpb::Snapshot>& snapshot() const { return snapshot_; }

 private:
  std::optional<raftpb::Snapshot> snapshot_;
  std::vector<raftpb::Entry> entries_;
  uint64_t offset_;
};

}  // namespace capstan::raft
