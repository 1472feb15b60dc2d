// Lessor: leases, the keys attached to them, and their deadlines.
//
// Grants, revocations and checkpoints are state-machine changes: they arrive
// through the log and are written in the apply loop's WriteBatch, so every
// member holds the same leases. Deadlines are local: a lease's remaining TTL is
// persisted (at grant and at checkpoints), and a member that starts or takes
// over counts down from it instead of from the full TTL, so restarts and
// leader changes neither shorten nor reset leases by more than one checkpoint
// interval. Expired leases are only reported; the server proposes their revocation.
//
// Thread-safety: all methods lock internally; keys attach and detach from
// inside WriteBatch (apply thread), reads come from any thread.
#pragma once

#include <chrono>
#include <cstdint>
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
  // Resets the deadline to now + TTL. NotFound if absent or already expired.
  Status Renew(int64_t id, int64_t* ttl);
  Status TimeToLive(int64_t id, bool with_keys, LeaseInfo* out) const;
  std::vector<int64_t> List() const;
  // Up to `max` expired leases not reported in the last `retry` interval.
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
    Clock::time_point deadline;
    Clock::time_point expiry_reported{};  // when Expired() last returned it
    std::set<std::string> keys;
  };
  static int64_t RemainingSeconds(const Lease& l, Clock::time_point now);
  void PersistLocked(WriteBatch* batch, int64_t id, const Lease& l);

  const int64_t min_ttl_;
  mutable std::mutex mu_;
  std::map<int64_t, Lease> leases_;
  std::map<std::string, int64_t, std::less<>> key_lease_;  // attached keys only
};

}  // namespace capstan
