// Membership: learners, and changes of one voter at a time with at most one
// change pending (thesis 4.1; etcd applies a change when it is applied).
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

TEST(Learner, ReceivesTheLogButNeverCampaigns) {
  TestCluster c({1, 2}, {}, {3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(c[3].raft().is_learner());
  c.Isolate(1);
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(c[3].raft().role(), Role::kFollower);
  EXPECT_EQ(c[3].raft().term(), c[1].raft().term());
  EXPECT_EQ(c[3].node->Campaign().code(), Status::Code::kOk);
  EXPECT_EQ(c[3].raft().role(), Role::kFollower);
}

// Learners are not in quorums: with the only other voter gone, nothing
// commits however many learners acknowledge.
TEST(Learner, DoesNotCountTowardsCommit) {
  TestCluster c({1, 2}, {}, {3, 4});
  c.Campaign(1);
  c.Isolate(2);
  uint64_t before = c[1].raft().log().committed();
  ASSERT_TRUE(c.Propose(1, "a").ok());
  EXPECT_EQ(c[1].raft().log().committed(), before);
  EXPECT_EQ(c[3].raft().log().LastIndex(), c[1].raft().log().LastIndex());
  c.Heal();
  c.TickAll(1);
  EXPECT_GT(c[1].raft().log().committed(), before);
}

TEST(Learner, IsPromotedToVoter) {
  TestCluster c({1, 2}, {}, {3});
  c.Campaign(1);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_NODE, 3)).ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(c[id].conf_state.voters_size(), 3) << id;
    EXPECT_EQ(c[id].conf_state.learners_size(), 0) << id;
  }
  EXPECT_FALSE(c[3].raft().is_learner());
  // Now it counts, and can lead.
  c.Isolate(2);
  ASSERT_TRUE(c.Propose(1, "with-3").ok());
  EXPECT_EQ(c[1].AppliedData(), (std::vector<std::string>{"with-3"}));
  c.Heal();
  c.Campaign(3);
  EXPECT_EQ(c.Leader(), 3u);
}

// A member joining with empty storage learns everything, the membership
// included, from the leader's log.
TEST(ConfChange, NewMemberJoinsWithEmptyLog) {
  auto cluster = TestCluster::Bootstrapped({1, 2, 3});
  TestCluster& c = *cluster;
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  c.AddNode(4);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_NODE, 4)).ok());
  c.Stabilize();
  ASSERT_TRUE(c.Propose(1, "b").ok());
  EXPECT_EQ(c[4].AppliedData(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c[4].conf_state.voters_size(), 4);
  // Four voters: a quorum is three.
  c.Isolate(3);
  c.Isolate(4);
  uint64_t before = c[1].raft().log().committed();
  ASSERT_TRUE(c.Propose(1, "c").ok());
  EXPECT_EQ(c[1].raft().log().committed(), before);
}

// One change at a time: a second change is refused while the first is not
// applied on the leader.
TEST(ConfChange, OnlyOnePendingAtATime) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.set_drop_filter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_APP_RESP; });
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 4)).ok());
  c.Stabilize();
  Status s = c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 5));
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  // Ordinary proposals still go through.
  EXPECT_TRUE(c[1].node->Propose("x").ok());
  c.set_drop_filter({});
  c.TickAll(2);
  EXPECT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 5)).ok());
  c.Stabilize();
  EXPECT_EQ(c[1].conf_state.learners_size(), 2);
}

// Two changes in one proposal are refused too.
TEST(ConfChange, TwoChangesInOneProposalRefused) {
  TestRaft r = NewTestRaft(1, Voters({1}));
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  Persist(r);
  r->mutable_log().AppliedTo(r->log().committed());
  raftpb::Message m = M(raftpb::MSG_PROP, 1, 1);
  for (uint64_t id : {2, 3}) {
    raftpb::Entry* e = m.add_entries();
    e->set_type(raftpb::ENTRY_CONF_CHANGE);
    e->set_data(CC(raftpb::CONF_CHANGE_ADD_NODE, id).SerializeAsString());
  }
  EXPECT_EQ(r->Step(m).code(), Status::Code::kFailedPrecondition);
}

// A new leader must commit (and apply) an entry of its own term before it
// accepts a change: its log may end with an uncommitted change of a
// previous leader (the single-server change bug, raft-dev 2015).
TEST(ConfChange, NewLeaderWaitsForItsFirstCommit) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), {}, EntriesWithTerms({1, 1}), 1);
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  r->Step(M(raftpb::MSG_VOTE_RESP, 2, 1, 2));
  ASSERT_EQ(r->role(), Role::kLeader);
  EXPECT_EQ(r->pending_conf_index(), 2u);
  raftpb::Message m = M(raftpb::MSG_PROP, 1, 1);
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(CC(raftpb::CONF_CHANGE_ADD_NODE, 4).SerializeAsString());
  EXPECT_EQ(r->Step(m).code(), Status::Code::kFailedPrecondition);
  raftpb::Message ack = M(raftpb::MSG_APP_RESP, 2, 1, 2);
  ack.set_index(3);
  r->Step(ack);
  Persist(r);
  r->mutable_log().AppliedTo(r->log().committed());
  EXPECT_TRUE(r->Step(m).ok());
}

// Membership takes effect when applied; a member with a committed but
// unapplied change does not campaign, since its idea of the voters may be
// more than one change behind.
TEST(ConfChange, NoCampaignWithUnappliedChange) {
  raftpb::Entry cc;
  cc.set_index(1);
  cc.set_term(1);
  cc.set_type(raftpb::ENTRY_CONF_CHANGE);
  cc.set_data(CC(raftpb::CONF_CHANGE_ADD_NODE, 4).SerializeAsString());
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), {}, {cc}, 1);
  r->mutable_log().CommitTo(1);
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  EXPECT_EQ(r->role(), Role::kFollower);
  r->mutable_log().AppliedTo(1);
  r->ApplyConfChange(CC(raftpb::CONF_CHANGE_ADD_NODE, 4));
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  EXPECT_EQ(r->role(), Role::kCandidate);
  EXPECT_EQ(Filter(r.Take(), raftpb::MSG_VOTE).size(), 3u);
}

// A leader that removes itself steps down once the change applies; the
// others elect a new leader among themselves.
TEST(ConfChange, RemovedLeaderStepsDown) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_REMOVE_NODE, 1)).ok());
  c.Stabilize();
  EXPECT_EQ(c[1].raft().role(), Role::kFollower);
  EXPECT_EQ(c[2].conf_state.voters_size(), 2);
  c.SetDown(1, true);
  c.TickAll(30);
  uint64_t lead = c.Leader();
  EXPECT_TRUE(lead == 2 || lead == 3);
  ASSERT_TRUE(c.Propose(lead, "after").ok());
  EXPECT_EQ(c[2].AppliedData(), (std::vector<std::string>{"after"}));
}

// Removing a dead voter shrinks the quorum, letting the rest commit again.
TEST(ConfChange, RemovingDeadVoterRestoresQuorum) {
  TestCluster c({1, 2, 3, 4});
  c.Campaign(1);
  c.SetDown(4, true);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_REMOVE_NODE, 4)).ok());
  c.Stabilize();
  c.SetDown(3, true);
  ASSERT_TRUE(c.Propose(1, "two-of-three").ok());
  EXPECT_EQ(c[2].AppliedData(), (std::vector<std::string>{"two-of-three"}));
}

TEST(ConfChange, LastVoterCannotBeRemoved) {
  TestRaft r = NewTestRaft(1, Voters({1}));
  raftpb::ConfState cs = r->ApplyConfChange(CC(raftpb::CONF_CHANGE_REMOVE_NODE, 1));
  EXPECT_EQ(cs.voters_size(), 1);
  cs = r->ApplyConfChange(CC(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 1));
  EXPECT_EQ(cs.voters_size(), 1);
}

// Demoting a voter to learner is one voter change too.
TEST(ConfChange, VoterDemotedToLearner) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 3)).ok());
  c.Stabilize();
  EXPECT_TRUE(c[3].raft().is_learner());
  EXPECT_EQ(c[1].conf_state.voters_size(), 2);
  ASSERT_TRUE(c.Propose(1, "still-replicated").ok());
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"still-replicated"}));
}

}  // namespace
}  // namespace capstan::raft
