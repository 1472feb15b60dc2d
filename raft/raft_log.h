// RaftLog: the log as the Raft core sees it, stable storage plus unstable tail.
//
// Tracks two cursors besides the entries: committed (highest index known to
// be on a quorum) and applied (highest index handed to the application in a
// Ready and acknowledged by Advance). Always
//   FirstIndex() - 1 <= applied <= committed <= LastIndex().
// Committed entries are never truncated: an append that would do so is a
// bug and stops the process (see invariant.h).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "raft/log_storage.h"
#include "raft/unstable_log.h"
#include "storage/status.h"

namespace capstan::raft {

class RaftLog {
 public:
  // `storage` must outlive the log. Committed entries handed out by one
  // Ready are limited to max_committed_bytes in total.
  RaftLog(const LogStorage* storage, uint64_t max_committed_bytes);

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }

  // Term of entry i: OutOfRange if compacted, NotFound if after the end.
  Status Term(uint64_t i, uint64_t* term) const;
  // Term of entry i, or 0 if not available.
  uint64_t TermOrZero(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t term) const;

  // Whether a log ending at (last_index, last_term) is at least as
  // up-to-date as this one (Raft paper, 5.4.1).
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;

  // Follower side of AppendEntries: if the entry at `index` has `log_term`,
  // appends `entries` after it (truncating a conflicting suffix), commits up
  // to min(committed, last new index) and returns the last new index.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                      std::vector<raftpb::Entry> entries);

  // Appends entries after a prefix of the log (the leader appending its own
  // entries, or after truncation). Returns the new last index.
  uint64_t Append(std::vector<raftpb::Entry> entries);

  // The index of the first entry in `entries` that conflicts with the log
  // (same index, different term) or is new; 0 if all are already present.
  uint64_t FindConflict(const std::vector<raftpb::Entry>& entries) const;

  // The largest index <= `index` whose term is <= `term`, with that term.
  // Used for fast backtracking: entries in between cannot match a log whose
  // entry at `index` has term `term`. If the term at some index is not
  // known (compacted), returns that index with term 0.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Entries in [lo, hi), stopping once max_bytes is exceeded (at least one).
  // OutOfRange if lo is compacted.
  Status Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<raftpb::Entry>* out) const;
  // Entries from i to the end, limited like Slice.
  Status EntriesFrom(uint64_t i, uint64_t max_bytes, std::vector<raftpb::Entry>* out) const;

  void CommitTo(uint64_t index);
  // Advances commit to max_index if its entry has `term`: a leader only
  // counts replicas for entries of its own term (Raft paper, 5.4.2).
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void AppliedTo(uint64_t index);

  // For a Ready: unpersisted entries, a pending snapshot, and committed but
  // not yet applied entries (none while a snapshot is pending: it must be
  // applied first).
  const std::vector<raftpb::Entry>& UnstableEntries() const { return unstable_.entries(); }
  const std::optional<raftpb::Snapshot>& PendingSnapshot() const { return unstable_.snapshot(); }
  bool HasNextCommittedEntries() const;
  std::vector<raftpb::Entry> NextCommittedEntries() const;

  void StableTo(uint64_t i, uint64_t t) { unstable_.StableTo(i, t); }
  void StableSnapTo(uint64_t i) { unstable_.StableSnapTo(i); }

  // The snapshot to send a follower: pending one first, else storage's.
  Status Snapshot(raftpb::Snapshot* out) const;
  // Replaces the log with a snapshot received from the leader.
  void Restore(const raftpb::Snapshot& snapshot);

 private:
  const LogStorage* storage_;
  UnstableLog unstable_;
  uint64_t committed_;
  uint64_t applied_;
  uint64_t max_committed_bytes_;
};

}  // namespace capstan::raft
