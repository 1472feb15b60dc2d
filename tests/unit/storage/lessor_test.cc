// Lessor: promotion, demotion and renewals through the log, on an injected
// clock (etcd's lessor Promote/Demote semantics).
#include "storage/lessor.h"

#include <gtest/gtest.h>

#include <map>

#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"

namespace capstan {
namespace {

using namespace std::chrono_literals;
using Clock = Lessor::Clock;

class LessorTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), StoreOptions{}, &store_).ok());
    lessor()->SetClockForTesting([this] { return now_; });
  }
  Lessor* lessor() { return store_->lessor(); }
  void Grant(int64_t id, int64_t ttl) {
    auto b = store_->NewBatch();
    int64_t granted;
    ASSERT_TRUE(lessor()->Grant(b.get(), id, ttl, &granted).ok());
    b->SetApplied(++index_, 1);
    ASSERT_TRUE(b->Commit().ok());
  }
  // A renewal through the log at the next index, recorded in the lease row.
  Status ApplyRenewal(int64_t id, int64_t* ttl) {
    auto b = store_->NewBatch();
    Status s = lessor()->ApplyRenewal(b.get(), id, ++index_, ttl);
    b->SetApplied(index_, 1);
    EXPECT_TRUE(b->Commit().ok());
    return s;
  }
  int64_t Remaining(int64_t id) {
    LeaseInfo info;
    EXPECT_TRUE(lessor()->TimeToLive(id, false, &info).ok());
    return info.remaining_ttl;
  }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
  Clock::time_point now_ = Clock::now();
  uint64_t index_ = 0;
};

TEST_F(LessorTest, NotPrimaryNeverExpires) {
  Grant(1, 5);
  now_ += 60s;
  EXPECT_TRUE(lessor()->Expired(100, 3s).empty());
  lessor()->ResumeAsPrimary();
  EXPECT_EQ(lessor()->Expired(100, 3s), std::vector<int64_t>{1});
}

TEST_F(LessorTest, ReplicatedRenewalAppliesPastTheLocalDeadline) {
  // A follower frozen longer than the TTL: its local deadline passed, but a
  // renewal the leader answered must still apply (it was refused before).
  Grant(1, 5);
  now_ += 12s;
  int64_t ttl = 0;
  ASSERT_TRUE(ApplyRenewal(1, &ttl).ok());
  EXPECT_EQ(ttl, 5);
  EXPECT_EQ(Remaining(1), 5);
  EXPECT_EQ(lessor()->RenewedAt(1), index_);
  // Unknown leases are still unknown.
  EXPECT_TRUE(lessor()->ApplyRenewal(nullptr, 2, 0, &ttl).IsNotFound());
}

TEST_F(LessorTest, PromoteResetsEveryDeadlineToTtlPlusExtend) {
  // The scenario of issue 13 item 1: a member whose clock ran past every
  // deadline (it was stopped) becomes leader. Nothing may expire before
  // TTL + extend from the promotion.
  Grant(1, 5);
  Grant(2, 30);
  now_ += 12s;
  lessor()->Promote(1s, 1000);
  EXPECT_TRUE(lessor()->IsPrimary());
  EXPECT_TRUE(lessor()->Expired(100, 3s).empty());
  EXPECT_EQ(Remaining(1), 6);
  EXPECT_EQ(Remaining(2), 31);
  now_ += 5s + 999ms;
  EXPECT_TRUE(lessor()->Expired(100, 3s).empty());
  now_ += 1ms;
  EXPECT_EQ(lessor()->Expired(100, 3s), std::vector<int64_t>{1});
}

TEST_F(LessorTest, PromoteIgnoresAStaleCheckpoint) {
  // A checkpoint says 1 s was left, then the old leader answered a keep-alive
  // whose renewal never reached this member: the full TTL is honoured.
  Grant(1, 10);
  {
    auto b = store_->NewBatch();
    ASSERT_TRUE(lessor()->Checkpoint(b.get(), 1, 1).ok());
    b->SetApplied(++index_, 1);
    ASSERT_TRUE(b->Commit().ok());
  }
  lessor()->Promote(1s, 1000);
  EXPECT_EQ(Remaining(1), 11);
}

TEST_F(LessorTest, DemoteStopsExpiryAndRenewalsStillApply) {
  Grant(1, 5);
  lessor()->Promote(0s, 1000);
  lessor()->Demote();
  EXPECT_FALSE(lessor()->IsPrimary());
  now_ += 10s;
  EXPECT_TRUE(lessor()->Expired(100, 3s).empty());
  int64_t ttl = 0;
  // Not primary: a local Renew does not refuse an expired deadline either.
  EXPECT_TRUE(lessor()->Renew(1, &ttl).ok());
}

TEST_F(LessorTest, PrimaryRefusesToRenewAnExpiredLease) {
  Grant(1, 5);
  lessor()->Promote(0s, 1000);
  now_ += 5s;
  int64_t ttl = 0;
  EXPECT_TRUE(lessor()->Renew(1, &ttl).IsNotFound());
  // Through the log it applies anyway (the expiry decided before skips it).
  EXPECT_TRUE(ApplyRenewal(1, &ttl).ok());
  EXPECT_EQ(Remaining(1), 5);
}

TEST_F(LessorTest, RenewedAtSurvivesARestart) {
  // Expiry decisions compare it on every member: it is replicated state.
  Grant(1, 5);
  int64_t ttl = 0;
  ASSERT_TRUE(ApplyRenewal(1, &ttl).ok());
  const uint64_t at = index_;
  Open();
  EXPECT_EQ(lessor()->RenewedAt(1), at);
  EXPECT_TRUE(lessor()->Exists(1));
}

TEST_F(LessorTest, PromoteSpreadsPiledUpLeases) {
  // etcd's rule: with at least `rate` leases, at most 3/4 of the rate expire
  // in any one second after a promotion.
  constexpr int64_t kRate = 100;
  constexpr int kLeases = 400;
  for (int i = 1; i <= kLeases; ++i) Grant(i, 10);
  lessor()->Promote(1s, kRate);
  std::map<int64_t, int> per_second;  // whole seconds from now -> leases expiring then
  for (int i = 1; i <= kLeases; ++i) {
    LeaseInfo info;
    ASSERT_TRUE(lessor()->TimeToLive(i, false, &info).ok());
    EXPECT_GE(info.remaining_ttl, 11) << i;  // never earlier than TTL + extend
    per_second[info.remaining_ttl]++;
  }
  for (auto [second, n] : per_second) EXPECT_LE(n, 3 * kRate / 4 + 1) << second;
  EXPECT_GE(per_second.size(), 5u);
  // Fewer leases than the rate: no spreading.
  Open();
  lessor()->Promote(1s, kLeases + 1);
  EXPECT_EQ(Remaining(kLeases), 11);
}

}  // namespace
}  // namespace capstan
