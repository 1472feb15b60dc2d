#include "storage/lmdb_checkpoint.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"

namespace capstan {
namespace {

// The store runs LMDB without fsync; these tests take the disk images a
// crash could leave and check the store reopens at its last checkpoint.
// A crashed process is a forked child that ends with _exit (no destructor,
// so no final checkpoint), as kill -9 would.

const std::string kAll("\0", 1);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// Rewrites in place: same inode, as the disk after a crash.
void OverwriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

uint32_t PageSize() { return static_cast<uint32_t>(sysconf(_SC_PAGESIZE)); }

std::string Value(int key, int version) {
  return "v" + std::to_string(version) + "-" + std::string(300 + key % 200, 'a' + key % 26);
}

void PutRound(MvccStore* store, uint64_t* index, int version, int keys) {
  auto b = store->NewBatch();
  for (int k = 0; k < keys; ++k) {
    b->BeginTxn();
    int64_t rev;
    ASSERT_TRUE(b->Put("key/" + std::to_string(k), Value(k, version), 0, &rev).ok());
    b->EndTxn();
  }
  b->SetApplied(++*index, 1);
  ASSERT_TRUE(b->Commit().ok());
}

// Every live key and value.
std::map<std::string, std::string> Contents(MvccStore* store) {
  RangeResult rr;
  EXPECT_TRUE(store->Range({kAll, kAll}, RangeOptions{}, &rr).ok());
  std::map<std::string, std::string> out;
  for (const auto& kv : rr.kvs) out[kv.key()] = kv.value();
  return out;
}

std::map<std::string, std::string> Expected(int version, int keys) {
  std::map<std::string, std::string> out;
  for (int k = 0; k < keys; ++k) out["key/" + std::to_string(k)] = Value(k, version);
  return out;
}

constexpr int kKeys = 400;

class LmdbCheckpointTest : public ::testing::Test {
 protected:
  std::string Db() const { return dir_.Sub("db"); }
  std::string Data() const { return Db() + "/data.mdb"; }

  // In a child process: writes version 1, checkpoints (saving the disk image
  // of that moment), then keeps writing and compacting, which frees the
  // pages of version 1 for reuse, and dies without closing the store.
  void CrashAfterCheckpoint() {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::unique_ptr<MvccStore> store;
      if (!MvccStore::Open(Db(), StoreOptions{}, &store).ok()) _exit(1);
      uint64_t index = 0;
      PutRound(store.get(), &index, 1, kKeys);
      uint64_t durable = 0;
      if (!store->Sync(&durable).ok() || durable != index) _exit(2);
      std::filesystem::copy_file(Data(), dir_.Sub("at-checkpoint.mdb"));
      for (int v = 2; v <= 8; ++v) {
        PutRound(store.get(), &index, v, kKeys);
        auto b = store->NewBatch();
        const int64_t rev = store->CurrentRevision();
        if (!b->Compact(rev).ok() || !b->Commit().ok()) _exit(3);
        store->WaitCompacted(rev);
      }
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }

  // Puts the checkpoint back as after a crash, then opens the store.
  void RecoverAndOpen(uint64_t* rolled_back_to) {
    ASSERT_TRUE(LmdbCheckpoint::Recover(Db(), rolled_back_to).ok());
    ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
};

TEST_F(LmdbCheckpointTest, NewestTxnIdReadsLmdbsMetaPages) {
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  uint64_t index = 0;
  PutRound(store_.get(), &index, 1, 10);
  // The store's commits are LMDB transactions; the newest is in a meta slot.
  uint64_t newest = 0;
  ASSERT_TRUE(LmdbCheckpoint::NewestTxnId(Data(), PageSize(), &newest).ok());
  store_.reset();
  uint64_t after_close = 0;
  ASSERT_TRUE(LmdbCheckpoint::NewestTxnId(Data(), PageSize(), &after_close).ok());
  EXPECT_GT(newest, 1u);
  EXPECT_GE(after_close, newest);
}

TEST_F(LmdbCheckpointTest, MetaWithoutItsPagesGoesBackToCheckpoint) {
  CrashAfterCheckpoint();
  // The worst a power loss can leave: the newest meta pages reached the
  // disk, none of the data pages written after the checkpoint did.
  std::string image = ReadFile(dir_.Sub("at-checkpoint.mdb"));
  const std::string now = ReadFile(Data());
  ASSERT_GE(image.size(), 2 * PageSize());
  image.replace(0, 2 * PageSize(), now.substr(0, 2 * PageSize()));
  OverwriteFile(Data(), image);
  uint64_t newest = 0;
  ASSERT_TRUE(LmdbCheckpoint::NewestTxnId(Data(), PageSize(), &newest).ok());

  uint64_t rolled_back_to = 0;
  RecoverAndOpen(&rolled_back_to);
  // Without the roll-back LMDB would have opened the newest meta page.
  EXPECT_GT(rolled_back_to, 0u);
  EXPECT_LT(rolled_back_to, newest);
  EXPECT_EQ(store_->AppliedIndex(), 1u);
  EXPECT_EQ(store_->CurrentRevision(), 1 + kKeys);
  EXPECT_EQ(Contents(store_.get()), Expected(1, kKeys));
}

TEST_F(LmdbCheckpointTest, PinnedPagesSurviveLaterCommitsAndCompaction) {
  CrashAfterCheckpoint();
  // Every later page reached the disk, but the machine rebooted, so the
  // store goes back to the checkpoint: its pages must not have been reused
  // by the seven rounds and compactions after it.
  uint64_t rolled_back_to = 0;
  RecoverAndOpen(&rolled_back_to);
  EXPECT_GT(rolled_back_to, 0u);
  EXPECT_EQ(store_->AppliedIndex(), 1u);
  EXPECT_EQ(Contents(store_.get()), Expected(1, kKeys));
  // The store goes on from there, as the log replays.
  uint64_t index = 1;
  PutRound(store_.get(), &index, 9, kKeys);
  EXPECT_EQ(Contents(store_.get()), Expected(9, kKeys));
  store_.reset();
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  EXPECT_EQ(store_->AppliedIndex(), 2u);
  EXPECT_EQ(Contents(store_.get()), Expected(9, kKeys));
}

TEST_F(LmdbCheckpointTest, UncleanStopGoesBackToTheCheckpointWithoutAReboot) {
  // Same boot, same boot id: pages can still have been lost (a filesystem
  // remounted after an I/O error, a re-attached volume), so whatever came
  // after the checkpoint is not trusted; the log replays it.
  CrashAfterCheckpoint();
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  EXPECT_EQ(store_->AppliedIndex(), 1u);
  EXPECT_EQ(Contents(store_.get()), Expected(1, kKeys));
}

TEST_F(LmdbCheckpointTest, CleanStopLeavesNothingToRollBack) {
  const std::string clean = Db() + "/" + LmdbCheckpoint::kCleanStopFileName;
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  EXPECT_FALSE(std::filesystem::exists(clean));
  uint64_t index = 0;
  for (int v = 1; v <= 3; ++v) PutRound(store_.get(), &index, v, 50);
  store_.reset();
  EXPECT_TRUE(std::filesystem::exists(clean));
  uint64_t rolled_back_to = 0;
  RecoverAndOpen(&rolled_back_to);
  EXPECT_EQ(rolled_back_to, 0u);
  // Cleared at start: commits follow.
  EXPECT_FALSE(std::filesystem::exists(clean));
  EXPECT_EQ(store_->AppliedIndex(), 3u);
  EXPECT_EQ(Contents(store_.get()), Expected(3, 50));
}

TEST_F(LmdbCheckpointTest, CleanStopOfAnotherCheckpointDoesNotCount) {
  // A clean-stop record left from an earlier stop (or naming an older
  // checkpoint) says nothing about the commits since.
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  store_.reset();
  const std::string clean = Db() + "/" + LmdbCheckpoint::kCleanStopFileName;
  const std::string stale = ReadFile(clean);
  ASSERT_FALSE(stale.empty());
  CrashAfterCheckpoint();
  OverwriteFile(clean, stale);
  uint64_t rolled_back_to = 0;
  RecoverAndOpen(&rolled_back_to);
  EXPECT_GT(rolled_back_to, 0u);
  EXPECT_EQ(store_->AppliedIndex(), 1u);
}

TEST_F(LmdbCheckpointTest, DamagedCheckpointIsAnError) {
  ASSERT_TRUE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
  store_.reset();
  const std::string path = Db() + "/" + LmdbCheckpoint::kFileName;
  std::string data = ReadFile(path);
  ASSERT_GT(data.size(), 100u);
  data[40] ^= 1;
  OverwriteFile(path, data);
  uint64_t rolled_back_to = 0;
  Status s = LmdbCheckpoint::Recover(Db(), &rolled_back_to);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_FALSE(MvccStore::Open(Db(), StoreOptions{}, &store_).ok());
}

TEST_F(LmdbCheckpointTest, ReplacedDataFileIgnoresTheCheckpoint) {
  CrashAfterCheckpoint();
  // An operator put another file in place (a new inode): the checkpoint
  // belongs to the old one and must not be written into this one.
  OverwriteFile(Data() + ".new", ReadFile(Data()));
  std::filesystem::rename(Data() + ".new", Data());
  uint64_t rolled_back_to = 0;
  RecoverAndOpen(&rolled_back_to);
  EXPECT_EQ(rolled_back_to, 0u);
  EXPECT_EQ(Contents(store_.get()), Expected(8, kKeys));
}

}  // namespace
}  // namespace capstan
