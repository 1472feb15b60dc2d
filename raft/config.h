// Config: the parameters of one Raft member.
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/status.h"

namespace capstan::raft {

class LogStorage;

struct Config {
  // This member's id; never 0 (0 means "none" in messages and votes).
  uint64_t id = 0;

  // Ticks without hearing from a leader before a follower campaigns. The
  // actual timeout is drawn from [election_tick, 2 * election_tick) after
  // every reset, so that members rarely time out together and split votes.
  int election_tick = 10;
  // Ticks between a leader's heartbeats. Must be less than election_tick.
  int heartbeat_tick = 1;

  // The stable log; must outlive the core. Read only by the core.
  const LogStorage* storage = nullptr;

  // The last index the state machine has applied, when restarting; the
  // first Ready delivers committed entries after it. 0 = from the snapshot.
  uint64_t applied = 0;

  // Flow control. A MsgApp carries at most max_size_per_msg bytes of entries
  // (at least one entry); at most max_inflight_msgs MsgApps (and, if not 0,
  // max_inflight_bytes of entries) are unacknowledged per follower.
  uint64_t max_size_per_msg = 1 << 20;
  size_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 0;
  // Bytes of committed entries handed out in one Ready (at least one entry).
  uint64_t max_committed_size_per_ready = 64 << 20;

  // A leader steps down when it has not heard from a quorum within an
  // election timeout, and a follower that has heard from a leader within an
  // election timeout ignores vote requests (it would not help anyone win).
  bool check_quorum = false;
  // Campaigns first ask whether they could win (without raising terms), so a
  // member rejoining from a partition does not depose a working leader.
  bool pre_vote = false;
  // Followers drop proposals (Propose fails) instead of forwarding them to
  // the leader: for applications that want to know where a write went.
  bool disable_proposal_forwarding = false;

  // Seeds the generator of randomized election timeouts. Mixed with the id,
  // so members of one cluster may share a seed. Same seed, same inputs: same
  // behaviour, which the simulation tests rely on.
  uint64_t seed = 0;

  Status Validate() const;
};

}  // namespace capstan::raft
