// Ready: what the Raft core asks the application to do, in one batch.
//
// The application handles a Ready in this order (see docs/raft.md):
//   1. Persist `snapshot` (if any), `entries` and `hard_state` (if any),
//      together: a HardState must never be durable without the entries its
//      commit index covers. Entries replace any persisted ones at the same
//      or later indexes.
//   2. Send `messages` (only now: a vote or an acknowledgement promises the
//      state persisted in step 1).
//   3. Apply `snapshot`, then `committed_entries`, to the state machine,
//      calling RawNode::ApplyConfChange for each conf change entry.
//   4. Call RawNode::Advance.
// `read_states` may be served once the state machine has applied their index.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raftpb.pb.h"

namespace capstan::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };

const char* RoleName(Role role);

// Volatile state worth reporting; not persisted.
struct SoftState {
  uint64_t lead = 0;  // 0 = no leader known
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A linearizable read may be served once the state machine has applied
// `index`. `request_ctx` is the context given to RawNode::ReadIndex.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;
};

struct Ready {
  std::optional<SoftState> soft_state;           // set if changed
  std::optional<raftpb::HardState> hard_state;   // set if changed
  std::vector<raftpb::Entry> entries;            // to persist
  std::optional<raftpb::Snapshot> snapshot;      // to persist and apply
  std::vector<raftpb::Message> messages;         // to send after persisting
  std::vector<raftpb::Entry> committed_entries;  // to apply
  std::vector<ReadState> read_states;
  // Whether persisting needs an fsync: entries, or a new term or vote, must
  // be durable before messages go out; a commit index alone need not be
  // (it is recomputed from a quorum after a crash).
  bool must_sync = false;
};

}  // namespace capstan::raft
