// MemoryStorage, UnstableLog and RaftLog: the log the core reads and writes.
#include <gtest/gtest.h>

#include "raft/entry_size.h"
#include "raft/memory_storage.h"
#include "raft/raft_log.h"
#include "raft/unstable_log.h"
#include "raft_test_util.h"

namespace capstan::raft {
namespace {

using namespace testing;  // NOLINT

std::unique_ptr<MemoryStorage> StorageWith(const std::vector<uint64_t>& terms) {
  auto s = std::make_unique<MemoryStorage>();
  EXPECT_TRUE(s->Append(EntriesWithTerms(terms)).ok());
  return s;
}

TEST(MemoryStorage, EmptyHasDummyEntry) {
  MemoryStorage s;
  EXPECT_EQ(s.FirstIndex(), 1u);
  EXPECT_EQ(s.LastIndex(), 0u);
  uint64_t t = 99;
  EXPECT_TRUE(s.Term(0, &t).ok());
  EXPECT_EQ(t, 0u);
  EXPECT_EQ(s.Term(1, &t).code(), Status::Code::kNotFound);
}

TEST(MemoryStorage, AppendOverwritesConflictingSuffix) {
  auto s = StorageWith({1, 1, 2, 2});
  ASSERT_TRUE(s->Append(std::vector<raftpb::Entry>{E(3, 3), E(4, 3), E(5, 3)}).ok());
  std::vector<raftpb::Entry> ents;
  ASSERT_TRUE(s->Entries(1, 6, kNoLimit, &ents).ok());
  EXPECT_EQ(Terms(ents), (std::vector<uint64_t>{1, 1, 3, 3, 3}));
  // A gap is refused.
  EXPECT_FALSE(s->Append(std::vector<raftpb::Entry>{E(9, 3)}).ok());
}

TEST(MemoryStorage, EntriesRespectsByteLimitButReturnsOne) {
  auto s = std::make_unique<MemoryStorage>();
  std::vector<raftpb::Entry> ents;
  for (uint64_t i = 1; i <= 5; ++i) ents.push_back(E(i, 1, std::string(100, 'x')));
  ASSERT_TRUE(s->Append(ents).ok());
  std::vector<raftpb::Entry> out;
  ASSERT_TRUE(s->Entries(1, 6, 0, &out).ok());
  EXPECT_EQ(out.size(), 1u);
  ASSERT_TRUE(s->Entries(1, 6, 2 * EntrySize(ents[0]), &out).ok());
  EXPECT_EQ(out.size(), 2u);
  ASSERT_TRUE(s->Entries(2, 6, kNoLimit, &out).ok());
  EXPECT_EQ(out.size(), 4u);
}

TEST(MemoryStorage, CompactKeepsTermOfNewFirstDummy) {
  auto s = StorageWith({1, 2, 3, 4, 5});
  ASSERT_TRUE(s->Compact(3).ok());
  EXPECT_EQ(s->FirstIndex(), 4u);
  EXPECT_EQ(s->LastIndex(), 5u);
  uint64_t t = 0;
  ASSERT_TRUE(s->Term(3, &t).ok());
  EXPECT_EQ(t, 3u);
  EXPECT_EQ(s->Term(2, &t).code(), Status::Code::kOutOfRange);
  std::vector<raftpb::Entry> out;
  EXPECT_EQ(s->Entries(3, 5, kNoLimit, &out).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->Compact(2).code(), Status::Code::kOutOfRange);
  EXPECT_FALSE(s->Compact(9).ok());
}

TEST(MemoryStorage, CreateAndApplySnapshot) {
  auto s = StorageWith({1, 2, 3, 4});
  raftpb::Snapshot snap;
  ASSERT_TRUE(s->CreateSnapshot(3, Voters({1, 2}), "state@3", &snap).ok());
  EXPECT_EQ(snap.metadata().index(), 3u);
  EXPECT_EQ(snap.metadata().term(), 3u);
  EXPECT_EQ(s->CreateSnapshot(2, Voters({1}), "", nullptr).code(), Status::Code::kOutOfRange);
  raftpb::HardState hs;
  raftpb::ConfState cs;
  ASSERT_TRUE(s->InitialState(&hs, &cs).ok());
  EXPECT_EQ(cs.voters_size(), 2);

  MemoryStorage other;
  ASSERT_TRUE(other.ApplySnapshot(snap).ok());
  EXPECT_EQ(other.FirstIndex(), 4u);
  EXPECT_EQ(other.LastIndex(), 3u);
  EXPECT_EQ(other.ApplySnapshot(snap).code(), Status::Code::kOutOfRange);
}

TEST(UnstableLog, TruncateAndAppend) {
  struct Case {
    uint64_t offset;
    std::vector<uint64_t> have;  // terms from offset
    std::vector<raftpb::Entry> add;
    uint64_t want_offset;
    std::vector<uint64_t> want;
  };
  std::vector<Case> cases = {
      {5, {1}, {E(6, 1), E(7, 1)}, 5, {1, 1, 1}},  // append
      {5, {1}, {E(5, 2), E(6, 2)}, 5, {2, 2}},     // replace all
      {5, {1}, {E(4, 2), E(5, 2)}, 4, {2, 2}},     // starts before: replaces, offset moves
      {5, {1, 1, 1}, {E(6, 2)}, 5, {1, 2}},        // truncate then append
  };
  for (const auto& c : cases) {
    UnstableLog u(c.offset);
    u.TruncateAndAppend(EntriesWithTerms(c.have, c.offset));
    u.TruncateAndAppend(c.add);
    EXPECT_EQ(u.offset(), c.want_offset);
    EXPECT_EQ(Terms(u.entries()), c.want);
  }
}

TEST(UnstableLog, StableToIgnoresReplacedEntries) {
  UnstableLog u(1);
  u.TruncateAndAppend({E(1, 1), E(2, 1)});
  u.StableTo(2, 2);  // term mismatch: a newer entry replaced it
  EXPECT_EQ(u.entries().size(), 2u);
  u.StableTo(1, 1);
  EXPECT_EQ(u.offset(), 2u);
  EXPECT_EQ(u.entries().size(), 1u);
}

TEST(RaftLog, MaybeAppendCommitsOnlyWhatTheMessageProves) {
  auto s = StorageWith({1, 2, 3});
  RaftLog log(s.get(), kNoLimit);
  // Mismatch: nothing happens.
  EXPECT_FALSE(log.MaybeAppend(3, 2, 3, {E(4, 4)}));
  // Match: appended, commit capped at the last new index.
  auto last = log.MaybeAppend(3, 3, 10, {E(4, 4)});
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, 4u);
  EXPECT_EQ(log.committed(), 4u);
  // Conflict after the commit index replaces the suffix.
  auto last2 = log.MaybeAppend(0, 0, 0, {E(1, 1), E(2, 2), E(3, 3), E(4, 4)});
  ASSERT_TRUE(last2);
  EXPECT_EQ(log.LastIndex(), 4u);
}

TEST(RaftLog, FindConflict) {
  auto s = StorageWith({1, 2, 3});
  RaftLog log(s.get(), kNoLimit);
  EXPECT_EQ(log.FindConflict({}), 0u);
  EXPECT_EQ(log.FindConflict({E(1, 1), E(2, 2)}), 0u);
  EXPECT_EQ(log.FindConflict({E(2, 2), E(3, 3), E(4, 4)}), 4u);
  EXPECT_EQ(log.FindConflict({E(2, 1), E(3, 4)}), 2u);
}

TEST(RaftLog, FindConflictByTerm) {
  auto s = StorageWith({1, 1, 3, 3, 5});
  RaftLog log(s.get(), kNoLimit);
  EXPECT_EQ(log.FindConflictByTerm(5, 4), (std::pair<uint64_t, uint64_t>{4, 3}));
  EXPECT_EQ(log.FindConflictByTerm(5, 2), (std::pair<uint64_t, uint64_t>{2, 1}));
  EXPECT_EQ(log.FindConflictByTerm(5, 5), (std::pair<uint64_t, uint64_t>{5, 5}));
  EXPECT_EQ(log.FindConflictByTerm(5, 0), (std::pair<uint64_t, uint64_t>{0, 0}));
  // Compacted: the term is unknown there.
  ASSERT_TRUE(s->Compact(3).ok());
  RaftLog log2(s.get(), kNoLimit);
  EXPECT_EQ(log2.FindConflictByTerm(5, 1), (std::pair<uint64_t, uint64_t>{2, 0}));
}

TEST(RaftLog, IsUpToDate) {
  auto s = StorageWith({1, 2, 2});
  RaftLog log(s.get(), kNoLimit);
  EXPECT_TRUE(log.IsUpToDate(3, 2));
  EXPECT_TRUE(log.IsUpToDate(4, 2));
  EXPECT_FALSE(log.IsUpToDate(2, 2));
  EXPECT_TRUE(log.IsUpToDate(1, 3));
  EXPECT_FALSE(log.IsUpToDate(9, 1));
}

TEST(RaftLog, MaybeCommitNeedsMatchingTerm) {
  auto s = StorageWith({1, 2, 3});
  RaftLog log(s.get(), kNoLimit);
  EXPECT_FALSE(log.MaybeCommit(2, 3));
  EXPECT_TRUE(log.MaybeCommit(3, 3));
  EXPECT_EQ(log.committed(), 3u);
  EXPECT_FALSE(log.MaybeCommit(2, 2));  // never backwards
}

TEST(RaftLog, NextCommittedEntriesSpansStableAndUnstable) {
  auto s = StorageWith({1, 1});
  RaftLog log(s.get(), kNoLimit);
  log.Append({E(3, 2), E(4, 2)});
  log.CommitTo(4);
  auto ents = log.NextCommittedEntries();
  EXPECT_EQ(Terms(ents), (std::vector<uint64_t>{1, 1, 2, 2}));
  log.AppliedTo(2);
  EXPECT_EQ(log.NextCommittedEntries().size(), 2u);
  log.AppliedTo(4);
  EXPECT_FALSE(log.HasNextCommittedEntries());
}

TEST(RaftLog, CommittedEntriesLimitedPerReady) {
  auto s = std::make_unique<MemoryStorage>();
  std::vector<raftpb::Entry> ents;
  for (uint64_t i = 1; i <= 10; ++i) ents.push_back(E(i, 1, std::string(50, 'y')));
  ASSERT_TRUE(s->Append(ents).ok());
  RaftLog log(s.get(), 3 * EntrySize(ents[0]));
  log.CommitTo(10);
  EXPECT_EQ(log.NextCommittedEntries().size(), 3u);
}

TEST(RaftLog, RestoreSnapshot) {
  auto s = StorageWith({1, 1, 1});
  RaftLog log(s.get(), kNoLimit);
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  log.Restore(snap);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_EQ(log.FirstIndex(), 11u);
  EXPECT_EQ(log.LastIndex(), 10u);
  EXPECT_EQ(log.LastTerm(), 4u);
  EXPECT_FALSE(log.HasNextCommittedEntries());  // the snapshot comes first
  EXPECT_TRUE(log.PendingSnapshot());
}

}  // namespace
}  // namespace capstan::raft
