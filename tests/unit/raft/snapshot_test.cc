// Snapshots: followers behind the leader's compacted log catch up from a
// snapshot; members restart from their own.
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

// The application snapshots its state at the applied index and lets the log
// go up to there.
void SnapshotAndCompact(TestNode& n) {
  uint64_t applied = n.applied.back().index();
  ASSERT_TRUE(
      n.storage->CreateSnapshot(applied, n.conf_state, "state@" + std::to_string(applied), nullptr)
          .ok());
  ASSERT_TRUE(n.storage->Compact(applied).ok());
}

TEST(Snapshot, LeaderSendsSnapshotToFollowerBehindCompaction) {
  auto cluster = TestCluster::Bootstrapped({1, 2, 3});
  TestCluster& c = *cluster;
  c.Campaign(1);
  c.SetDown(3, true);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Propose(1, "v" + std::to_string(i)).ok());
  SnapshotAndCompact(c[1]);
  uint64_t snap_index = c[1].storage->FirstIndex() - 1;
  c.SetDown(3, false);
  c.sent().clear();
  c.TickAll(3);
  auto snaps = Filter(c.sent(), raftpb::MSG_SNAP);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].to(), 3u);
  EXPECT_EQ(snaps[0].snapshot().metadata().index(), snap_index);
  EXPECT_EQ(snaps[0].snapshot().data(), "state@" + std::to_string(snap_index));
  EXPECT_EQ(c[3].storage->FirstIndex(), snap_index + 1);
  EXPECT_EQ(c[3].conf_state.voters_size(), 3);
  ASSERT_TRUE(c.Propose(1, "after").ok());
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"after"}));
  EXPECT_EQ(c[3].raft().log().committed(), c[1].raft().log().committed());
  // The leader is streaming to 3 again.
  EXPECT_EQ(c[1].raft().tracker().Get(3)->state, ProgressState::kReplicate);
}

// A snapshot lost on the way is reported by the transport; the leader probes
// again and sends another.
TEST(Snapshot, LostSnapshotIsRetried) {
  auto cluster = TestCluster::Bootstrapped({1, 2, 3});
  TestCluster& c = *cluster;
  c.Campaign(1);
  c.SetDown(3, true);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(1, "v" + std::to_string(i)).ok());
  SnapshotAndCompact(c[1]);
  c.SetDown(3, false);
  c.set_drop_filter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_SNAP; });
  c.TickAll(2);
  const Progress* pr = c[1].raft().tracker().Get(3);
  EXPECT_EQ(pr->state, ProgressState::kProbe);
  EXPECT_EQ(pr->pending_snapshot, 0u);
  c.set_drop_filter({});
  c.TickAll(3);
  EXPECT_EQ(c[3].raft().log().committed(), c[1].raft().log().committed());
}

TEST(Snapshot, FollowerIgnoresSnapshotBehindItsCommit) {
  TestRaft r = NewTestRaft(2, Voters({1, 2}), {}, EntriesWithTerms({1, 1, 1}), 1);
  r->mutable_log().CommitTo(3);
  raftpb::Message m = M(raftpb::MSG_SNAP, 1, 2, 1);
  m.mutable_snapshot()->mutable_metadata()->set_index(2);
  m.mutable_snapshot()->mutable_metadata()->set_term(1);
  r->Step(m);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type(), raftpb::MSG_APP_RESP);
  EXPECT_EQ(out[0].index(), 3u);
  EXPECT_FALSE(r->log().PendingSnapshot());
}

// A snapshot whose last entry the follower already has only moves its
// commit index; the log after it is kept.
TEST(Snapshot, MatchingSnapshotOnlyFastForwardsCommit) {
  TestRaft r = NewTestRaft(2, Voters({1, 2}), {}, EntriesWithTerms({1, 1, 1, 1}), 1);
  raftpb::Message m = M(raftpb::MSG_SNAP, 1, 2, 1);
  m.mutable_snapshot()->mutable_metadata()->set_index(3);
  m.mutable_snapshot()->mutable_metadata()->set_term(1);
  r->Step(m);
  EXPECT_EQ(r->log().committed(), 3u);
  EXPECT_EQ(r->log().LastIndex(), 4u);
  EXPECT_FALSE(r->log().PendingSnapshot());
}

TEST(Snapshot, RestoreReplacesLogAndMembership) {
  TestRaft r = NewTestRaft(2, Voters({1, 2}), {}, EntriesWithTerms({1, 1}), 1);
  raftpb::Message m = M(raftpb::MSG_SNAP, 1, 2, 2);
  auto* md = m.mutable_snapshot()->mutable_metadata();
  md->set_index(20);
  md->set_term(2);
  *md->mutable_conf_state() = Voters({1, 2, 4}, {5});
  m.mutable_snapshot()->set_data("app state");
  r->Step(m);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index(), 20u);
  EXPECT_EQ(r->log().committed(), 20u);
  EXPECT_EQ(r->log().LastIndex(), 20u);
  ASSERT_TRUE(r->log().PendingSnapshot());
  EXPECT_EQ(r->tracker().voters(), (std::set<uint64_t>{1, 2, 4}));
  EXPECT_EQ(r->tracker().learners(), (std::set<uint64_t>{5}));
  // Not promotable until the snapshot is persisted.
  r->Step(M(raftpb::MSG_HUP, 2, 2));
  EXPECT_EQ(r->role(), Role::kFollower);
}

// A member restarted from its own snapshot replays only what follows it.
TEST(Snapshot, RestartFromOwnSnapshot) {
  auto cluster = TestCluster::Bootstrapped({1, 2, 3});
  TestCluster& c = *cluster;
  c.Campaign(1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.Propose(1, "v" + std::to_string(i)).ok());
  SnapshotAndCompact(c[2]);
  ASSERT_TRUE(c.Propose(1, "v4").ok());
  c.Restart(2);
  c.Stabilize();
  EXPECT_EQ(c[2].AppliedData(), (std::vector<std::string>{"v4"}));
  EXPECT_EQ(c[2].conf_state.voters_size(), 3);
  ASSERT_TRUE(c.Propose(1, "v5").ok());
  EXPECT_EQ(c[2].AppliedData(), (std::vector<std::string>{"v4", "v5"}));
}

}  // namespace
}  // namespace capstan::raft
