#include "storage/mvcc_store.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <random>

#include "storage/temp_dir.h"

namespace capstan {
namespace {

const std::string kFromKey("\0", 1);

class MvccStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), StoreOptions{}, &store_).ok());
  }
  int64_t Put(const std::string& k, const std::string& v, int64_t lease = 0) {
    auto b = store_->NewBatch();
    b->BeginTxn();
    int64_t rev;
    EXPECT_TRUE(b->Put(k, v, lease, &rev).ok());
    b->EndTxn();
    b->SetApplied(++index_, 1);
    EXPECT_TRUE(b->Commit().ok());
    return rev;
  }
  int64_t Delete(const std::string& k, const std::string& end = "") {
    auto b = store_->NewBatch();
    b->BeginTxn();
    int64_t n;
    EXPECT_TRUE(b->DeleteRange({k, end}, nullptr, &n).ok());
    b->EndTxn();
    EXPECT_TRUE(b->Commit().ok());
    return n;
  }
  Status Compact(int64_t rev) {
    auto b = store_->NewBatch();
    Status s = b->Compact(rev);
    if (!s.ok()) return s;
    s = b->Commit();
    store_->WaitCompacted(rev);
    return s;
  }
  std::string Get(const std::string& k, int64_t rev = 0) {
    RangeResult rr;
    RangeOptions o;
    o.rev = rev;
    Status s = store_->Range({k, ""}, o, &rr);
    if (!s.ok()) return "error: " + s.message();
    if (rr.kvs.empty()) return "<none>";
    return rr.kvs[0].value();
  }
  std::string Keys(const std::string& k, const std::string& end, RangeOptions o = {}) {
    RangeResult rr;
    Status s = store_->Range({k, end}, o, &rr);
    if (!s.ok()) return "error: " + s.message();
    std::string out;
    for (auto& kv : rr.kvs) out += kv.key();
    return out + "/" + std::to_string(rr.count);
  }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
  uint64_t index_ = 0;
};

TEST_F(MvccStoreTest, EmptyStoreIsAtRevisionOne) {
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(Get("a"), "<none>");
}

TEST_F(MvccStoreTest, PutGetVersions) {
  EXPECT_EQ(Put("a", "1"), 2);
  EXPECT_EQ(Put("a", "2"), 3);
  RangeResult rr;
  ASSERT_TRUE(store_->Range({"a", ""}, {}, &rr).ok());
  ASSERT_EQ(rr.kvs.size(), 1u);
  EXPECT_EQ(rr.kvs[0].value(), "2");
  EXPECT_EQ(rr.kvs[0].create_revision(), 2);
  EXPECT_EQ(rr.kvs[0].mod_revision(), 3);
  EXPECT_EQ(rr.kvs[0].version(), 2);
  EXPECT_EQ(Get("a", 2), "1");
  EXPECT_EQ(Get("a", 4), "error: " + std::string(kErrFutureRev));
}

TEST_F(MvccStoreTest, DeleteAndRecreate) {
  Put("a", "1");
  EXPECT_EQ(Delete("a"), 1);
  EXPECT_EQ(Delete("a"), 0);
  EXPECT_EQ(store_->CurrentRevision(), 3);  // a no-op delete takes no revision
  EXPECT_EQ(Get("a"), "<none>");
  Put("a", "2");
  RangeResult rr;
  ASSERT_TRUE(store_->Range({"a", ""}, {}, &rr).ok());
  EXPECT_EQ(rr.kvs[0].version(), 1);
  EXPECT_EQ(rr.kvs[0].create_revision(), 4);
}

TEST_F(MvccStoreTest, RangeLimitCountAndFromKey) {
  for (std::string k : {"a", "b", "c", "d"}) Put(k, k);
  EXPECT_EQ(Keys("b", "d"), "bc/2");
  EXPECT_EQ(Keys("b", kFromKey), "bcd/3");
  EXPECT_EQ(Keys(kFromKey, kFromKey), "abcd/4");
  RangeOptions o;
  o.limit = 2;
  EXPECT_EQ(Keys("a", kFromKey, o), "ab/4");
  o.limit = 0;
  o.count_only = true;
  EXPECT_EQ(Keys("a", kFromKey, o), "/4");
  o = {};
  o.rev = 3;
  EXPECT_EQ(Keys("a", kFromKey, o), "ab/2");
}

TEST_F(MvccStoreTest, TxnReadsOwnWritesAndSharesRevision) {
  Put("x", "0");
  auto b = store_->NewBatch();
  b->BeginTxn();
  int64_t r1, r2, n;
  ASSERT_TRUE(b->Put("a", "1", 0, &r1).ok());
  ASSERT_TRUE(b->Put("b", "1", 0, &r2).ok());
  EXPECT_EQ(r1, r2);
  RangeResult rr;
  ASSERT_TRUE(b->Range({"a", "c"}, {}, &rr).ok());
  EXPECT_EQ(rr.kvs.size(), 2u);
  ASSERT_TRUE(b->DeleteRange({"x", ""}, nullptr, &n).ok());
  EXPECT_EQ(b->EndTxn(), 3);
  // Readers don't see an uncommitted batch.
  EXPECT_EQ(Get("a"), "<none>");
  EXPECT_EQ(Get("x"), "0");
  ASSERT_TRUE(b->Commit().ok());
  EXPECT_EQ(Get("a"), "1");
  EXPECT_EQ(Get("x"), "<none>");
  EXPECT_EQ(b->events().size(), 3u);
}

TEST_F(MvccStoreTest, CompactionKeepsLatestAndRejectsOld) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("b", "1");  // 4
  Delete("b");    // 5
  Put("a", "3");  // 6
  ASSERT_TRUE(Compact(5).ok());
  EXPECT_EQ(Get("a", 4), "error: " + std::string(kErrCompacted));
  EXPECT_EQ(Get("a", 5), "2");
  EXPECT_EQ(Get("b", 5), "<none>");
  EXPECT_EQ(Get("a"), "3");
  Status s = Compact(5);
  EXPECT_EQ(s.message(), kErrCompacted);
  s = Compact(100);
  EXPECT_EQ(s.message(), kErrFutureRev);
  // Survives restart, and the physical deletion happened.
  Reopen();
  EXPECT_EQ(store_->CompactRevision(), 5);
  EXPECT_EQ(Get("a", 5), "2");
  EXPECT_EQ(Get("a", 4), "error: " + std::string(kErrCompacted));
  RangeResult rr;
  ASSERT_TRUE(store_->Range({"a", ""}, {}, &rr).ok());
  EXPECT_EQ(rr.kvs[0].version(), 3);
  EXPECT_EQ(rr.kvs[0].create_revision(), 2);
}

TEST_F(MvccStoreTest, RestoreRebuildsIndexAndAppliedIndex) {
  Put("a", "1");
  Put("b", "2");
  Delete("a");
  Put("a", "3");
  Reopen();
  EXPECT_EQ(store_->CurrentRevision(), 5);
  EXPECT_EQ(store_->AppliedIndex(), 3u);
  EXPECT_EQ(Get("a"), "3");
  EXPECT_EQ(Get("a", 3), "1");
  EXPECT_EQ(Get("a", 4), "<none>");
  EXPECT_EQ(Put("c", "x"), 6);
}

TEST_F(MvccStoreTest, HashKVIsDeterministicAcrossCompactionProgress) {
  // Two stores with the same history; only one compacts. Hashes at a revision
  // at or after the compaction point agree.
  TempDir other;
  std::unique_ptr<MvccStore> b;
  ASSERT_TRUE(MvccStore::Open(other.Sub("db"), StoreOptions{}, &b).ok());
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string k = "k" + std::to_string(rng() % 20);
    const bool del = rng() % 4 == 0;
    for (MvccStore* s : {store_.get(), b.get()}) {
      auto wb = s->NewBatch();
      wb->BeginTxn();
      int64_t rev, n;
      if (del) {
        ASSERT_TRUE(wb->DeleteRange({k, ""}, nullptr, &n).ok());
      } else {
        ASSERT_TRUE(wb->Put(k, "v" + std::to_string(i), 0, &rev).ok());
      }
      wb->EndTxn();
      ASSERT_TRUE(wb->Commit().ok());
    }
  }
  uint32_t h1, h2;
  int64_t c1, c2, r1, r2;
  ASSERT_TRUE(store_->HashKV(0, &h1, &c1, &r1).ok());
  ASSERT_TRUE(b->HashKV(0, &h2, &c2, &r2).ok());
  EXPECT_EQ(h1, h2);
  int64_t at = store_->CurrentRevision() - 50;
  ASSERT_TRUE(Compact(at).ok());
  {
    auto wb = b->NewBatch();
    ASSERT_TRUE(wb->Compact(at).ok());
    ASSERT_TRUE(wb->Commit().ok());
    b->WaitCompacted(at);
  }
  ASSERT_TRUE(store_->HashKV(0, &h1, &c1, &r1).ok());
  ASSERT_TRUE(b->HashKV(0, &h2, &c2, &r2).ok());
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(c1, at);
  // A different history hashes differently.
  Put("extra", "1");
  ASSERT_TRUE(store_->HashKV(0, &h1, &c1, &r1).ok());
  EXPECT_NE(h1, h2);
}

TEST_F(MvccStoreTest, RandomizedAgainstModel) {
  // A model of the latest values checked after every step and after restart.
  std::map<std::string, std::string> model;
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string k = "k" + std::to_string(rng() % 50);
    if (rng() % 3 == 0) {
      Delete(k);
      model.erase(k);
    } else {
      std::string v = std::to_string(rng());
      Put(k, v);
      model[k] = v;
    }
    if (i % 500 == 499) {
      ASSERT_TRUE(Compact(store_->CurrentRevision() - 10).ok());
      Reopen();
    }
  }
  RangeResult rr;
  ASSERT_TRUE(store_->Range({kFromKey, kFromKey}, {}, &rr).ok());
  ASSERT_EQ(rr.kvs.size(), model.size());
  size_t i = 0;
  for (auto& [k, v] : model) {
    EXPECT_EQ(rr.kvs[i].key(), k);
    EXPECT_EQ(rr.kvs[i].value(), v);
    ++i;
  }
}

TEST_F(MvccStoreTest, ReplaceWithACopyOfAnotherStore) {
  // The "leader": history, a compaction, a lease with a key, a meta row of its own.
  TempDir other_dir;
  std::unique_ptr<MvccStore> leader;
  ASSERT_TRUE(MvccStore::Open(other_dir.Sub("db"), StoreOptions{}, &leader).ok());
  {
    auto b = leader->NewBatch();
    int64_t granted, rev;
    ASSERT_TRUE(leader->lessor()->Grant(b.get(), 42, 60, &granted).ok());
    for (int i = 0; i < 50; ++i) {
      b->BeginTxn();
      ASSERT_TRUE(b->Put("k" + std::to_string(i % 10), "v" + std::to_string(i), 0, &rev).ok());
      b->EndTxn();
    }
    b->BeginTxn();
    ASSERT_TRUE(b->Put("leased", "x", 42, &rev).ok());
    b->EndTxn();
    ASSERT_TRUE(b->PutAux(Table::kMeta, "member_id", "leader").ok());
    b->SetApplied(500, 3);
    ASSERT_TRUE(b->Commit().ok());
    auto c = leader->NewBatch();
    ASSERT_TRUE(c->Compact(30).ok());
    ASSERT_TRUE(c->Commit().ok());
    leader->WaitCompacted(30);
  }
  const std::string copy = dir_.Sub("copy.db");
  {
    const int fd = open(copy.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(leader->CopyTo(fd).ok());
    close(fd);
  }

  // The "follower": older, different data, its own identity, a pending compaction.
  Put("stale", "1");
  Put("k1", "old");
  {
    auto b = store_->NewBatch();
    ASSERT_TRUE(b->PutAux(Table::kMeta, "member_id", "follower").ok());
    ASSERT_TRUE(b->Commit().ok());
  }
  ASSERT_TRUE(store_->ReplaceWith(copy, {"member_id"}).ok());

  auto same = [&](MvccStore* s) {
    RangeResult rr;
    EXPECT_TRUE(s->Range({"", kFromKey}, {}, &rr).ok());
    std::string out;
    for (auto& kv : rr.kvs)
      out += kv.key() + "=" + kv.value() + "@" + std::to_string(kv.mod_revision()) + " ";
    return out;
  };
  EXPECT_EQ(same(store_.get()), same(leader.get()));
  EXPECT_EQ(Get("stale"), "<none>");
  EXPECT_EQ(store_->CurrentRevision(), leader->CurrentRevision());
  EXPECT_EQ(store_->CompactRevision(), 30);
  EXPECT_EQ(Get("k1", 29), "error: " + std::string(kErrCompacted));
  EXPECT_EQ(store_->AppliedIndex(), 500u);
  EXPECT_EQ(store_->AppliedTerm(), 3u);
  std::string id;
  ASSERT_TRUE(store_->GetAux(Table::kMeta, "member_id", &id).ok());
  EXPECT_EQ(id, "follower");
  LeaseInfo info;
  ASSERT_TRUE(store_->lessor()->TimeToLive(42, true, &info).ok());
  EXPECT_EQ(info.keys, std::vector<std::string>{"leased"});
  uint32_t h1, h2;
  int64_t cr1, cr2, hr1, hr2;
  ASSERT_TRUE(store_->HashKV(0, &h1, &cr1, &hr1).ok());
  ASSERT_TRUE(leader->HashKV(0, &h2, &cr2, &hr2).ok());
  EXPECT_EQ(h1, h2);

  // It keeps working as a store, and all of it survives a reopen.
  index_ = 600;
  const int64_t next = Put("after", "y");
  // A copy that is not ahead of the store changes nothing.
  ASSERT_TRUE(store_->ReplaceWith(copy, {"member_id"}).ok());
  EXPECT_EQ(Get("after"), "y");
  EXPECT_EQ(store_->AppliedIndex(), 601u);
  EXPECT_EQ(next, leader->CurrentRevision() + 1);
  const std::string before = same(store_.get());
  Reopen();
  EXPECT_EQ(same(store_.get()), before);
  EXPECT_EQ(store_->CompactRevision(), 30);
}

TEST_F(MvccStoreTest, FailedCheckpointFsyncIsNeverRetried) {
  // fsyncgate: after a failed fsync the kernel may mark the dirty pages
  // clean, so the next fsync succeeds without them on disk. A checkpoint
  // that then claimed durability would let the log be released.
  auto fail = std::make_shared<std::atomic<int>>(0);
  StoreOptions o;
  o.sync_fault = [fail] {
    return fail->fetch_sub(1) > 0 ? Status::IOError("fsync: Input/output error (injected)")
                                  : Status::OK();
  };
  store_.reset();
  ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), o, &store_).ok());
  Put("a", "1");
  uint64_t durable = 0;
  ASSERT_TRUE(store_->Sync(&durable).ok());
  EXPECT_EQ(durable, 1u);

  Put("b", "2");
  fail->store(1);  // this fsync fails, the next ones "succeed"
  durable = 0;
  Status s = store_->Sync(&durable);
  EXPECT_TRUE(s.code() == Status::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("injected"), std::string::npos) << s.message();
  EXPECT_EQ(durable, 0u);
  Put("c", "3");
  s = store_->Sync(&durable);
  EXPECT_TRUE(s.code() == Status::Code::kIOError)
      << "a retried fsync must not count: " << s.ToString();
  EXPECT_EQ(durable, 0u);

  // Not a clean stop either: the next start goes back to the last good
  // checkpoint, from which the kept log replays.
  store_.reset();
  ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), StoreOptions{}, &store_).ok());
  EXPECT_EQ(store_->AppliedIndex(), 1u);
  EXPECT_EQ(Get("a"), "1");
  EXPECT_EQ(Get("b"), "<none>");
}

}  // namespace
}  // namespace capstan

namespace capstan {
namespace {

TEST_F(MvccStoreTest, ReadEventsKeepsRevisionsWhole) {
  Put("a", "1");  // 2
  {
    auto b = store_->NewBatch();  // 3: a txn with two puts
    b->BeginTxn();
    int64_t r;
    ASSERT_TRUE(b->Put("b", "1", 0, &r).ok());
    ASSERT_TRUE(b->Put("c", "1", 0, &r).ok());
    b->EndTxn();
    ASSERT_TRUE(b->Commit().ok());
  }
  Delete("a");  // 4
  std::vector<mvccpb::Event> evs;
  int64_t next;
  ASSERT_TRUE(store_->ReadEvents(2, 0, 2, &evs, &next).ok());
  // The limit is checked only between revisions, so revision 3 comes whole.
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(next, 4);
  evs.clear();
  ASSERT_TRUE(store_->ReadEvents(next, 0, 100, &evs, &next).ok());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(evs[0].kv().key(), "a");
  EXPECT_EQ(evs[0].kv().mod_revision(), 4);
  EXPECT_EQ(next, 5);
  ASSERT_TRUE(Compact(3).ok());
  evs.clear();
  EXPECT_EQ(store_->ReadEvents(2, 0, 100, &evs, &next).message(), kErrCompacted);
}

}  // namespace
}  // namespace capstan
