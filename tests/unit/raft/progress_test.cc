// Progress and Inflights: the leader's per-follower flow control state.
#include <gtest/gtest.h>

#include "raft/inflights.h"
#include "raft/progress.h"
#include "raft/progress_tracker.h"
#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

TEST(Inflights, FullByCountAndFreedByAck) {
  Inflights in(3, 0);
  in.Add(1, 10);
  in.Add(2, 10);
  EXPECT_FALSE(in.Full());
  in.Add(5, 10);
  EXPECT_TRUE(in.Full());
  in.FreeLE(2);
  EXPECT_EQ(in.Count(), 1u);
  EXPECT_FALSE(in.Full());
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 0u);
}

TEST(Inflights, FullByBytes) {
  Inflights in(100, 25);
  in.Add(1, 10);
  in.Add(2, 10);
  EXPECT_FALSE(in.Full());
  in.Add(3, 10);
  EXPECT_TRUE(in.Full());
  EXPECT_EQ(in.Bytes(), 30u);
  in.FreeLE(1);
  EXPECT_FALSE(in.Full());
}

TEST(Progress, ProbePausesAfterOneMessage) {
  Progress p(5, 4, 0, false);
  EXPECT_FALSE(p.IsPaused());
  p.SentEntries(7, 100);
  EXPECT_TRUE(p.IsPaused());
  EXPECT_EQ(p.next, 5u);  // probing does not advance next
  EXPECT_TRUE(p.MaybeUpdate(7));
  EXPECT_FALSE(p.IsPaused());
  EXPECT_EQ(p.next, 8u);
}

TEST(Progress, ReplicateAdvancesOptimisticallyUntilWindowFull) {
  Progress p(1, 2, 0, false);
  p.BecomeReplicate();
  p.SentEntries(3, 10);
  EXPECT_EQ(p.next, 4u);
  p.SentEntries(6, 10);
  EXPECT_TRUE(p.IsPaused());
  p.MaybeUpdate(3);
  p.inflights.FreeLE(3);
  EXPECT_FALSE(p.IsPaused());
}

TEST(Progress, MaybeDecrTo) {
  // Replicate: a rejection above match resets next to match + 1.
  Progress p(1, 4, 0, false);
  p.match = 5;
  p.BecomeReplicate();
  p.SentEntries(9, 1);
  EXPECT_FALSE(p.MaybeDecrTo(5, 0));  // stale
  EXPECT_TRUE(p.MaybeDecrTo(8, 0));
  EXPECT_EQ(p.next, 6u);
  // Probe: only the answer to the last probe counts; the hint jumps back.
  Progress q(10, 4, 0, false);
  EXPECT_FALSE(q.MaybeDecrTo(5, 2));
  EXPECT_TRUE(q.MaybeDecrTo(9, 3));
  EXPECT_EQ(q.next, 4u);
  EXPECT_TRUE(q.MaybeDecrTo(3, 100));  // hint above the rejected index
  EXPECT_EQ(q.next, 3u);
}

TEST(Progress, SnapshotStatePausesUntilResolved) {
  Progress p(3, 4, 0, false);
  p.BecomeSnapshot(20);
  EXPECT_TRUE(p.IsPaused());
  p.BecomeProbe();  // snapshot delivered
  EXPECT_EQ(p.next, 21u);
  p.BecomeSnapshot(20);
  p.pending_snapshot = 0;  // snapshot failed
  p.BecomeProbe();
  EXPECT_EQ(p.next, 1u);
}

TEST(ProgressTracker, CommittedIsQuorumMatchOfVoters) {
  ProgressTracker t(4, 0);
  t.Reset(Voters({1, 2, 3, 4, 5}, {6}), 1);
  uint64_t matches[] = {0, 9, 7, 5, 3, 1, 100};
  for (uint64_t id = 1; id <= 6; ++id) t.Get(id)->match = matches[id];
  EXPECT_EQ(t.Committed(), 5u);  // 9, 7, 5 on three of five voters; the learner does not count
}

TEST(ProgressTracker, VotesAndQuorumActive) {
  ProgressTracker t(4, 0);
  t.Reset(Voters({1, 2, 3}, {4}), 1);
  t.RecordVote(1, true);
  t.RecordVote(4, true);  // learner: ignored
  EXPECT_EQ(t.TallyVotes(nullptr, nullptr), VoteResult::kPending);
  t.RecordVote(2, false);
  t.RecordVote(2, true);  // only the first answer counts
  EXPECT_EQ(t.TallyVotes(nullptr, nullptr), VoteResult::kPending);
  t.RecordVote(3, false);
  EXPECT_EQ(t.TallyVotes(nullptr, nullptr), VoteResult::kLost);

  for (auto& [id, pr] : t.progress()) pr.recent_active = false;
  t.Get(1)->recent_active = true;
  t.Get(4)->recent_active = true;
  EXPECT_FALSE(t.QuorumActive());
  t.Get(3)->recent_active = true;
  EXPECT_TRUE(t.QuorumActive());
}

}  // namespace
}  // namespace capstan::raft
