// Lessor: leases, the keys attached to them, and their deadlines.
//
// Grants, revocations and checkpoints are state-machine changes: they arrive
// through the log and are written in the apply loop's WriteBatch, so every
// member holds the same leases. Deadlines are local, and only the primary's
// count (etcd's lessor): the cluster's leader once it applied everything of
// earlier terms (Promote), or a single member. The primary reports expired
// leases (the server proposes their revocation) and refuses to renew them; a
// member that is not primary never expires a lease and applies every
// replicated renewal. Promote resets every deadline to now + TTL + `extend`
// (an election timeout), as etcd does, so that a keep-alive answered by the
// previous leader is honoured whatever this member's clock said; a single
// member that restarts instead counts down from the persisted remaining TTL
// (ResumeAsPrimary). Expired leases are only reported.
//
// Thread-safety: all methods lock internally; keys attach and detach from
// inside WriteBatch (apply thread), reads come from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace capstan {

class MvccStore;
class WriteBatch;

inline constexpr int64_t kMaxLeaseTTL = 9000000000;  // seconds, as etcd

struct LeaseInfo {
  int64_t id = 0;
  int64_t granted_ttl = 0;    // seconds
  int64_t remaining_ttl = 0;  // whole seconds left (truncated, as etcd); 0 once expired
  std::vector<std::string> keys;
};

class Lessor {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Lessor(int64_t min_ttl = 2) : min_ttl_(min_ttl) {}

  // Tests: the clock deadlines are measured with (steady_clock by default).
  void SetClockForTesting(std::function<Clock::time_point()> now);

  // --- Primary (see above; any thread).
  // This member now decides expiry: every deadline becomes now + extend +
  // TTL. With at least `revoke_rate` leases, deadlines that would pile up are
  // spread so that at most 3/4 of the rate expire in any second (etcd's rule).
  void Promote(Clock::duration extend, int64_t revoke_rate);
  // A single member: becomes primary keeping its deadlines (those Load set).
  void ResumeAsPrimary();
  // Not primary any more: nothing expires here until the next Promote.
  void Demote();
  bool IsPrimary() const;

  // --- State-machine changes (apply thread, inside `batch`).
  // Returns the granted TTL (raised to the minimum). FailedPrecondition if it exists.
  Status Grant(WriteBatch* batch, int64_t id, int64_t ttl, int64_t* granted);
  // Deletes every attached key (in the batch's current transaction) and the
  // lease. NotFound if there is no such lease.
  Status Revoke(WriteBatch* batch, int64_t id);
  // Persists the remaining TTL of a lease (ignored if the lease is gone).
  Status Checkpoint(WriteBatch* batch, int64_t id, int64_t remaining_ttl);

  // Called by WriteBatch for every put/delete so attachments follow the data.
  void OnPut(std::string_view key, int64_t lease);
  void OnDelete(std::string_view key);

  // --- Local (any thread).
  bool Exists(int64_t id) const;
  // A keep-alive answered by this member (the primary): resets the deadline
  // to now + TTL. NotFound if absent, or expired on the primary (its
  // revocation is on its way; etcd answers TTL 0 then too).
  Status Renew(int64_t id, int64_t* ttl);
  // A renewal that arrived through the log (apply thread): always resets the
  // deadline to now + TTL, whatever this member's clock said (the member that
  // answered it decided; etcd's non-primary Renew). NotFound if absent.
  // With `batch`, the renewal is recorded in the lease row at log index
  // `index` (RenewedAt), so that an expiry decided before it skips the lease.
  Status ApplyRenewal(WriteBatch* batch, int64_t id, uint64_t index, int64_t* ttl);
  // The log index of the last renewal recorded by ApplyRenewal (0 if none);
  // the same on every member, since it is part of the replicated state.
  uint64_t RenewedAt(int64_t id) const;
  Status TimeToLive(int64_t id, bool with_keys, LeaseInfo* out) const;
  std::vector<int64_t> List() const;
  // Up to `max` expired leases not reported in the last `retry` interval;
  // none unless primary.
  std::vector<int64_t> Expired(size_t max, Clock::duration retry);
  // Leases whose remaining TTL drifted from the persisted one by at least
  // `drift` (or a quarter of their TTL, if more), with their current remaining TTL.
  std::vector<std::pair<int64_t, int64_t>> CheckpointsDue(size_t max, std::chrono::seconds drift);

  // Every live lease with its remaining TTL (a checkpoint of all, at shutdown).
  std::vector<std::pair<int64_t, int64_t>> Remaining() const;

  // Rebuilds leases from the store at start-up (or after the store was
  // replaced by a snapshot); deadlines restart from the persisted remaining TTLs. Attachments are restored by MvccStore itself.
  Status Load(const MvccStore& store);

 private:
  struct Lease {
    int64_t ttl = 0;
    int64_t persisted_remaining = 0;
    uint64_t renewed_at = 0;  // log index of the last recorded renewal
    Clock::time_point deadline;
    Clock::time_point expiry_reported{};  // when Expired() last returned it
    std::set<std::string> keys;
  };
  static int64_t RemainingSeconds(const Lease& l, Clock::time_point now);
  void PersistLocked(WriteBatch* batch, int64_t id, const Lease& l);

  Clock::time_point Now() const { return now_ ? now_() : Clock::now(); }

  const int64_t min_ttl_;
  std::function<Clock::time_point()> now_;  // set before use, by tests only
  mutable std::mutex mu_;
  bool primary_ = false;
  std::map<int64_t, Lease> leases_;
  std::map<std::string, int64_t, std::less<>> key_lease_;  // attached keys only
};

}  // namespace capstan
