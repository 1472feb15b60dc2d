// Leadership transfer (thesis 3.10): the leader brings the transferee up to
// date, then tells it to campaign at once (MSG_TIMEOUT_NOW).
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

TEST(LeaderTransfer, ToUpToDateFollower) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  uint64_t term = c[1].raft().term();
  ASSERT_TRUE(c[1].node->TransferLeadership(2).ok());
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 2u);
  EXPECT_EQ(c[2].raft().term(), term + 1);
  EXPECT_EQ(c[1].raft().lead(), 2u);
  ASSERT_TRUE(c.Propose(2, "b").ok());
  EXPECT_EQ(c[1].AppliedData(), (std::vector<std::string>{"a", "b"}));
}

// A lagging transferee is first caught up; only then is it told to campaign
// (so the election cannot fail on its log).
TEST(LeaderTransfer, CatchesUpLaggingTransfereeFirst) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.Isolate(3);
  for (std::string d : {"a", "b", "c"}) ASSERT_TRUE(c.Propose(1, d).ok());
  c.Heal();
  c.sent().clear();
  ASSERT_TRUE(c[1].node->TransferLeadership(3).ok());
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 3u);
  // MsgTimeoutNow went out only after entries reached node 3.
  bool saw_app = false;
  for (const auto& m : c.sent()) {
    if (m.type() == raftpb::MSG_APP && m.to() == 3 && m.entries_size() > 0) saw_app = true;
    if (m.type() == raftpb::MSG_TIMEOUT_NOW) {
      EXPECT_TRUE(saw_app);
      break;
    }
  }
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"a", "b", "c"}));
}

// While a transfer is in flight the leader takes no proposals: new entries
// would keep the transferee behind.
TEST(LeaderTransfer, ProposalsDroppedWhileTransferring) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.Isolate(3);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  ASSERT_TRUE(c[1].node->TransferLeadership(3).ok());
  c.Stabilize();
  EXPECT_EQ(c[1].raft().lead_transferee(), 3u);
  EXPECT_EQ(c.Propose(1, "b").code(), Status::Code::kUnavailable);
}

// A transfer that cannot finish within an election timeout is abandoned.
TEST(LeaderTransfer, AbortsAfterElectionTimeout) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.Isolate(3);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  ASSERT_TRUE(c[1].node->TransferLeadership(3).ok());
  c.Stabilize();
  for (int i = 0; i < 9; ++i) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c[1].raft().lead_transferee(), 3u);
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(c[1].raft().lead_transferee(), 0u);
  EXPECT_TRUE(c.Propose(1, "b").ok());
  EXPECT_EQ(c.Leader(), 1u);
}

TEST(LeaderTransfer, ToSelfOrLearnerIsIgnored) {
  TestCluster c({1, 2}, {}, {3});
  c.Campaign(1);
  ASSERT_TRUE(c[1].node->TransferLeadership(1).ok());
  c.Stabilize();
  EXPECT_EQ(c[1].raft().lead_transferee(), 0u);
  ASSERT_TRUE(c[1].node->TransferLeadership(3).ok());
  c.Stabilize();
  EXPECT_EQ(c[1].raft().lead_transferee(), 0u);
  EXPECT_EQ(c.Leader(), 1u);
}

TEST(LeaderTransfer, RequestOnFollowerIsForwarded) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c[2].node->TransferLeadership(3).ok());
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 3u);
}

// With CheckQuorum, voters grant the transferee's votes despite their lease
// on the current leader; with PreVote, the transferee skips the pre-vote.
TEST(LeaderTransfer, WorksWithLeaseAndPreVote) {
  TestCluster c({1, 2, 3}, [](Config& cfg) {
    cfg.check_quorum = true;
    cfg.pre_vote = true;
  });
  c.Campaign(1);
  c.TickAll(3);
  ASSERT_EQ(c.Leader(), 1u);
  ASSERT_TRUE(c[1].node->TransferLeadership(2).ok());
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 2u);
}

// A second transfer to a different member replaces the first.
TEST(LeaderTransfer, NewTargetReplacesPending) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.Isolate(3);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  ASSERT_TRUE(c[1].node->TransferLeadership(3).ok());
  c.Stabilize();
  ASSERT_EQ(c[1].raft().lead_transferee(), 3u);
  ASSERT_TRUE(c[1].node->TransferLeadership(2).ok());
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 2u);
}

}  // namespace
}  // namespace capstan::raft
