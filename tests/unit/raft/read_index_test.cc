// ReadIndex (thesis 6.4): linearizable reads without writing to the log.
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

// Holds reads unanswered: no heartbeat round can confirm leadership.
void DropHeartbeatResponses(TestCluster& c) {
  c.set_drop_filter(
      [](const raftpb::Message& m) { return m.type() == raftpb::MSG_HEARTBEAT_RESP; });
}

TEST(ReadIndex, LeaderAnswersAfterAHeartbeatQuorum) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  uint64_t commit = c[1].raft().log().committed();
  c.sent().clear();
  ASSERT_TRUE(c[1].node->ReadIndex("ctx1").ok());
  c.Stabilize();
  ASSERT_EQ(c[1].read_states.size(), 1u);
  EXPECT_EQ(c[1].read_states[0].index, commit);
  EXPECT_EQ(c[1].read_states[0].request_ctx, "ctx1");
  // The confirmation round carried the request's context (after its sender).
  auto hbs = Filter(c.sent(), raftpb::MSG_HEARTBEAT);
  ASSERT_EQ(hbs.size(), 2u);
  EXPECT_TRUE(hbs[0].context().ends_with("ctx1"));
}

TEST(ReadIndex, NoAnswerWithoutQuorumConfirmation) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  DropHeartbeatResponses(c);
  ASSERT_TRUE(c[1].node->ReadIndex("ctx").ok());
  c.Stabilize();
  EXPECT_TRUE(c[1].read_states.empty());
  // One confirmation (plus the leader's own) is a quorum of three.
  c.set_drop_filter([](const raftpb::Message& m) {
    return m.type() == raftpb::MSG_HEARTBEAT_RESP && m.from() == 3;
  });
  c.TickAll(1);  // next heartbeat round still carries the pending context
  ASSERT_EQ(c[1].read_states.size(), 1u);
}

TEST(ReadIndex, FollowerRequestIsAnsweredByTheLeader) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  ASSERT_TRUE(c[3].node->ReadIndex("from-3").ok());
  c.Stabilize();
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].index, c[1].raft().log().committed());
  EXPECT_TRUE(c[1].read_states.empty());
}

TEST(ReadIndex, WithoutLeaderFails) {
  TestCluster c({1, 2, 3});
  EXPECT_EQ(c[2].node->ReadIndex("x").code(), Status::Code::kUnavailable);
}

TEST(ReadIndex, SingleVoterAnswersAtOnce) {
  TestCluster c({1});
  c.Campaign(1);
  c.sent().clear();
  ASSERT_TRUE(c[1].node->ReadIndex("solo").ok());
  c.Stabilize();
  ASSERT_EQ(c[1].read_states.size(), 1u);
  EXPECT_TRUE(c.sent().empty());
}

// A new leader's commit index may be behind what its predecessor committed
// until it commits an entry of its own term; reads wait for that.
TEST(ReadIndex, NewLeaderDefersUntilItCommitsInItsTerm) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}), {}, EntriesWithTerms({1, 1}), 1);
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  r->Step(M(raftpb::MSG_VOTE_RESP, 2, 1, 2));
  ASSERT_EQ(r->role(), Role::kLeader);
  r.Take();
  raftpb::Message read = M(raftpb::MSG_READ_INDEX, 0, 0);
  read.set_context("early");
  r->Step(read);
  EXPECT_TRUE(Filter(r.Take(), raftpb::MSG_HEARTBEAT).empty());
  EXPECT_TRUE(r->TakeReadStates().empty());
  // The empty entry of term 2 (index 3) commits: the read proceeds.
  raftpb::Message ack = M(raftpb::MSG_APP_RESP, 2, 1, 2);
  ack.set_index(3);
  r->Step(ack);
  ASSERT_EQ(r->log().committed(), 3u);
  auto hbs = Filter(r.Take(), raftpb::MSG_HEARTBEAT);
  ASSERT_EQ(hbs.size(), 2u);
  EXPECT_TRUE(hbs[0].context().ends_with("early"));
  raftpb::Message hbr = M(raftpb::MSG_HEARTBEAT_RESP, 3, 1, 2);
  hbr.set_context(hbs[0].context());
  r->Step(hbr);
  auto rs = r->TakeReadStates();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].index, 3u);
}

// A deposed leader cut off from the cluster cannot confirm its leadership,
// so it never answers a read (which could miss the new leader's writes).
TEST(ReadIndex, PartitionedOldLeaderNeverAnswers) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  c.Isolate(1);
  c.Campaign(2);
  ASSERT_TRUE(c.Propose(2, "new").ok());
  ASSERT_EQ(c[1].raft().role(), Role::kLeader);  // it does not know yet
  ASSERT_TRUE(c[1].node->ReadIndex("stale?").ok());
  for (int i = 0; i < 5; ++i) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_TRUE(c[1].read_states.empty());
  c.Heal();
  c.TickAll(2);
  EXPECT_TRUE(c[1].read_states.empty());
  EXPECT_EQ(c[1].raft().role(), Role::kFollower);
}

// Members number their requests independently, so two of them can ask with
// the same context at once. The leader must confirm both: once it dropped the
// second as a duplicate of the first, and its reads hung until they timed out
// (2 s on a 3-member cluster at 100 clients, a few times per 10000 reads).
TEST(ReadIndex, SameContextFromTwoMembersIsAnsweredToBoth) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  const uint64_t commit = c[1].raft().log().committed();
  // Both requests reach the leader before either is confirmed.
  DropHeartbeatResponses(c);
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(c[id].node->ReadIndex("ctx-7").ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) EXPECT_TRUE(c[id].read_states.empty());
  c.set_drop_filter({});
  c.TickAll(1);
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_EQ(c[id].read_states.size(), 1u) << "member " << id;
    EXPECT_EQ(c[id].read_states[0].request_ctx, "ctx-7");
    EXPECT_EQ(c[id].read_states[0].index, commit);
  }
}

// A retransmitted request (same sender, same context) is confirmed once.
TEST(ReadIndex, RetransmissionIsAnsweredOnce) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  DropHeartbeatResponses(c);
  ASSERT_TRUE(c[2].node->ReadIndex("again").ok());
  ASSERT_TRUE(c[2].node->ReadIndex("again").ok());
  c.Stabilize();
  c.set_drop_filter({});
  c.TickAll(1);
  EXPECT_EQ(c[2].read_states.size(), 1u);
}

// Requests queued behind each other are all released by one confirmation.
TEST(ReadIndex, OneRoundConfirmsEarlierRequests) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  DropHeartbeatResponses(c);
  for (std::string ctx : {"a", "b", "c"}) ASSERT_TRUE(c[1].node->ReadIndex(ctx).ok());
  c.Stabilize();
  EXPECT_TRUE(c[1].read_states.empty());
  c.set_drop_filter({});
  c.TickAll(1);
  ASSERT_EQ(c[1].read_states.size(), 3u);
  EXPECT_EQ(c[1].read_states[0].request_ctx, "a");
  EXPECT_EQ(c[1].read_states[2].request_ctx, "c");
}

}  // namespace
}  // namespace capstan::raft
