// MemoryStorage: a LogStorage that keeps everything in memory.
//
// The node driver keeps the log here and makes it durable in the WAL on the
// side (the WAL is only read at startup, to refill a MemoryStorage); tests use
// it as the "disk" that survives a simulated crash. It holds the latest
// snapshot's metadata, the entries after it, and the HardState.
//
// Thread-safe: the driver appends from its Raft thread while the apply side
// creates snapshots and compacts.
#pragma once

#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "raft/log_storage.h"

namespace capstan::raft {

class MemoryStorage : public LogStorage {
 public:
  MemoryStorage();

  MemoryStorage(const MemoryStorage&) = delete;
  MemoryStorage& operator=(const MemoryStorage&) = delete;

  Status InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf_state) const override;
  Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                 std::vector<raftpb::Entry>* out) const override;
  Status Term(uint64_t i, uint64_t* term) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  Status Snapshot(raftpb::Snapshot* out) const override;

  void SetHardState(const raftpb::HardState& hard_state);

  // For a fresh storage: the membership the log starts with, as if a
  // snapshot at index 0 held it. An alternative to RawNode::Bootstrap for
  // tests and fixed clusters: a member added later learns the membership
  // only from the log or a snapshot, and this one is in neither (until the
  // leader's first snapshot), so growing clusters should Bootstrap.
  void SetInitialConfState(const raftpb::ConfState& conf_state);

  // Replaces the whole log with `snapshot` (a follower catching up). Fails
  // with OutOfRange if it is not newer than the snapshot held.
  Status ApplySnapshot(const raftpb::Snapshot& snapshot);

  // Records a snapshot of the state machine at `index` (which must be held
  // in the log) and returns it in *out if not null. Entries are kept; call
  // Compact to release them. OutOfRange if `index` is not newer than the
  // current snapshot.
  Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state, std::string data,
                        raftpb::Snapshot* out);

  // Discards entries before `compact_index`; the entry at compact_index
  // stays as the new dummy (its term is still answered). It must not be
  // after the last snapshot the application has taken of its state, or a
  // follower needing those entries could not be caught up. OutOfRange if
  // already compacted.
  Status Compact(uint64_t compact_index);

  // Appends entries, replacing any held entries at or after the first
  // one's index (a leader overwrote a conflicting suffix). Entries at or
  // before the snapshot are ignored.
  Status Append(std::span<const raftpb::Entry> entries);

 private:
  uint64_t FirstIndexLocked() const { return ents_[0].index() + 1; }
  uint64_t LastIndexLocked() const { return ents_[0].index() + ents_.size() - 1; }

  mutable std::mutex mu_;
  raftpb::HardState hard_state_;
  raftpb::Snapshot snapshot_;
  // ents_[0] is a dummy carrying the index and term of the snapshot (or of
  // the last compacted entry), so ents_[i] has index ents_[0].index() + i.
  std::vector<raftpb::Entry> ents_;
};

}  // namespace capstan::raft
