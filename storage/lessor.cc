#include "storage/lessor.h"

#include <algorithm>

#include "storage/mvcc_store.h"
#include "storage/revision.h"

namespace capstan {
namespace {

std::string LeaseKey(int64_t id) {
  std::string k(8, '\0');
  PutBigEndian64(k.data(), static_cast<uint64_t>(id));
  return k;
}

// Row: granted TTL, then remaining TTL, both big-endian seconds; then, once
// a renewal was recorded through the log, its log index (big-endian).
std::string LeaseRow(int64_t ttl, int64_t remaining, uint64_t renewed_at) {
  std::string v(renewed_at > 0 ? 24 : 16, '\0');
  PutBigEndian64(v.data(), static_cast<uint64_t>(ttl));
  PutBigEndian64(v.data() + 8, static_cast<uint64_t>(remaining));
  if (renewed_at > 0) PutBigEndian64(v.data() + 16, renewed_at);
  return v;
}

}  // namespace

int64_t Lessor::RemainingSeconds(const Lease& l, Clock::time_point now) {
  if (l.deadline <= now) return 0;
  // Whole seconds, truncated, as etcd reports them.
  return std::chrono::duration_cast<std::chrono::seconds>(l.deadline - now).count();
}

void Lessor::PersistLocked(WriteBatch* batch, int64_t id, const Lease& l) {
  batch->PutAux(Table::kLease, LeaseKey(id), LeaseRow(l.ttl, l.persisted_remaining, l.renewed_at));
}

void Lessor::SetClockForTesting(std::function<Clock::time_point()> now) {
  std::lock_guard lock(mu_);
  now_ = std::move(now);
}

void Lessor::Promote(Clock::duration extend, int64_t revoke_rate) {
  std::lock_guard lock(mu_);
  primary_ = true;
  const auto now = Now();
  for (auto& [id, l] : leases_) {
    l.deadline = now + extend + std::chrono::seconds(l.ttl);
    l.expiry_reported = Clock::time_point{};
  }
  if (revoke_rate <= 0 || static_cast<int64_t>(leases_.size()) < revoke_rate) return;
  // etcd's pile-up rule: walking the leases by deadline, once more than 3/4
  // of the revoke rate would expire within a second of the current window's
  // start, push each further one back in proportion, so that expiry storms
  // after a leader change drain at below the revoke rate.
  std::vector<Lease*> by_deadline;
  by_deadline.reserve(leases_.size());
  for (auto& [id, l] : leases_) by_deadline.push_back(&l);
  std::stable_sort(by_deadline.begin(), by_deadline.end(),
                   [](const Lease* a, const Lease* b) { return a->deadline < b->deadline; });
  using std::chrono::duration;
  const double target_per_second = static_cast<double>((3 * revoke_rate) / 4);
  if (target_per_second <= 0) return;
  Clock::duration base_window = by_deadline.front()->deadline - now;
  Clock::duration next_window = base_window + std::chrono::seconds(1);
  int64_t expires = 0;
  for (Lease* l : by_deadline) {
    const Clock::duration remaining = l->deadline - now;
    if (remaining > next_window) {
      base_window = remaining;
      next_window = base_window + std::chrono::seconds(1);
      expires = 1;
      continue;
    }
    expires++;
    if (static_cast<double>(expires) <= target_per_second) continue;
    // Leases already n seconds past the window's start are delayed n less.
    const duration<double> rate_delay =
        duration<double>(1.0) * (static_cast<double>(expires) / target_per_second) -
        duration<double>(remaining - base_window);
    const auto delay = std::chrono::duration_cast<Clock::duration>(rate_delay);
    next_window = base_window + delay;
    l->deadline = now + extend + std::chrono::seconds(l->ttl) + delay;
  }
}

void Lessor::ResumeAsPrimary() {
  std::lock_guard lock(mu_);
  primary_ = true;
}

void Lessor::Demote() {
  std::lock_guard lock(mu_);
  primary_ = false;
}

bool Lessor::IsPrimary() const {
  std::lock_guard lock(mu_);
  return primary_;
}

Status Lessor::Grant(WriteBatch* batch, int64_t id, int64_t ttl, int64_t* granted) {
  std::lock_guard lock(mu_);
  if (leases_.count(id)) return Status::FailedPrecondition("lease already exists");
  Lease& l = leases_[id];
  l.ttl = std::max(ttl, min_ttl_);
  l.persisted_remaining = l.ttl;
  l.deadline = Now() + std::chrono::seconds(l.ttl);
  PersistLocked(batch, id, l);
  *granted = l.ttl;
  return Status::OK();
}

Status Lessor::Revoke(WriteBatch* batch, int64_t id) {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return Status::NotFound("requested lease not found");
    keys.assign(it->second.keys.begin(), it->second.keys.end());
  }
  // DeleteRange calls OnDelete, which takes the lock: delete outside it.
  for (const std::string& k : keys) {
    int64_t n;
    Status s = batch->DeleteRange(KeyRange{k, ""}, nullptr, &n);
    if (!s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  leases_.erase(id);
  return batch->DeleteAux(Table::kLease, LeaseKey(id));
}

Status Lessor::Checkpoint(WriteBatch* batch, int64_t id, int64_t remaining_ttl) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::OK();
  it->second.persisted_remaining = std::max<int64_t>(remaining_ttl, 1);
  PersistLocked(batch, id, it->second);
  return Status::OK();
}

void Lessor::OnPut(std::string_view key, int64_t lease) {
  std::lock_guard lock(mu_);
  if (lease == 0 && key_lease_.empty()) return;  // the common case: no leases in play
  auto it = key_lease_.find(key);
  if (it != key_lease_.end()) {
    if (it->second == lease) return;
    if (auto l = leases_.find(it->second); l != leases_.end()) l->second.keys.erase(it->first);
    key_lease_.erase(it);
  }
  if (lease == 0) return;
  if (auto l = leases_.find(lease); l != leases_.end()) {
    l->second.keys.emplace(key);
    key_lease_.emplace(std::string(key), lease);
  }
}

void Lessor::OnDelete(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = key_lease_.find(key);
  if (it == key_lease_.end()) return;
  if (auto l = leases_.find(it->second); l != leases_.end()) l->second.keys.erase(it->first);
  key_lease_.erase(it);
}

bool Lessor::Exists(int64_t id) const {
  std::lock_guard lock(mu_);
  return leases_.count(id) > 0;
}

Status Lessor::Renew(int64_t id, int64_t* ttl) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  const auto now = Now();
  // On the primary an expired lease is as good as revoked: its revocation is
  // on its way. Elsewhere deadlines decide nothing.
  if (it == leases_.end() || (primary_ && it->second.deadline <= now)) {
    return Status::NotFound("requested lease not found");
  }
  it->second.deadline = now + std::chrono::seconds(it->second.ttl);
  *ttl = it->second.ttl;
  return Status::OK();
}

Status Lessor::ApplyRenewal(WriteBatch* batch, int64_t id, uint64_t index, int64_t* ttl) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::NotFound("requested lease not found");
  Lease& l = it->second;
  l.deadline = Now() + std::chrono::seconds(l.ttl);
  l.expiry_reported = Clock::time_point{};
  *ttl = l.ttl;
  if (batch != nullptr) {
    // As etcd clears a checkpointed remaining TTL on renewal.
    l.persisted_remaining = l.ttl;
    l.renewed_at = std::max(l.renewed_at, index);
    PersistLocked(batch, id, l);
  }
  return Status::OK();
}

uint64_t Lessor::RenewedAt(int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  return it == leases_.end() ? 0 : it->second.renewed_at;
}

Status Lessor::TimeToLive(int64_t id, bool with_keys, LeaseInfo* out) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::NotFound("requested lease not found");
  out->id = id;
  out->granted_ttl = it->second.ttl;
  out->remaining_ttl = RemainingSeconds(it->second, Now());
  if (with_keys) out->keys.assign(it->second.keys.begin(), it->second.keys.end());
  return Status::OK();
}

std::vector<int64_t> Lessor::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Clock::time_point, int64_t>> by_deadline;
  by_deadline.reserve(leases_.size());
  for (const auto& [id, l] : leases_) by_deadline.emplace_back(l.deadline, id);
  std::sort(by_deadline.begin(), by_deadline.end());  // soonest expiry first, as etcd lists
  std::vector<int64_t> ids;
  ids.reserve(by_deadline.size());
  for (const auto& [deadline, id] : by_deadline) ids.push_back(id);
  return ids;
}

std::vector<int64_t> Lessor::Expired(size_t max, Clock::duration retry) {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  if (!primary_) return out;  // only the primary decides expiry
  const auto now = Now();
  for (auto& [id, l] : leases_) {
    if (out.size() >= max) break;
    if (l.deadline > now) continue;
    if (l.expiry_reported != Clock::time_point{} && now - l.expiry_reported < retry) continue;
    l.expiry_reported = now;
    out.push_back(id);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> Lessor::CheckpointsDue(size_t max,
                                                                std::chrono::seconds drift) {
  std::lock_guard lock(mu_);
  const auto now = Now();
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& [id, l] : leases_) {
    if (out.size() >= max) break;
    int64_t remaining = RemainingSeconds(l, now);
    if (remaining == 0) continue;  // expiring: revocation, not a checkpoint
    // Long leases tolerate proportionally more drift, bounding checkpoint
    // traffic for leases that are kept alive.
    const int64_t threshold = std::max<int64_t>(drift.count(), l.ttl / 4);
    if (std::abs(l.persisted_remaining - remaining) >= threshold) {
      out.emplace_back(id, remaining);
    }
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> Lessor::Remaining() const {
  std::lock_guard lock(mu_);
  const auto now = Now();
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& [id, l] : leases_) {
    int64_t remaining = RemainingSeconds(l, now);
    if (remaining > 0) out.emplace_back(id, remaining);
  }
  return out;
}

Status Lessor::Load(const MvccStore& store) {
  std::lock_guard lock(mu_);
  const auto now = Now();
  // Replaces whatever was loaded before (a store restored from a snapshot).
  leases_.clear();
  key_lease_.clear();
  return store.ScanAux(Table::kLease, [&](std::string_view key, std::string_view value) {
    if (key.size() != 8 || (value.size() != 16 && value.size() != 24)) return;
    Lease& l = leases_[static_cast<int64_t>(GetBigEndian64(key.data()))];
    l.ttl = static_cast<int64_t>(GetBigEndian64(value.data()));
    l.persisted_remaining = static_cast<int64_t>(GetBigEndian64(value.data() + 8));
    if (value.size() == 24) l.renewed_at = GetBigEndian64(value.data() + 16);
    l.deadline = now + std::chrono::seconds(l.persisted_remaining);
  });
}

}  // namespace capstan
