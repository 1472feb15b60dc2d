// RawNode: the Ready/Advance contract and the application-facing calls.
#include "raft/raw_node.h"

#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

std::unique_ptr<RawNode> NewNode(uint64_t id, MemoryStorage* s,
                                 std::function<void(Config&)> tweak = {}) {
  Config c = TestConfig(id, s);
  if (tweak) tweak(c);
  std::unique_ptr<RawNode> n;
  Status st = RawNode::Create(c, &n);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return n;
}

void Persist(MemoryStorage* s, const Ready& rd) {
  if (rd.snapshot) {
    ASSERT_TRUE(s->ApplySnapshot(*rd.snapshot).ok());
  }
  ASSERT_TRUE(s->Append(rd.entries).ok());
  if (rd.hard_state) s->SetHardState(*rd.hard_state);
}

TEST(RawNode, CreateValidatesConfig) {
  MemoryStorage s;
  Config c = TestConfig(0, &s);
  std::unique_ptr<RawNode> n;
  EXPECT_EQ(RawNode::Create(c, &n).code(), Status::Code::kInvalidArgument);
  c = TestConfig(1, &s, 1, 1);
  EXPECT_EQ(RawNode::Create(c, &n).code(), Status::Code::kInvalidArgument);
  c = TestConfig(1, nullptr);
  EXPECT_EQ(RawNode::Create(c, &n).code(), Status::Code::kInvalidArgument);
}

// Bootstrap puts the initial membership in the log; the first Ready asks to
// persist it and to apply it; a single voter then elects itself.
TEST(RawNode, BootstrapSingleNodeAndCommit) {
  MemoryStorage s;
  auto n = NewNode(1, &s);
  std::vector<uint64_t> voters = {1};
  ASSERT_TRUE(n->Bootstrap(voters).ok());
  EXPECT_EQ(n->Bootstrap(voters).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(n->HasReady());
  Ready rd = n->GetReady();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->term(), 1u);
  EXPECT_EQ(rd.hard_state->commit(), 1u);
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].type(), raftpb::ENTRY_CONF_CHANGE);
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_TRUE(rd.must_sync);
  EXPECT_FALSE(n->HasReady());  // until Advance
  Persist(&s, rd);
  raftpb::ConfChange cc;
  ASSERT_TRUE(cc.ParseFromString(rd.committed_entries[0].data()));
  raftpb::ConfState cs = n->ApplyConfChange(cc);
  EXPECT_EQ(cs.voters_size(), 1);
  n->Advance();
  EXPECT_FALSE(n->HasReady());

  ASSERT_TRUE(n->Campaign().ok());
  rd = n->GetReady();
  ASSERT_TRUE(rd.soft_state);
  EXPECT_EQ(rd.soft_state->role, Role::kLeader);
  EXPECT_EQ(rd.soft_state->lead, 1u);
  Persist(&s, rd);
  n->Advance();
  while (n->HasReady()) {
    rd = n->GetReady();
    Persist(&s, rd);
    n->Advance();
  }
  ASSERT_TRUE(n->Propose("hello").ok());
  rd = n->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].data(), "hello");
  // A single voter commits on its own; the entry is persisted by this same
  // Ready before it is applied.
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0].data(), "hello");
  Persist(&s, rd);
  n->Advance();
  EXPECT_EQ(n->GetStatus().applied, rd.committed_entries[0].index());
}

// Messages that promise persisted state (here MsgApp carrying new entries)
// come in the same Ready as those entries, to be sent after persisting them.
TEST(RawNode, MessagesComeWithTheEntriesTheyCarry) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  RawNode& n = *c[1].node;
  ASSERT_TRUE(n.Propose("x").ok());
  Ready rd = n.GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  auto apps = Filter(rd.messages, raftpb::MSG_APP);
  ASSERT_EQ(apps.size(), 2u);
  for (const auto& m : apps) {
    ASSERT_EQ(m.entries_size(), 1);
    EXPECT_EQ(m.entries(0).index(), rd.entries[0].index());
  }
  EXPECT_TRUE(rd.must_sync);
  n.Advance();
}

// A changed commit index alone does not need an fsync; term and vote do.
TEST(RawNode, MustSyncOnlyForTermVoteAndEntries) {
  TestCluster c({1, 2});
  c.Campaign(1);
  RawNode& f = *c[2].node;
  raftpb::Message hb = M(raftpb::MSG_HEARTBEAT, 1, 2, c[1].raft().term());
  hb.set_commit(c[2].raft().log().LastIndex());
  // Make sure there is something to commit: propose without letting 2 learn
  // the new commit index.
  c.set_drop_filter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_APP_RESP; });
  ASSERT_TRUE(c.Propose(1, "y").ok());
  c.set_drop_filter({});
  uint64_t last = c[2].raft().log().LastIndex();
  hb.set_commit(last);
  ASSERT_TRUE(f.Step(hb).ok());
  Ready rd = f.GetReady();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->commit(), last);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_FALSE(rd.must_sync);
  f.Advance();
}

TEST(RawNode, FollowerForwardsProposalsToLeader) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(2, "via-follower").ok());
  EXPECT_EQ(c[1].AppliedData(), (std::vector<std::string>{"via-follower"}));
  EXPECT_EQ(c[3].AppliedData(), (std::vector<std::string>{"via-follower"}));
}

TEST(RawNode, DisabledForwardingDropsProposalsOnFollowers) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.disable_proposal_forwarding = true; });
  c.Campaign(1);
  Status s = c.Propose(2, "x");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(c[1].AppliedData().empty());
  EXPECT_TRUE(c.Propose(1, "y").ok());
}

TEST(RawNode, ProposalWithoutLeaderIsDropped) {
  TestCluster c({1, 2, 3});
  EXPECT_EQ(c[1].node->Propose("x").code(), Status::Code::kUnavailable);
  c.Isolate(1);
  c.Campaign(1);  // candidate, no leader
  EXPECT_EQ(c[1].node->Propose("x").code(), Status::Code::kUnavailable);
}

TEST(RawNode, StepRejectsLocalAndUnknownPeerMessages) {
  TestCluster c({1, 2, 3});
  RawNode& n = *c[1].node;
  EXPECT_EQ(n.Step(M(raftpb::MSG_HUP, 1, 1)).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(n.Step(M(raftpb::MSG_BEAT, 1, 1)).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(n.Step(M(raftpb::MSG_APP_RESP, 9, 1, 5)).code(), Status::Code::kNotFound);
  EXPECT_EQ(n.raft().term(), 0u);  // the stranger's term was not adopted
}

// After a restart, committed entries after Config.applied are handed out
// again; those before are not.
TEST(RawNode, RestartRedeliversCommittedEntriesAfterApplied) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  for (std::string d : {"a", "b", "c"}) ASSERT_TRUE(c.Propose(1, d).ok());
  MemoryStorage* s = c[2].storage.get();
  raftpb::HardState hs;
  raftpb::ConfState cs;
  ASSERT_TRUE(s->InitialState(&hs, &cs).ok());
  uint64_t applied = hs.commit() - 2;  // pretend the last two were not applied
  auto n = NewNode(2, s, [applied](Config& cfg) { cfg.applied = applied; });
  ASSERT_TRUE(n->HasReady());
  Ready rd = n->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].data(), "b");
  EXPECT_EQ(rd.committed_entries[1].data(), "c");
  n->Advance();
}

TEST(RawNode, StatusReportsProgressOnLeader) {
  TestCluster c({1, 2, 3});
  c.Campaign(1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  RaftStatus st = c[1].node->GetStatus();
  EXPECT_EQ(st.soft_state.role, Role::kLeader);
  ASSERT_EQ(st.progress.size(), 3u);
  EXPECT_EQ(st.progress.at(2).match, st.last_index);
  EXPECT_EQ(st.progress.at(2).state, ProgressState::kReplicate);
  EXPECT_TRUE(c[2].node->GetStatus().progress.empty());
}

}  // namespace
}  // namespace capstan::raft
