// PreVote (thesis 9.6) and CheckQuorum with the leader lease (thesis 6.2):
// members cut off from the cluster neither disrupt it when they come back
// nor keep believing they lead.
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

void PreVote(Config& c) { c.pre_vote = true; }
void CheckQuorum(Config& c) { c.check_quorum = true; }
void Both(Config& c) {
  c.pre_vote = true;
  c.check_quorum = true;
}

// A partitioned member keeps pre-campaigning without raising its term, so
// when the partition heals the leader is not deposed.
TEST(PreVote, PartitionedMemberDoesNotDisruptOnReturn) {
  TestCluster c({1, 2, 3}, PreVote);
  c.Campaign(1);
  uint64_t term = c[1].raft().term();
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(c[3].raft().role(), Role::kPreCandidate);
  EXPECT_EQ(c[3].raft().term(), term);
  c.Heal();
  c.TickAll(30);
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c[1].raft().term(), term);
  EXPECT_EQ(c[3].raft().lead(), 1u);
}

// Without PreVote, the same member comes back with a higher term and
// forces a new election: what PreVote avoids.
TEST(PreVote, WithoutItTheReturningMemberForcesAnElection) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  uint64_t term = c[1].raft().term();
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_GT(c[3].raft().term(), term + 3);
  c.Heal();
  c.TickAll(25);  // node 3 campaigns again, in a term above the leader's
  EXPECT_GT(c[1].raft().term(), term);
}

// A pre-vote asks about term + 1 without moving anyone to it.
TEST(PreVote, RequestChangesNeitherTermNorVote) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), PreVote, {}, 2);
  raftpb::Message pv = M(raftpb::MSG_PRE_VOTE, 2, 1, 3);
  r->Step(pv);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type(), raftpb::MSG_PRE_VOTE_RESP);
  EXPECT_FALSE(out[0].reject());
  EXPECT_EQ(out[0].term(), 3u);  // answered in the asked-about term
  EXPECT_EQ(r->term(), 2u);
  EXPECT_EQ(r->vote(), 0u);
  // A pre-vote for a future term is granted even if we voted this term.
  TestRaft v = NewTestRaft(1, Voters({1, 2, 3}), PreVote, {}, 2);
  raftpb::Message vote = M(raftpb::MSG_VOTE, 3, 1, 2);
  v->Step(vote);
  v.Take();
  v->Step(pv);
  EXPECT_FALSE(v.Take()[0].reject());
}

// The pre-candidate becomes a real candidate (term + 1) only with a quorum
// of pre-votes; a quorum of rejections sends it back to follower, same term.
TEST(PreVote, QuorumOfPreVotesStartsTheRealElection) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), PreVote, {}, 2);
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  EXPECT_EQ(r->role(), Role::kPreCandidate);
  EXPECT_EQ(r->term(), 2u);
  auto pv = Filter(r.Take(), raftpb::MSG_PRE_VOTE);
  ASSERT_EQ(pv.size(), 2u);
  EXPECT_EQ(pv[0].term(), 3u);
  r->Step(M(raftpb::MSG_PRE_VOTE_RESP, 2, 1, 3));
  EXPECT_EQ(r->role(), Role::kCandidate);
  EXPECT_EQ(r->term(), 3u);
  EXPECT_EQ(Filter(r.Take(), raftpb::MSG_VOTE).size(), 2u);

  TestRaft l = NewTestRaft(1, Voters({1, 2, 3}), PreVote, {}, 2);
  l->Step(M(raftpb::MSG_HUP, 1, 1));
  for (uint64_t from : {2, 3}) {
    raftpb::Message rej = M(raftpb::MSG_PRE_VOTE_RESP, from, 1, 2);
    rej.set_reject(true);
    l->Step(rej);
  }
  EXPECT_EQ(l->role(), Role::kFollower);
  EXPECT_EQ(l->term(), 2u);
}

// A pre-vote from a member with a stale log is refused like a vote.
TEST(PreVote, RefusedForStaleLog) {
  TestRaft r = NewTestRaft(1, Voters({1, 2}), PreVote, EntriesWithTerms({1, 2}), 2);
  raftpb::Message pv = M(raftpb::MSG_PRE_VOTE, 2, 1, 3);
  pv.set_index(5);
  pv.set_log_term(1);
  r->Step(pv);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject());
  EXPECT_EQ(out[0].term(), 2u);
}

// A member that raised its term before PreVote was on (or through a
// transfer) answers lower pre-votes with its term, so the cluster moves up
// to it instead of deadlocking.
TEST(PreVote, HigherTermMemberWithStaleLogDoesNotDeadlock) {
  TestCluster c({1, 2, 3}, PreVote);
  c.Campaign(1);
  c.Isolate(3);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  // Node 3 gets a high term the old-fashioned way.
  raftpb::Message hup = M(raftpb::MSG_TIMEOUT_NOW, 1, 3, c[1].raft().term());
  c.Heal();
  c.CutOneWay(3, 1);
  c.CutOneWay(3, 2);
  c.Deliver(hup);
  uint64_t high = c[3].raft().term();
  EXPECT_GT(high, c[1].raft().term());
  c.Heal();
  c.TickAll(100);
  uint64_t lead = c.Leader();
  ASSERT_NE(lead, 0u);
  EXPECT_NE(lead, 3u);  // its log lacks "a"
  EXPECT_GE(c[lead].raft().term(), high);
  EXPECT_TRUE(c.Propose(lead, "b").ok());
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"a", "b"}));
}

// A leader that cannot hear from a quorum for an election timeout steps down
// (it could not commit anything, and a new leader may exist).
TEST(CheckQuorum, LeaderStepsDownWithoutQuorum) {
  TestCluster c({1, 2, 3}, CheckQuorum);
  c.Campaign(1);
  c.Isolate(1);
  for (int i = 0; i < 10; ++i) {
    c.Tick(1);
    c.Stabilize();
    if (c[1].raft().role() != Role::kLeader) break;
  }
  EXPECT_EQ(c[1].raft().role(), Role::kLeader) << "stepped down too early";
  for (int i = 0; i < 11; ++i) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c[1].raft().role(), Role::kFollower);
}

TEST(CheckQuorum, LeaderStaysWithAQuorum) {
  TestCluster c({1, 2, 3}, CheckQuorum);
  c.Campaign(1);
  c.Cut(1, 3);
  for (int i = 0; i < 50; ++i) {
    c.Tick(1);
    c.Tick(2);
    c.Stabilize();
  }
  EXPECT_EQ(c[1].raft().role(), Role::kLeader);
}

// Leader lease: a follower that heard from its leader within the election
// timeout ignores vote requests, even of higher terms.
TEST(CheckQuorum, FollowerIgnoresVotesWhileLeaderIsAlive) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), CheckQuorum);
  r->Step(M(raftpb::MSG_HEARTBEAT, 2, 1, 1));
  r.Take();
  raftpb::Message v = M(raftpb::MSG_VOTE, 3, 1, 2);
  r->Step(v);
  EXPECT_TRUE(r.Take().empty());
  EXPECT_EQ(r->term(), 1u);
  EXPECT_EQ(r->lead(), 2u);
  // Once the lease expires, the vote is considered.
  for (int i = 0; i < 10; ++i) r->Tick();
  r->Step(v);
  auto out = r.Take();
  ASSERT_EQ(Filter(out, raftpb::MSG_VOTE_RESP).size(), 1u);
  EXPECT_FALSE(Filter(out, raftpb::MSG_VOTE_RESP)[0].reject());
  EXPECT_EQ(r->term(), 2u);
}

// ...unless the vote comes from a leadership transfer the leader asked for.
TEST(CheckQuorum, TransferVotesBypassTheLease) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), CheckQuorum);
  r->Step(M(raftpb::MSG_HEARTBEAT, 2, 1, 1));
  r.Take();
  raftpb::Message v = M(raftpb::MSG_VOTE, 3, 1, 2);
  v.set_context(kCampaignTransfer);
  r->Step(v);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject());
  EXPECT_EQ(r->vote(), 3u);
}

// A member back from a partition with a high term tells a leader of a lower
// term about it (it would otherwise ignore the leader forever), and the
// stale leader steps down.
TEST(CheckQuorum, StaleLeaderLearnsHigherTermFromAppendResponse) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), CheckQuorum, {}, 5);
  raftpb::Message app = M(raftpb::MSG_APP, 2, 1, 3);
  r->Step(app);
  auto out = r.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type(), raftpb::MSG_APP_RESP);
  EXPECT_EQ(out[0].term(), 5u);

  TestRaft l = NewTestRaft(2, Voters({1, 2, 3}), CheckQuorum, {}, 2);
  MakeLeader(l, {1, 2, 3});
  l->Step(out[0]);
  EXPECT_EQ(l->role(), Role::kFollower);
  EXPECT_EQ(l->term(), 5u);
}

// With both features, a removed member that never learned of its removal
// cannot disturb the cluster with its campaigns.
TEST(CheckQuorum, RemovedMemberCannotDisrupt) {
  TestCluster c({1, 2, 3}, Both);
  c.Campaign(1);
  uint64_t term = c[1].raft().term();
  c.Isolate(3);
  ASSERT_TRUE(c[1].node->ProposeConfChange(CC(raftpb::CONF_CHANGE_REMOVE_NODE, 3)).ok());
  c.Stabilize();
  ASSERT_EQ(c[1].conf_state.voters_size(), 2);
  c.Heal();
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);  // node 3 still thinks it is a voter and campaigns
    c.Tick(1);
    c.Tick(2);
    c.Stabilize();
  }
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c[1].raft().term(), term);
}

}  // namespace
}  // namespace capstan::raft
