// Progress: what a leader knows about one follower's log, and how it paces
// replication to it.
//
//   kProbe      the leader does not know where the follower's log matches
//               its own. It sends one MsgApp at a time and waits for the
//               answer (or the next heartbeat response) before the next, so
//               a follower far behind is not flooded while the match point
//               is searched for.
//   kReplicate  the match point is known; the leader streams entries
//               optimistically (advancing `next` as it sends), bounded by
//               the inflights window.
//   kSnapshot   the follower needs entries the leader has compacted; a
//               snapshot is on its way and nothing else is sent until it
//               is reported applied or failed.
//
// Invariant: match < next.
#pragma once

#include <cstdint>
#include <string>

#include "raft/inflights.h"

namespace capstan::raft {

enum class ProgressState { kProbe, kReplicate, kSnapshot };

const char* ProgressStateName(ProgressState state);

struct Progress {
  Progress(uint64_t next, size_t max_inflight, uint64_t max_inflight_bytes, bool is_learner)
      : next(next), is_learner(is_learner), inflights(max_inflight, max_inflight_bytes) {}

  uint64_t match = 0;
  uint64_t next;
  ProgressState state = ProgressState::kProbe;
  // kSnapshot: index of the snapshot being sent.
  uint64_t pending_snapshot = 0;
  // Heard from since the last CheckQuorum round.
  bool recent_active = false;
  // kProbe: a MsgApp is out and the leader waits before sending another.
  bool probe_sent = false;
  bool is_learner;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);

  // A MsgAppResp acknowledged entries up to n. Returns false if stale.
  bool MaybeUpdate(uint64_t n);
  // Entries up to n have been sent (kReplicate).
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // The follower rejected a MsgApp whose previous index was `rejected`,
  // hinting that its log may match up to `match_hint`. Returns false if the
  // rejection is stale (an answer to an older message).
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  // Records a MsgApp carrying entries up to last_index.
  void SentEntries(uint64_t last_index, uint64_t bytes);

  // Whether the leader should hold back MsgApp to this follower.
  bool IsPaused() const;

  std::string ToString() const;

 private:
  void ResetState(ProgressState s);
};

}  // namespace capstan::raft
