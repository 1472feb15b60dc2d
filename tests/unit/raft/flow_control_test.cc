// Flow control: how much a leader sends a follower before hearing back.
#include <gtest/gtest.h>

#include "raft/entry_size.h"
#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

size_t CountAppsTo(const std::vector<raftpb::Message>& msgs, uint64_t to) {
  size_t n = 0;
  for (const auto& m : msgs) n += m.type() == raftpb::MSG_APP && m.to() == to;
  return n;
}

// In the replicate state at most max_inflight_msgs MsgApps are outstanding.
TEST(FlowControl, ReplicateStateLimitsInflightMessages) {
  TestRaft r = NewTestRaft(1, Voters({1, 2}), [](Config& c) { c.max_inflight_msgs = 3; });
  MakeLeader(r, {1, 2});
  ASSERT_EQ(r->tracker().Get(2)->state, ProgressState::kReplicate);
  size_t sent = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(r->Step(Prop(1, "p" + std::to_string(i))).ok());
    sent += CountAppsTo(r.Take(), 2);
  }
  EXPECT_EQ(sent, 3u);
  EXPECT_TRUE(r->tracker().Get(2)->inflights.Full());
  // An acknowledgement of the first frees one slot: everything left goes out
  // in one message (no size limit here).
  raftpb::Message ack = M(raftpb::MSG_APP_RESP, 2, 1, r->term());
  ack.set_index(r->tracker().Get(2)->match + 1);
  r->Step(ack);
  auto out = r.Take();
  ASSERT_EQ(CountAppsTo(out, 2), 1u);
  EXPECT_EQ(Filter(out, raftpb::MSG_APP)[0].entries_size(), 7);
}

// max_size_per_msg bounds each MsgApp (one entry at least); the window
// pipelines several.
TEST(FlowControl, MaxSizePerMessage) {
  TestRaft r = NewTestRaft(1, Voters({1, 2}), [](Config& c) {
    c.max_inflight_msgs = 3;
    c.max_size_per_msg = 1;
  });
  MakeLeader(r, {1, 2});
  raftpb::Message prop = M(raftpb::MSG_PROP, 1, 1);
  for (int i = 0; i < 5; ++i) prop.add_entries()->set_data("e" + std::to_string(i));
  ASSERT_TRUE(r->Step(prop).ok());
  auto apps = Filter(r.Take(), raftpb::MSG_APP);
  ASSERT_EQ(apps.size(), 3u);
  for (const auto& m : apps) EXPECT_EQ(m.entries_size(), 1);

  TestRaft big = NewTestRaft(1, Voters({1, 2}), [](Config& c) {
    c.max_size_per_msg = 2 * EntrySize(E(10, 10, "e0")) + 1;
  });
  MakeLeader(big, {1, 2});
  ASSERT_TRUE(big->Step(prop).ok());
  apps = Filter(big.Take(), raftpb::MSG_APP);
  ASSERT_FALSE(apps.empty());
  for (const auto& m : apps) EXPECT_LE(m.entries_size(), 2);
}

TEST(FlowControl, MaxInflightBytes) {
  uint64_t one = EntrySize(E(5, 2, "0123456789"));
  TestRaft r = NewTestRaft(1, Voters({1, 2}), [one](Config& c) {
    c.max_inflight_msgs = 100;
    c.max_inflight_bytes = 3 * one;
  });
  MakeLeader(r, {1, 2});
  size_t sent = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(r->Step(Prop(1, "0123456789")).ok());
    sent += CountAppsTo(r.Take(), 2);
  }
  EXPECT_EQ(sent, 3u);
}

// In the probe state (right after an election, or after a rejection) one
// MsgApp is out at a time; a heartbeat response allows the next.
TEST(FlowControl, ProbeSendsOneAtATime) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}));
  r->Step(M(raftpb::MSG_HUP, 1, 1));
  r->Step(M(raftpb::MSG_VOTE_RESP, 2, 1, 1));
  ASSERT_EQ(r->role(), Role::kLeader);
  EXPECT_EQ(CountAppsTo(r.Take(), 2), 1u);  // the empty entry
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r->Step(Prop(1)).ok());
  EXPECT_EQ(CountAppsTo(r.Take(), 2), 0u);
  r->Step(M(raftpb::MSG_HEARTBEAT_RESP, 2, 1, 1));
  auto out = r.Take();
  EXPECT_EQ(CountAppsTo(out, 2), 1u);
  EXPECT_EQ(CountAppsTo(out, 3), 0u);
}

// The reject hint lets the leader skip a whole divergent suffix in one
// round trip instead of one entry per round trip.
TEST(FlowControl, RejectHintFindsMatchInOneRoundTrip) {
  std::vector<uint64_t> leader_terms = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  std::vector<uint64_t> follower_terms = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
  TestRaft lead = NewTestRaft(1, Voters({1, 2, 3}), {}, EntriesWithTerms(leader_terms), 8);
  TestRaft fol = NewTestRaft(2, Voters({1, 2, 3}), {}, EntriesWithTerms(follower_terms), 7);
  TestRaft voter = NewTestRaft(3, Voters({1, 2, 3}), {}, EntriesWithTerms(leader_terms), 7);
  lead->Step(M(raftpb::MSG_HUP, 1, 1));
  int rejections = 0;
  Pump({{1, &lead}, {2, &fol}, {3, &voter}}, [&](const raftpb::Message& m) {
    if (m.type() == raftpb::MSG_APP_RESP && m.from() == 2 && m.reject()) ++rejections;
    return false;
  });
  ASSERT_EQ(lead->role(), Role::kLeader);
  EXPECT_EQ(rejections, 1);
  EXPECT_EQ(fol->log().LastIndex(), lead->log().LastIndex());
}

// When the window is full and acknowledgements were lost, a heartbeat
// response frees a slot so replication cannot stall.
TEST(FlowControl, HeartbeatResponseUnblocksFullWindow) {
  TestRaft r = NewTestRaft(1, Voters({1, 2}), [](Config& c) { c.max_inflight_msgs = 2; });
  MakeLeader(r, {1, 2});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r->Step(Prop(1)).ok());
  r.Take();
  ASSERT_TRUE(r->tracker().Get(2)->inflights.Full());
  r->Step(M(raftpb::MSG_HEARTBEAT_RESP, 2, 1, r->term()));
  EXPECT_EQ(CountAppsTo(r.Take(), 2), 1u);
}

// The transport reporting a follower unreachable stops optimistic streaming.
TEST(FlowControl, UnreachableFallsBackToProbe) {
  TestRaft r = NewTestRaft(1, Voters({1, 2}));
  MakeLeader(r, {1, 2});
  raftpb::Message u = M(raftpb::MSG_UNREACHABLE, 2, 1);
  r->Step(u);
  EXPECT_EQ(r->tracker().Get(2)->state, ProgressState::kProbe);
}

// A caught-up follower that fell back to probing (here: reported
// unreachable) returns to replicating on its next heartbeat response, as in
// etcd's raft (heartbeat_rep_recovers_from_probing): the leader answers the
// heartbeat response with an empty append, and the follower's acceptance of
// it, at the match index the leader already knew, ends the probe.
TEST(FlowControl, HeartbeatResponseRecoversCaughtUpProbingFollower) {
  TestRaft r = NewTestRaft(1, Voters({1, 2, 3}));
  MakeLeader(r, {1, 2, 3});
  const uint64_t last = r->log().LastIndex();
  ASSERT_EQ(r->tracker().Get(2)->match, last);
  r->Step(M(raftpb::MSG_UNREACHABLE, 2, 1));
  ASSERT_EQ(r->tracker().Get(2)->state, ProgressState::kProbe);

  r->Step(M(raftpb::MSG_HEARTBEAT_RESP, 2, 1, r->term()));
  auto apps = Filter(r.Take(), raftpb::MSG_APP);
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].to(), 2u);
  EXPECT_EQ(apps[0].entries_size(), 0);
  EXPECT_EQ(apps[0].index(), last);

  raftpb::Message ack = M(raftpb::MSG_APP_RESP, 2, 1, r->term());
  ack.set_index(last);
  r->Step(ack);
  EXPECT_EQ(r->tracker().Get(2)->state, ProgressState::kReplicate);
  EXPECT_EQ(r->tracker().Get(2)->match, last);
  EXPECT_EQ(r->tracker().Get(2)->next, last + 1);
  // Replicating again: proposals stream without waiting for each answer.
  ASSERT_TRUE(r->Step(Prop(1, "a")).ok());
  ASSERT_TRUE(r->Step(Prop(1, "b")).ok());
  EXPECT_EQ(CountAppsTo(r.Take(), 2), 2u);
}

// A MsgApp lost in the middle of a stream is detected by the follower's
// rejection of the next one, and resent.
TEST(FlowControl, LostAppendIsResent) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  int dropped = 0;
  c.set_drop_filter([&](const raftpb::Message& m) {
    return m.type() == raftpb::MSG_APP && m.to() == 2 && m.entries_size() > 0 && dropped++ == 0;
  });
  for (std::string d : {"a", "b", "c"}) ASSERT_TRUE(c.Propose(1, d).ok());
  c.TickAll(2);
  EXPECT_EQ(c[2].AppliedData(), (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace capstan::raft
