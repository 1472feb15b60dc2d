// LogStorage: how the Raft core reads the stable part of its log.
//
// The core never writes storage: the application persists what a Ready hands
// it (entries, HardState, snapshot) and then calls RawNode::Advance, after
// which the core reads those entries back through this interface. Entries
// live in the half-open range [FirstIndex(), LastIndex()]; the entry just
// before FirstIndex() is covered by the latest snapshot, whose index and term
// Term() still reports so that appends right after it can be matched.
//
// Error contract (the core relies on these codes, not on messages):
//   OutOfRange    the index is compacted (at or before the snapshot);
//   NotFound      the index is after LastIndex();
//   Unavailable   Snapshot() only: not ready yet, try again later.
// Any other error is treated as fatal by the core: a storage that cannot read
// what it acknowledged as durable cannot continue safely.
//
// Methods may be called from the thread driving the core only; an
// implementation shared with other threads must do its own locking.
#pragma once

#include <cstdint>
#include <vector>

#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // The persisted HardState and the membership as of the latest snapshot
  // (the core replays later conf changes through committed entries).
  virtual Status InitialState(raftpb::HardState* hard_state,
                              raftpb::ConfState* conf_state) const = 0;

  // Entries in [lo, hi), at least one if any is in range, stopping before the
  // total size would exceed max_bytes.
  virtual Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                         std::vector<raftpb::Entry>* out) const = 0;

  // Term of entry i, for i in [FirstIndex() - 1, LastIndex()].
  virtual Status Term(uint64_t i, uint64_t* term) const = 0;

  // Index of the first entry still held (snapshot index + 1).
  virtual uint64_t FirstIndex() const = 0;
  // Index of the last entry, or the snapshot index if no entry follows it.
  virtual uint64_t LastIndex() const = 0;

  // The most recent snapshot, to send to a follower that needs compacted
  // entries.
  virtual Status Snapshot(raftpb::Snapshot* out) const = 0;
};

}  // namespace capstan::raft
