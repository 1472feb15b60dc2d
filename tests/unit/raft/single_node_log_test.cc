#include "raft/single_node_log.h"

#include <gtest/gtest.h>

#include "storage/temp_dir.h"

namespace capstan::raft {
namespace {

raftpb::Entry MakeEntry(uint64_t index) {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(1);
  e.set_data("e" + std::to_string(index));
  return e;
}

SingleNodeLogOptions Options(const std::string& dir) {
  SingleNodeLogOptions o;
  o.wal_dir = dir;
  o.wal.segment_size = 512;
  o.wal.zero_fill = false;
  return o;
}

// A WAL holding entries first..last only, as after ReleaseBefore(first).
void WriteLog(const std::string& dir, uint64_t first, uint64_t last) {
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir, "1", Options(dir).wal, &wal).ok());
  for (uint64_t i = 1; i <= last; i++) {
    raftpb::Entry e = MakeEntry(i);
    ASSERT_TRUE(wal->Save(nullptr, std::span(&e, 1), true).ok());
  }
  ASSERT_TRUE(wal->ReleaseBefore(first).ok());
  wal.reset();
  WalContents c;
  ASSERT_TRUE(Wal::Open(dir, Options(dir).wal, &wal, &c).ok());
  ASSERT_FALSE(c.entries.empty());
  ASSERT_GT(c.entries.front().index(), 1u);  // the test needs released segments
}

TEST(SingleNodeLogTest, ReplaysWhatFollowsTheStore) {
  TempDir tmp;
  WriteLog(tmp.path(), 40, 60);
  WalContents c;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Open(tmp.path(), Options(tmp.path()).wal, &wal, &c).ok());
  const uint64_t first = c.entries.front().index();
  wal.reset();
  SingleNodeLog log(Options(tmp.path()));
  std::vector<uint64_t> applied;
  ASSERT_TRUE(log.Start(first - 1,
                        [&](std::vector<raftpb::Entry> es) {
                          for (const auto& e : es) applied.push_back(e.index());
                        })
                  .ok());
  log.Stop();
  ASSERT_FALSE(applied.empty());
  EXPECT_EQ(applied.front(), first);
}

TEST(SingleNodeLogTest, StoreOlderThanTheLogsStartIsRefused) {
  // A data dir restored from an older backup, the WAL (elsewhere) newer:
  // replaying would skip the entries between.
  TempDir tmp;
  WriteLog(tmp.path(), 40, 60);
  SingleNodeLog log(Options(tmp.path()));
  bool called = false;
  Status s = log.Start(5, [&](std::vector<raftpb::Entry>) { called = true; });
  ASSERT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("the store has applied up to index 5 but the log starts at index"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(called);
}

TEST(SingleNodeLogTest, StoreOlderThanTheSnapshotMarkerIsRefused) {
  TempDir tmp;
  {
    std::unique_ptr<Wal> wal;
    ASSERT_TRUE(Wal::Create(tmp.path(), "1", Options(tmp.path()).wal, &wal).ok());
    ASSERT_TRUE(wal->SaveSnapshotMarker(30, 1).ok());  // a store imported at 30
  }
  SingleNodeLog refused(Options(tmp.path()));
  Status s = refused.Start(12, [](std::vector<raftpb::Entry>) {});
  ASSERT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("starts at index 31 (entries 13 to 30 are missing)"),
            std::string::npos)
      << s.message();
  SingleNodeLog ok(Options(tmp.path()));
  EXPECT_TRUE(ok.Start(30, [](std::vector<raftpb::Entry>) {}).ok());
  ok.Stop();
}

}  // namespace
}  // namespace capstan::raft
