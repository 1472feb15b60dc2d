#include "api/auto_compactor.h"

#include <gtest/gtest.h>

namespace capstan::api {
namespace {

using namespace std::chrono_literals;
using Clock = AutoCompactor::Clock;

TEST(AutoCompactorTest, PeriodicKeepsOnePeriodOfHistory) {
  auto c = AutoCompactor::Periodic(10s);
  ASSERT_EQ(c->sample_interval(), 1s);
  Clock::time_point t{};
  t += 1h;
  int64_t rev = 100;
  std::vector<int64_t> compacted;
  // Ten revisions a second for 30 s.
  for (int i = 0; i <= 30; ++i) {
    int64_t r = c->OnSample(t + std::chrono::seconds(i), rev + 10 * i);
    if (r) compacted.push_back(r);
  }
  // First after a full period, to the revision seen a period earlier; then
  // every period (10 s, under the 1 h cap).
  ASSERT_EQ(compacted.size(), 3u);
  EXPECT_EQ(compacted[0], 100);  // at t=10s: sampled at t=0
  EXPECT_EQ(compacted[1], 200);  // at t=20s: sampled at t=10s
  EXPECT_EQ(compacted[2], 300);
}

TEST(AutoCompactorTest, PeriodicNeverCompactsTheSameRevisionTwice) {
  auto c = AutoCompactor::Periodic(2s);
  Clock::time_point t{};
  int n = 0;
  for (int i = 0; i < 100; ++i) {
    if (c->OnSample(t + std::chrono::milliseconds(200 * i), 42)) ++n;  // no writes
  }
  EXPECT_EQ(n, 1);
}

TEST(AutoCompactorTest, RevisionModeKeepsRetention) {
  auto c = AutoCompactor::Revisions(1000);
  Clock::time_point t{};
  EXPECT_EQ(c->OnSample(t, 500), 0);
  EXPECT_EQ(c->OnSample(t + 5min, 1500), 500);
  EXPECT_EQ(c->OnSample(t + 10min, 1500), 0);  // nothing new
  EXPECT_EQ(c->OnSample(t + 15min, 4000), 3000);
}

}  // namespace
}  // namespace capstan::api
