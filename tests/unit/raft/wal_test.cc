#include "raft/wal.h"
#include "storage/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "raft/wal_writer.h"

namespace capstan::raft {
namespace {

using capstan::TempDir;

namespace fs = std::filesystem;

raftpb::Entry MakeEntry(uint64_t index, uint64_t term, std::string data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  // Data is serialized last and ends in a non-zero byte, so a record's last
  // byte is never zero: zeroing any suffix of a record really damages it.
  if (data.empty()) data = "payload-" + std::to_string(index) + "-t" + std::to_string(term) + "!";
  e.set_data(data);
  return e;
}

std::vector<raftpb::Entry> MakeEntries(uint64_t first, uint64_t last, uint64_t term = 1) {
  std::vector<raftpb::Entry> v;
  for (uint64_t i = first; i <= last; i++) v.push_back(MakeEntry(i, term));
  return v;
}

raftpb::HardState MakeHardState(uint64_t term, uint64_t vote, uint64_t commit) {
  raftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

WalOptions SmallOptions(uint64_t segment_size = 4096) {
  WalOptions o;
  o.segment_size = segment_size;
  return o;
}

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") v.push_back(e.path().string());
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

size_t NonZeroEnd(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && s[end - 1] == 0) end--;
  return end;
}

// Checks that `entries` are exactly first..last with the data MakeEntry gives.
void ExpectEntries(const std::vector<raftpb::Entry>& entries, uint64_t first, uint64_t last,
                   uint64_t term = 1) {
  ASSERT_EQ(entries.size(), last >= first ? last - first + 1 : 0);
  for (uint64_t i = first; i <= last; i++) {
    const raftpb::Entry& e = entries[i - first];
    ASSERT_EQ(e.index(), i);
    ASSERT_EQ(e.term(), term) << "index " << i;
    ASSERT_EQ(e.data(), MakeEntry(i, term).data());
  }
}

Status Reopen(const std::string& dir, WalContents* contents, std::unique_ptr<Wal>* wal = nullptr,
              const WalOptions& options = SmallOptions()) {
  std::unique_ptr<Wal> w;
  Status s = Wal::Open(dir, options, &w, contents);
  if (wal != nullptr) *wal = std::move(w);
  return s;
}

TEST(WalTest, RoundTripEntriesHardStateMetadata) {
  TempDir dir;
  std::string d = dir.path() + "/wal";
  EXPECT_FALSE(Wal::Exists(d));
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(d, "cluster=7,node=3", SmallOptions(1 << 20), &wal).ok());
  EXPECT_TRUE(Wal::Exists(d));
  auto hs = MakeHardState(4, 3, 9);
  auto ents = MakeEntries(1, 10);
  ASSERT_TRUE(wal->Save(&hs, ents, true).ok());
  EXPECT_EQ(wal->last_index(), 10u);
  wal.reset();

  WalContents c;
  ASSERT_TRUE(Reopen(d, &c).ok());
  EXPECT_EQ(c.metadata, "cluster=7,node=3");
  EXPECT_EQ(c.hard_state.term(), 4u);
  EXPECT_EQ(c.hard_state.vote(), 3u);
  EXPECT_EQ(c.hard_state.commit(), 9u);
  EXPECT_EQ(c.snapshot_index, 0u);
  EXPECT_EQ(c.discarded_bytes, 0u);
  ExpectEntries(c.entries, 1, 10);
  // Preallocated and overwritten, not grown.
  auto segs = Segments(d);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(fs::path(segs[0]).filename(), "0000000000000001-0000000000000001.wal");
  EXPECT_EQ(fs::file_size(segs[0]), uint64_t{1} << 20);
}

TEST(WalTest, CreateRefusesExistingLogAndOpenNeedsOne) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  WalContents c;
  EXPECT_TRUE(Wal::Open(dir.path(), SmallOptions(), &wal, &c).IsNotFound());
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(), &wal).ok());
  wal.reset();
  std::unique_ptr<Wal> again;
  Status s = Wal::Create(dir.path(), "m", SmallOptions(), &again);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
}

TEST(WalTest, OnlyOneOpenerAtATime) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(), &wal).ok());
  std::unique_ptr<Wal> second;
  WalContents c;
  EXPECT_EQ(Wal::Open(dir.path(), SmallOptions(), &second, &c).code(), Status::Code::kUnavailable);
  wal.reset();
  EXPECT_TRUE(Wal::Open(dir.path(), SmallOptions(), &second, &c).ok());
}

TEST(WalTest, ReopenAndAppend) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1 << 20), &wal).ok());
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(1, 5), true).ok());
  wal.reset();
  for (uint64_t round = 0; round < 3; round++) {
    WalContents c;
    ASSERT_TRUE(Reopen(dir.path(), &c, &wal).ok());
    ExpectEntries(c.entries, 1, 5 + round * 5);
    EXPECT_EQ(wal->last_index(), 5 + round * 5);
    auto hs = MakeHardState(1, 1, 5 + round * 5);
    ASSERT_TRUE(wal->Save(&hs, MakeEntries(6 + round * 5, 10 + round * 5), true).ok());
    wal.reset();
  }
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ExpectEntries(c.entries, 1, 20);
  EXPECT_EQ(c.hard_state.commit(), 15u);
}

TEST(WalTest, UnsyncedSavesAreReadBack) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1 << 20), &wal).ok());
  uint64_t syncs = wal->sync_count();
  for (uint64_t i = 1; i <= 10; i++) {
    ASSERT_TRUE(wal->Save(nullptr, MakeEntries(i, i), false).ok());
  }
  EXPECT_EQ(wal->sync_count(), syncs);
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_EQ(wal->sync_count(), syncs + 1);
  ASSERT_TRUE(wal->Sync().ok());  // nothing new: no fdatasync
  EXPECT_EQ(wal->sync_count(), syncs + 1);
  wal.reset();
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ExpectEntries(c.entries, 1, 10);
}

TEST(WalTest, OverwriteRuleOnRead) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1 << 20), &wal).ok());
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(1, 10, 1), true).ok());
  // A new leader in term 2 replaces 6.. with a shorter log.
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(6, 7, 2), true).ok());
  EXPECT_EQ(wal->last_index(), 7u);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(8, 8, 2), true).ok());
  wal.reset();

  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal).ok());
  ASSERT_EQ(c.entries.size(), 8u);
  for (uint64_t i = 1; i <= 8; i++) {
    EXPECT_EQ(c.entries[i - 1].index(), i);
    EXPECT_EQ(c.entries[i - 1].term(), i <= 5 ? 1u : 2u);
    EXPECT_EQ(c.entries[i - 1].data(), MakeEntry(i, i <= 5 ? 1 : 2).data());
  }
  // And again after reopening: term 3 replaces from 2 on; within one batch too.
  std::vector<raftpb::Entry> batch = MakeEntries(2, 4, 3);
  batch.push_back(MakeEntry(3, 4));  // overwrite inside the same batch
  ASSERT_TRUE(wal->Save(nullptr, batch, true).ok());
  EXPECT_EQ(wal->last_index(), 3u);
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(c.entries[0].term(), 1u);
  EXPECT_EQ(c.entries[1].term(), 3u);
  EXPECT_EQ(c.entries[2].term(), 4u);
}

TEST(WalTest, SaveRejectsGapsAndLeavesLogUsable) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(), &wal).ok());
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(1, 3), true).ok());
  std::vector<raftpb::Entry> gap = {MakeEntry(4, 1), MakeEntry(6, 1)};
  EXPECT_EQ(wal->Save(nullptr, gap, true).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(wal->Save(nullptr, MakeEntries(5, 5), true).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(4, 4), true).ok());
  wal.reset();
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ExpectEntries(c.entries, 1, 4);
}

TEST(WalTest, SegmentRolling) {
  TempDir dir;
  const WalOptions opts = SmallOptions(1024);
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "meta", opts, &wal).ok());
  uint64_t next = 1;
  // Batches of various sizes, including ones bigger than a segment.
  for (uint64_t n : {1, 7, 30, 200, 3, 150}) {
    auto hs = MakeHardState(1, 1, next + n - 1);
    ASSERT_TRUE(wal->Save(&hs, MakeEntries(next, next + n - 1), true).ok());
    next += n;
  }
  // One entry bigger than a whole segment gets a segment of its own.
  raftpb::Entry big = MakeEntry(next, 1, std::string(10000, 'b') + "!");
  ASSERT_TRUE(wal->Save(nullptr, std::span(&big, 1), true).ok());
  next++;
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(next, next + 19), true).ok());
  next += 20;
  EXPECT_GT(wal->segment_count(), 5u);
  wal.reset();

  auto segs = Segments(dir.path());
  ASSERT_GT(segs.size(), 5u);
  bool saw_big = false;
  for (size_t i = 0; i < segs.size(); i++) {
    // Names are <seq>-<first index>, seq counting from 1.
    char want[20];
    std::snprintf(want, sizeof(want), "%016zx-", i + 1);
    EXPECT_EQ(fs::path(segs[i]).filename().string().substr(0, 17), want);
    uint64_t size = fs::file_size(segs[i]);
    EXPECT_GE(size, opts.segment_size);
    if (size > opts.segment_size) saw_big = true;
  }
  EXPECT_TRUE(saw_big);

  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal, opts).ok());
  ASSERT_EQ(c.entries.size(), next - 1);
  for (uint64_t i = 1; i < next; i++) ASSERT_EQ(c.entries[i - 1].index(), i);
  EXPECT_EQ(c.entries[391].data().size(), 10001u);
  EXPECT_EQ(c.hard_state.commit(), 391u);
  EXPECT_EQ(c.metadata, "meta");
  // Keep going after reopening; still chained across the roll.
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(next, next + 99), true).ok());
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c, nullptr, opts).ok());
  ASSERT_EQ(c.entries.size(), next + 99);
  // No spare files are left behind.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  }
}

TEST(WalTest, ReleaseBeforeDeletesOldSegments) {
  TempDir dir;
  const WalOptions opts = SmallOptions(1024);
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "meta", opts, &wal).ok());
  auto hs = MakeHardState(5, 2, 1);
  ASSERT_TRUE(wal->Save(&hs, {}, true).ok());  // only in the first segment's records
  for (uint64_t i = 1; i <= 600; i += 10) {
    ASSERT_TRUE(wal->Save(nullptr, MakeEntries(i, i + 9), true).ok());
  }
  const size_t before = wal->segment_count();
  ASSERT_GT(before, 8u);
  raftpb::ConfState conf;
  conf.add_voters(7);
  conf.add_voters(9);
  conf.add_learners(11);
  ASSERT_TRUE(wal->SaveSnapshotMarker(400, 1, conf).ok());
  ASSERT_TRUE(wal->ReleaseBefore(401).ok());
  const size_t after = wal->segment_count();
  EXPECT_LT(after, before);
  EXPECT_EQ(Segments(dir.path()).size(), after);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(601, 610), true).ok());
  wal.reset();

  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal, opts).ok());
  EXPECT_EQ(c.metadata, "meta");
  EXPECT_EQ(c.hard_state.term(), 5u);  // carried into every new segment
  EXPECT_EQ(c.snapshot_index, 400u);
  // The membership as of the snapshot survives, repeated in new segments.
  EXPECT_EQ(c.snapshot_conf_state.SerializeAsString(), conf.SerializeAsString());
  ExpectEntries(c.entries, 401, 610);
  // The oldest remaining segment still holds entry 400's successor.
  auto segs = Segments(dir.path());
  uint64_t seq, first;
  ASSERT_EQ(std::sscanf(fs::path(segs[0]).filename().c_str(), "%16lx-%16lx", &seq, &first), 2);
  EXPECT_LE(first, 401u);
  EXPECT_EQ(seq, before - after + 1);

  // Releasing everything keeps the segment being written and the last entry.
  ASSERT_TRUE(wal->SaveSnapshotMarker(610, 1).ok());
  ASSERT_TRUE(wal->ReleaseBefore(10000).ok());
  EXPECT_GE(wal->segment_count(), 1u);
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal, opts).ok());
  EXPECT_EQ(c.snapshot_index, 610u);
  EXPECT_TRUE(c.entries.empty());
  EXPECT_EQ(wal->last_index(), 610u);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(611, 611), true).ok());
}

TEST(WalTest, ReleaseWithoutSnapshotMarkerKeepsLastEntry) {
  // A caller whose state machine is durable up to an index may release below
  // it without a marker; reopening must still know where the log ends.
  TempDir dir;
  const WalOptions opts = SmallOptions(1024);
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "meta", opts, &wal).ok());
  for (uint64_t i = 1; i <= 300; i += 10) {
    ASSERT_TRUE(wal->Save(nullptr, MakeEntries(i, i + 9), true).ok());
  }
  const size_t before = wal->segment_count();
  ASSERT_TRUE(wal->ReleaseBefore(1000).ok());
  EXPECT_LT(wal->segment_count(), before);
  wal.reset();
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal, opts).ok());
  ASSERT_FALSE(c.entries.empty());
  EXPECT_EQ(c.entries.back().index(), 300u);
  EXPECT_GT(c.entries.front().index(), 1u);
  EXPECT_EQ(wal->last_index(), 300u);
}

TEST(WalTest, SnapshotMarkerFiltersEntries) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1 << 20), &wal).ok());
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(1, 10), true).ok());
  ASSERT_TRUE(wal->SaveSnapshotMarker(5, 1).ok());
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(11, 12), true).ok());
  EXPECT_EQ(wal->Save(nullptr, MakeEntries(5, 5), true).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(wal->SaveSnapshotMarker(4, 1).code(), Status::Code::kInvalidArgument);
  wal.reset();

  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal).ok());
  EXPECT_EQ(c.snapshot_index, 5u);
  EXPECT_EQ(c.snapshot_term, 1u);
  ExpectEntries(c.entries, 6, 12);

  // A snapshot from a leader, past the end of the log: the old entries go.
  ASSERT_TRUE(wal->SaveSnapshotMarker(100, 3).ok());
  EXPECT_EQ(wal->last_index(), 100u);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(101, 102, 3), true).ok());
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  EXPECT_EQ(c.snapshot_index, 100u);
  EXPECT_EQ(c.snapshot_term, 3u);
  ExpectEntries(c.entries, 101, 102, 3);
}

// Writes 1..19 and then entry 20 alone, and returns the last segment's bytes
// and where record 20 lies in it.
struct LastRecord {
  std::string path;
  std::string bytes;
  size_t begin;
  size_t end;
};

LastRecord WriteTwentyEntries(const std::string& dir) {
  std::unique_ptr<Wal> wal;
  EXPECT_TRUE(Wal::Create(dir, "m", SmallOptions(), &wal).ok());
  EXPECT_TRUE(wal->Save(nullptr, MakeEntries(1, 19), true).ok());
  wal.reset();
  LastRecord r;
  r.path = Segments(dir).back();
  r.begin = NonZeroEnd(ReadBytes(r.path));
  WalContents c;
  EXPECT_TRUE(Reopen(dir, &c, &wal).ok());
  EXPECT_TRUE(wal->Save(nullptr, MakeEntries(20, 20), true).ok());
  wal.reset();
  r.bytes = ReadBytes(r.path);
  r.end = NonZeroEnd(r.bytes);
  return r;
}

TEST(WalTest, TornTailTruncatedAtEveryOffsetOfLastRecord) {
  TempDir dir;
  const LastRecord last = WriteTwentyEntries(dir.path());
  ASSERT_GT(last.end, last.begin + 9);
  for (size_t cut = last.begin; cut < last.end; cut++) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    for (int garbage = 0; garbage < 2; garbage++) {
      // Zeros, as a write that did not reach the preallocated area leaves,
      // or garbage.
      std::string bytes = last.bytes;
      for (size_t i = cut; i < last.end; i++) bytes[i] = garbage ? static_cast<char>(0xa5) : 0;
      WriteBytes(last.path, bytes);

      WalContents c;
      std::unique_ptr<Wal> wal;
      Status s = Reopen(dir.path(), &c, &wal);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ExpectEntries(c.entries, 1, 19);
      EXPECT_EQ(c.discarded_bytes,
                NonZeroEnd(bytes) > last.begin ? NonZeroEnd(bytes) - last.begin : 0);
      // Appends continue after the last good record.
      raftpb::Entry e = MakeEntry(20, 2);
      ASSERT_TRUE(wal->Save(nullptr, std::span(&e, 1), true).ok());
      wal.reset();
      ASSERT_TRUE(Reopen(dir.path(), &c).ok());
      ASSERT_EQ(c.entries.size(), 20u);
      EXPECT_EQ(c.entries[19].term(), 2u);
      EXPECT_EQ(c.discarded_bytes, 0u);
    }
  }
}

TEST(WalTest, TruncatedFileIsRecoveredAndPreallocatedAgain) {
  TempDir dir;
  const LastRecord last = WriteTwentyEntries(dir.path());
  fs::resize_file(last.path, (last.begin + last.end) / 2);
  WalContents c;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Reopen(dir.path(), &c, &wal).ok());
  ExpectEntries(c.entries, 1, 19);
  EXPECT_EQ(fs::file_size(last.path), 4096u);
  ASSERT_TRUE(wal->Save(nullptr, MakeEntries(20, 21), true).ok());
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ExpectEntries(c.entries, 1, 21);
}

// Where each record of a segment file starts, found by walking the length
// fields up to the zeroed space.
std::vector<size_t> RecordStarts(const std::string& bytes) {
  std::vector<size_t> starts;
  size_t off = 0;
  while (off + 9 <= bytes.size() && bytes.compare(off, 9, std::string(9, '\0')) != 0) {
    starts.push_back(off);
    uint32_t len;
    std::memcpy(&len, bytes.data() + off, 4);
    off += 9 + len;
  }
  return starts;
}

// Record k's offset in a single-segment log of entries 1..n, by writing them
// one at a time and watching where the data ends.
std::vector<size_t> RecordOffsets(const std::string& dir, uint64_t n, const WalOptions& opts) {
  std::vector<size_t> offsets;
  std::unique_ptr<Wal> wal;
  EXPECT_TRUE(Wal::Create(dir, "m", opts, &wal).ok());
  for (uint64_t i = 1; i <= n; i++) {
    offsets.push_back(NonZeroEnd(ReadBytes(Segments(dir).back())));
    EXPECT_TRUE(wal->Save(nullptr, MakeEntries(i, i), true).ok());
  }
  offsets.push_back(NonZeroEnd(ReadBytes(Segments(dir).back())));
  return offsets;  // offsets[k-1] = start of record k; offsets[n] = end of data
}

TEST(WalTest, MidFileCorruptionIsRefused) {
  TempDir dir;
  const auto offsets = RecordOffsets(dir.path(), 30, SmallOptions());
  const std::string path = Segments(dir.path()).back();
  std::string bytes = ReadBytes(path);
  const size_t at = offsets[14] + 12;  // inside record 15
  bytes[at] ^= 0x40;
  WriteBytes(path, bytes);
  WalContents c;
  Status s = Reopen(dir.path(), &c);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("offset " + std::to_string(offsets[14])), std::string::npos)
      << s.message();
}

TEST(WalTest, EveryBitFlipBeforeTheTailIsCorruption) {
  // Flip one bit at each byte of records 10 (many records follow) and 19
  // (only the last follows), header fields included.
  TempDir dir;
  const auto offsets = RecordOffsets(dir.path(), 20, SmallOptions());
  const std::string path = Segments(dir.path()).back();
  const std::string clean = ReadBytes(path);
  for (size_t k : {10, 19}) {
    for (size_t at = offsets[k - 1]; at < offsets[k]; at++) {
      for (int bit : {0, 7}) {
        std::string bytes = clean;
        bytes[at] ^= static_cast<char>(1 << bit);
        WriteBytes(path, bytes);
        WalContents c;
        Status s = Reopen(dir.path(), &c);
        EXPECT_TRUE(s.IsCorruption())
            << "record " << k << " byte " << at << " bit " << bit << ": " << s.ToString();
      }
    }
  }
  // A flip in the very last record is a torn tail: cut off, not an error.
  std::string bytes = clean;
  bytes[offsets[19] + 10] ^= 1;
  WriteBytes(path, bytes);
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  ExpectEntries(c.entries, 1, 19);
}

TEST(WalTest, SplicedRecordIsDetected) {
  // Record 5 replaced by an intact copy of record 4 (same size): its own
  // checksum is fine, but the chain is not.
  TempDir dir;
  const auto offsets = RecordOffsets(dir.path(), 10, SmallOptions());
  ASSERT_EQ(offsets[4] - offsets[3], offsets[5] - offsets[4]);
  const std::string path = Segments(dir.path()).back();
  std::string bytes = ReadBytes(path);
  bytes.replace(offsets[4], offsets[5] - offsets[4],
                bytes.substr(offsets[3], offsets[4] - offsets[3]));
  WriteBytes(path, bytes);
  WalContents c;
  EXPECT_TRUE(Reopen(dir.path(), &c).IsCorruption());
}

TEST(WalTest, ZeroedRecordInTheMiddleIsCorruption) {
  // Zeros look like the unused end of a segment, but valid data follows.
  TempDir dir;
  const auto offsets = RecordOffsets(dir.path(), 10, SmallOptions());
  const std::string path = Segments(dir.path()).back();
  std::string bytes = ReadBytes(path);
  std::fill(bytes.begin() + static_cast<ptrdiff_t>(offsets[3]),
            bytes.begin() + static_cast<ptrdiff_t>(offsets[5]), 0);
  WriteBytes(path, bytes);
  WalContents c;
  EXPECT_TRUE(Reopen(dir.path(), &c).IsCorruption());
}

TEST(WalTest, DamageInEarlierSegmentIsCorruption) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1024), &wal).ok());
  for (uint64_t i = 1; i <= 100; i++)
    ASSERT_TRUE(wal->Save(nullptr, MakeEntries(i, i), false).ok());
  wal.reset();
  auto segs = Segments(dir.path());
  ASSERT_GE(segs.size(), 3u);
  const std::string clean = ReadBytes(segs[0]);

  // The last record of a full segment is not a torn tail.
  std::string bytes = clean;
  bytes[NonZeroEnd(bytes) - 1] ^= 1;
  WriteBytes(segs[0], bytes);
  WalContents c;
  Status s = Reopen(dir.path(), &c);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(segs[0]), std::string::npos) << s.message();

  // Nor is losing it whole: the segment then reads as cleanly ended, but
  // the next segment's header no longer chains to it.
  bytes = clean;
  std::vector<size_t> starts = RecordStarts(bytes);
  std::fill(bytes.begin() + static_cast<ptrdiff_t>(starts.back()), bytes.end(), 0);
  WriteBytes(segs[0], bytes);
  s = Reopen(dir.path(), &c);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("chain"), std::string::npos) << s.message();

  // A missing segment in the middle.
  WriteBytes(segs[0], clean);
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  fs::remove(segs[1]);
  s = Reopen(dir.path(), &c);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

// A log whose last write was synced (entries 1..10 and a HardState with
// commit 10), followed by `n` unsynced writes, as Raft's commit-only
// HardState saves are. Records where each unsynced write starts.
struct UnsyncedTail {
  std::string path;
  std::string bytes;
  size_t synced_end = 0;
  std::vector<size_t> starts;  // starts[k]: unsynced write k; starts[n] = end of data
};

// `then` (optional) writes more before the log is closed.
UnsyncedTail WriteUnsyncedTail(const std::string& dir, int n, bool big_entries = false,
                               const std::function<void(Wal*)>& then = nullptr) {
  UnsyncedTail t;
  std::unique_ptr<Wal> wal;
  EXPECT_TRUE(Wal::Create(dir, "m", SmallOptions(1 << 16), &wal).ok());
  raftpb::HardState hs = MakeHardState(1, 1, 10);
  EXPECT_TRUE(wal->Save(&hs, MakeEntries(1, 10), true).ok());
  t.path = Segments(dir).back();
  t.synced_end = NonZeroEnd(ReadBytes(t.path));
  for (int k = 0; k < n; k++) {
    t.starts.push_back(NonZeroEnd(ReadBytes(t.path)));
    if (big_entries) {
      raftpb::Entry e = MakeEntry(11 + k, 1, std::string(1500, 'x') + "!");
      EXPECT_TRUE(wal->Save(nullptr, std::span(&e, 1), false).ok());
    } else {
      hs = MakeHardState(1, 1, 11 + k);
      EXPECT_TRUE(wal->Save(&hs, {}, false).ok());
    }
  }
  t.starts.push_back(NonZeroEnd(ReadBytes(t.path)));
  if (then) then(wal.get());
  wal.reset();
  t.bytes = ReadBytes(t.path);
  return t;
}

void Fill(std::string* bytes, size_t from, size_t to, char c) {
  std::fill(bytes->begin() + static_cast<ptrdiff_t>(from),
            bytes->begin() + static_cast<ptrdiff_t>(to), c);
}

// Opens the damaged log, expects it cut at `cut` with the HardState of
// commit `commit`, and checks it takes appends and reopens cleanly.
void ExpectTailCutAt(const std::string& dir, const std::string& bytes, size_t cut,
                     uint64_t commit) {
  WalContents c;
  std::unique_ptr<Wal> wal;
  Status s = Reopen(dir, &c, &wal, SmallOptions(1 << 16));
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectEntries(c.entries, 1, 10);
  EXPECT_EQ(c.hard_state.commit(), commit);
  EXPECT_EQ(c.discarded_bytes, NonZeroEnd(bytes) - cut);
  raftpb::HardState hs = MakeHardState(2, 1, 10);
  ASSERT_TRUE(wal->Save(&hs, MakeEntries(11, 11, 2), true).ok());
  wal.reset();
  ASSERT_TRUE(Reopen(dir, &c, nullptr, SmallOptions(1 << 16)).ok());
  ASSERT_EQ(c.entries.size(), 11u);
  EXPECT_EQ(c.hard_state.term(), 2u);
  EXPECT_EQ(c.discarded_bytes, 0u);
}

TEST(WalTest, LostUnsyncedRecordsAreATailNotCorruption) {
  // Power loss kept some unsynced writes and not others: an earlier one
  // reads as zeros while later ones survived. Nothing synced is lost.
  for (int lost : {0, 2, 4}) {
    SCOPED_TRACE("lost write " + std::to_string(lost));
    TempDir dir;
    UnsyncedTail t = WriteUnsyncedTail(dir.path(), 6);
    std::string bytes = t.bytes;
    Fill(&bytes, t.starts[lost], t.starts[lost + 1], 0);
    WriteBytes(t.path, bytes);
    ExpectTailCutAt(dir.path(), bytes, t.starts[lost], 10 + lost);
  }
}

TEST(WalTest, TornUnsyncedRecordFollowedBySurvivorsIsATail) {
  for (int torn : {0, 3}) {
    SCOPED_TRACE("torn write " + std::to_string(torn));
    TempDir dir;
    UnsyncedTail t = WriteUnsyncedTail(dir.path(), 6);
    std::string bytes = t.bytes;
    // The second half of the record is garbage.
    Fill(&bytes, (t.starts[torn] + t.starts[torn + 1]) / 2, t.starts[torn + 1],
         static_cast<char>(0xa5));
    WriteBytes(t.path, bytes);
    ExpectTailCutAt(dir.path(), bytes, t.starts[torn], 10 + torn);
  }
}

TEST(WalTest, ZeroedPagesInTheUnsyncedTailAreATail) {
  // Unsynced entries over several pages; the first whole page after the
  // synced data never reached the disk, the pages after it did.
  TempDir dir;
  UnsyncedTail t = WriteUnsyncedTail(dir.path(), 12, /*big_entries=*/true);
  const size_t page = (t.synced_end + 4095) / 4096 * 4096;
  ASSERT_LT(page + 4096, t.starts.back());
  std::string bytes = t.bytes;
  Fill(&bytes, page, page + 4096, 0);
  WriteBytes(t.path, bytes);
  // Entries that end before the page survive; the one it starts in is cut.
  size_t k = 0;
  while (t.starts[k + 1] <= page) k++;
  WalContents c;
  std::unique_ptr<Wal> wal;
  Status s = Reopen(dir.path(), &c, &wal, SmallOptions(1 << 16));
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.entries.size(), 10 + k);
  EXPECT_EQ(c.entries.back().index(), 10 + k);
  EXPECT_EQ(c.discarded_bytes, NonZeroEnd(bytes) - t.starts[k]);
  raftpb::Entry e = MakeEntry(11 + k, 2);
  ASSERT_TRUE(wal->Save(nullptr, std::span(&e, 1), true).ok());
  wal.reset();
  ASSERT_TRUE(Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16)).ok());
  EXPECT_EQ(c.entries.size(), 11 + k);
  EXPECT_EQ(c.discarded_bytes, 0u);
}

TEST(WalTest, DamageBeforeACompletedSyncIsCorruption) {
  // Unsynced writes, then a synced one, then another write: that last write
  // began after the sync returned, so everything before the sync was on
  // disk, and damage there is real.
  TempDir dir;
  size_t before_last = 0;
  UnsyncedTail t = WriteUnsyncedTail(dir.path(), 3, false, [&](Wal* wal) {
    raftpb::HardState hs = MakeHardState(1, 1, 13);
    ASSERT_TRUE(wal->Save(&hs, MakeEntries(11, 11), true).ok());
    before_last = NonZeroEnd(ReadBytes(Segments(dir.path()).back()));
    hs = MakeHardState(1, 1, 14);
    ASSERT_TRUE(wal->Save(&hs, {}, false).ok());
  });
  const std::string clean = t.bytes;
  WalContents c;

  std::string bytes = clean;
  Fill(&bytes, t.starts[1], t.starts[2], 0);
  WriteBytes(t.path, bytes);
  Status s = Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16));
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("offset " + std::to_string(t.starts[1])), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("after this data had been synced"), std::string::npos) << s.message();

  // Without the write after it, the synced write may not have completed
  // (power lost during its fdatasync): a tail.
  bytes.resize(before_last);
  bytes.resize(clean.size(), '\0');
  WriteBytes(t.path, bytes);
  ASSERT_TRUE(Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16)).ok());
  ExpectEntries(c.entries, 1, 10);
  EXPECT_EQ(c.hard_state.commit(), 11u);

  // Damage to a synced record itself, with later writes: corruption.
  bytes = clean;
  bytes[t.synced_end - 3] ^= 0x10;
  WriteBytes(t.path, bytes);
  EXPECT_TRUE(Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16)).IsCorruption());
}

// Rewrites a segment as format version 1 wrote it: that version in its
// header, no kWalAfterSyncFlag, every checksum chained again.
std::string AsFormatVersion1(const std::string& bytes) {
  std::string out = bytes;
  uint32_t seed = 0;
  bool first = true;
  for (size_t off : RecordStarts(bytes)) {
    char* p = out.data() + off;
    const uint32_t len = walio::GetFixed32(p);
    p[8] = static_cast<char>(static_cast<uint8_t>(p[8]) & ~kWalAfterSyncFlag);
    if (first) {
      WalSegmentHeader h;
      EXPECT_TRUE(DecodeWalSegmentHeader(std::string_view(p + 9, len), &h));
      seed = h.prev_checksum;
      walio::PutFixed32(p + 9 + 4, 1);  // the version field
      first = false;
    }
    seed = WalChecksum(seed, p + 8, 1 + size_t{len});
    walio::PutFixed32(p + 4, seed);
  }
  return out;
}

TEST(WalTest, FormatVersion1SegmentsKeepTheStrictRule) {
  // Their records do not say whether they followed a sync, so any valid
  // record after damage still makes it damage.
  TempDir dir;
  UnsyncedTail t = WriteUnsyncedTail(dir.path(), 6);
  std::string bytes = AsFormatVersion1(t.bytes);
  WriteBytes(t.path, bytes);
  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16)).ok());  // readable
  EXPECT_EQ(c.hard_state.commit(), 16u);
  Fill(&bytes, t.starts[0], t.starts[1], 0);
  WriteBytes(t.path, bytes);
  EXPECT_TRUE(Reopen(dir.path(), &c, nullptr, SmallOptions(1 << 16)).IsCorruption());
}

TEST(WalTest, FilesArePrivateWhateverTheUmask) {
  const mode_t old_umask = ::umask(0);
  TempDir dir;
  const std::string d = dir.path() + "/wal";
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(d, "m", SmallOptions(1024), &wal).ok());
  for (uint64_t i = 1; i <= 40; i++) ASSERT_TRUE(wal->Save(nullptr, MakeEntries(i, i), true).ok());
  ::umask(old_umask);
  ASSERT_GE(Segments(d).size(), 2u);
  struct stat st;
  ASSERT_EQ(::stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  int files = 0;
  for (const auto& e : fs::directory_iterator(d)) {
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << e.path();
    files++;
  }
  EXPECT_GE(files, 3);  // segments, LOCK (and the spare segment)
}

// Occupies the writer thread until `release` is set; returns once it is
// held, so that everything submitted afterwards queues up as one group.
void HoldWriter(WalWriter& writer, std::shared_future<void> release) {
  auto held = std::make_shared<std::promise<void>>();
  std::future<void> f = held->get_future();
  writer.Run(
      [held, release](Wal&) {
        held->set_value();
        release.wait();
        return Status::OK();
      },
      nullptr);
  f.wait();
}

TEST(WalTest, GroupCommitManyThreads) {
  TempDir dir;
  const WalOptions opts = SmallOptions(16 << 10);  // rolls a few times too
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", opts, &wal).ok());
  const uint64_t syncs_before = wal->sync_count();
  WalWriter writer(std::move(wal));

  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  constexpr int kTotal = kThreads * kPerThread;
  std::vector<std::atomic<int>> calls(kTotal + 1);
  std::atomic<int> failures{0};
  std::mutex order_mu;  // index order must match submission order, as in a Raft node
  uint64_t next_index = 1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; i++) {
        auto durable = std::make_shared<std::promise<void>>();
        std::future<void> f = durable->get_future();
        {
          std::lock_guard l(order_mu);
          uint64_t idx = next_index++;
          WalBatch b;
          b.entries.push_back(MakeEntry(idx, 1));
          if (idx % 3 == 0) b.hard_state = MakeHardState(1, 1, idx);
          writer.Submit(std::move(b), [&, idx, durable](const Status& s) {
            calls[idx]++;
            if (!s.ok()) failures++;
            durable->set_value();
          });
        }
        f.wait();  // like a client waiting for its write
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t syncs = 0;
  ASSERT_TRUE(writer
                  .RunAndWait([&](Wal& w) {
                    syncs = w.sync_count() - syncs_before;
                    return Status::OK();
                  })
                  .ok());
  writer.Stop();

  EXPECT_EQ(failures.load(), 0);
  for (int i = 1; i <= kTotal; i++) ASSERT_EQ(calls[i].load(), 1) << "callback " << i;
  EXPECT_LT(syncs, static_cast<uint64_t>(kTotal));
  std::printf("group commit: %d submits, %llu fdatasyncs\n", kTotal,
              static_cast<unsigned long long>(syncs));

  WalContents c;
  Status s = Reopen(dir.path(), &c, nullptr, opts);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectEntries(c.entries, 1, kTotal);
  EXPECT_EQ(c.hard_state.commit(), static_cast<uint64_t>(kTotal));
}

TEST(WalTest, GroupCommitOneSyncForEverythingQueued) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(1 << 20), &wal).ok());
  WalWriter writer(std::move(wal));
  uint64_t syncs_before = 0;
  ASSERT_TRUE(writer
                  .RunAndWait([&](Wal& w) {
                    syncs_before = w.sync_count();
                    return Status::OK();
                  })
                  .ok());

  // Hold the writer thread while 100 batches queue up behind it.
  std::promise<void> release;
  HoldWriter(writer, release.get_future().share());
  std::atomic<int> done{0};
  for (uint64_t i = 1; i <= 100; i++) {
    WalBatch b;
    b.entries.push_back(MakeEntry(i, 1));
    writer.Submit(std::move(b), [&](const Status& s) {
      EXPECT_TRUE(s.ok());
      done++;
    });
  }
  // Ordered after the batches: the marker and a release.
  writer.Run([](Wal& w) { return w.SaveSnapshotMarker(50, 1); }, nullptr);
  release.set_value();
  uint64_t syncs = 0;
  ASSERT_TRUE(writer
                  .RunAndWait([&](Wal& w) {
                    syncs = w.sync_count() - syncs_before;
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(done.load(), 100);
  EXPECT_EQ(syncs, 2u);  // one for the 100 batches, one for the marker
  writer.Stop();

  // After Stop, callers hear Unavailable at once.
  Status late;
  writer.Submit(WalBatch(), [&](const Status& s) { late = s; });
  EXPECT_EQ(late.code(), Status::Code::kUnavailable);

  WalContents c;
  ASSERT_TRUE(Reopen(dir.path(), &c).ok());
  EXPECT_EQ(c.snapshot_index, 50u);
  ExpectEntries(c.entries, 51, 100);
}

TEST(WalTest, GroupFailureReachesEveryBatchInIt) {
  TempDir dir;
  std::unique_ptr<Wal> wal;
  ASSERT_TRUE(Wal::Create(dir.path(), "m", SmallOptions(), &wal).ok());
  WalWriter writer(std::move(wal));
  std::promise<void> release;
  HoldWriter(writer, release.get_future().share());
  std::vector<Status> results(2);
  WalBatch ok_batch, gap_batch;
  ok_batch.entries.push_back(MakeEntry(1, 1));
  gap_batch.entries.push_back(MakeEntry(5, 1));
  writer.Submit(std::move(ok_batch), [&](const Status& s) { results[0] = s; });
  writer.Submit(std::move(gap_batch), [&](const Status& s) { results[1] = s; });
  release.set_value();
  writer.Stop();
  EXPECT_EQ(results[0].code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(results[1].code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace capstan::raft
