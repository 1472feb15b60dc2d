// RawNode: the application's handle on a Raft member.
//
// It wraps the core (raft.h) and packs its outputs into Ready batches. The
// application owns the loop:
//
//   node->Tick() every tick interval; node->Step(m) for every message from a
//   peer; node->Propose(...) etc. for client requests; then
//   while (node->HasReady()) {
//     Ready rd = node->GetReady();
//     persist rd.snapshot, rd.entries, rd.hard_state (together);
//     send rd.messages;
//     apply rd.snapshot, rd.committed_entries (ApplyConfChange for conf
//       changes); serve rd.read_states once applied up to their index;
//     node->Advance();
//   }
//
// See ready.h and docs/raft.md for the exact contract. Not thread-safe: one
// thread drives a RawNode.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "raft/config.h"
#include "raft/raft.h"
#include "raft/raft_status.h"
#include "raft/ready.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

class RawNode {
  struct Passkey {};

 public:
  // Builds a member from config and the state in config.storage. A member
  // of a new cluster then calls Bootstrap; a restarted member or one joining
  // an existing cluster does not.
  static Status Create(const Config& config, std::unique_ptr<RawNode>* node);
  RawNode(Passkey, std::unique_ptr<Raft> raft);

  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Starts a new cluster with `voters` (this member among them): appends
  // one committed conf change per voter at term 1, which the first Ready
  // hands to the application to persist and apply. Every initial member must
  // bootstrap with the same list. FailedPrecondition if the log is not empty.
  Status Bootstrap(std::span<const uint64_t> voters);

  // Advances the logical clock by one tick.
  void Tick();

  // Starts an election now (tests, or an operator forcing one).
  Status Campaign();

  // Proposes a command. OK means accepted for replication, not committed:
  // the entry may still be lost (leader change) and comes back in
  // committed_entries only if it commits. Unavailable when dropped (no
  // leader, leadership transfer in progress, forwarding disabled).
  Status Propose(std::string data);

  // Proposes a membership change (one voter at a time). FailedPrecondition
  // if this member leads and another change is not yet applied.
  Status ProposeConfChange(const raftpb::ConfChange& cc);

  // Applies a committed conf change; call it while applying the entry.
  // Returns the membership now in force.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);

  // Feeds a message from a peer. InvalidArgument for a local message type;
  // NotFound (ignored) for a response from a member not in the config.
  Status Step(const raftpb::Message& m);

  // Requests a linearizable read point. When confirmed, a ReadState with the
  // same context appears in a Ready; contexts must be unique among pending
  // requests. Lost silently on a leader change: the caller times out.
  Status ReadIndex(std::string request_ctx);

  // Asks the leader to hand leadership to `transferee` (forwarded by
  // followers). The leader stops accepting proposals until the transfer
  // completes or an election timeout passes.
  Status TransferLeadership(uint64_t transferee);

  // The transport could not reach `id`: stop streaming to it optimistically.
  void ReportUnreachable(uint64_t id);
  // The transport finished (or failed) sending a snapshot to `id`.
  void ReportSnapshot(uint64_t id, bool success);

  // Whether there is anything to do; false while a Ready awaits Advance.
  bool HasReady() const;
  // The next batch. Call Advance before asking for another.
  Ready GetReady();
  // The last Ready has been handled: its entries and snapshot are persisted
  // and its committed entries applied.
  void Advance();

  RaftStatus GetStatus() const;

  // The core, for inspection (tests, status).
  const Raft& raft() const { return *raft_; }

 private:
  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  raftpb::HardState prev_hard_;

  // What the outstanding Ready handed out, for Advance.
  bool awaiting_advance_ = false;
  uint64_t ready_stable_index_ = 0;
  uint64_t ready_stable_term_ = 0;
  uint64_t ready_snapshot_index_ = 0;
  uint64_t ready_applied_index_ = 0;
};

}  // namespace capstan::raft
