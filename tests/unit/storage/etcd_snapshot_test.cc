#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/bbolt_reader.h"
#include "storage/bbolt_writer.h"
#include "storage/etcd_data_dir.h"
#include "storage/etcd_schema.h"
#include "storage/etcd_snapshot_reader.h"
#include "storage/etcd_snapshot_writer.h"
#include "storage/mvcc_store.h"
#include "storage/revision.h"
#include "storage/sha256.h"
#include "storage/store_view.h"
#include "storage/temp_dir.h"

namespace capstan {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Appends etcd's sha256 trailer, as the Snapshot RPC streams it.
void AddTrailer(const std::string& path) {
  std::string data = ReadAll(path);
  WriteAll(path, data + Sha256::Digest(data));
}

class EtcdSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MvccStore::Open(dir_.Sub("src"), StoreOptions{}, &store_).ok());
  }

  int64_t Put(const std::string& k, const std::string& v, int64_t lease = 0) {
    auto b = store_->NewBatch();
    b->BeginTxn();
    int64_t rev = 0;
    EXPECT_TRUE(b->Put(k, v, lease, &rev).ok());
    b->EndTxn();
    b->SetApplied(++index_, 3);
    EXPECT_TRUE(b->Commit().ok());
    return rev;
  }
  void Delete(const std::string& k) {
    auto b = store_->NewBatch();
    b->BeginTxn();
    int64_t n;
    EXPECT_TRUE(b->DeleteRange({k, ""}, nullptr, &n).ok());
    b->EndTxn();
    b->SetApplied(++index_, 3);
    EXPECT_TRUE(b->Commit().ok());
  }
  void Compact(int64_t rev) {
    auto b = store_->NewBatch();
    ASSERT_TRUE(b->Compact(rev).ok());
    b->SetApplied(++index_, 3);
    ASSERT_TRUE(b->Commit().ok());
    store_->WaitCompacted(rev);
  }
  void Grant(int64_t id, int64_t ttl, int64_t remaining) {
    auto b = store_->NewBatch();
    int64_t granted;
    ASSERT_TRUE(store_->lessor()->Grant(b.get(), id, ttl, &granted).ok());
    if (remaining != ttl) {
      ASSERT_TRUE(store_->lessor()->Checkpoint(b.get(), id, remaining).ok());
    }
    b->SetApplied(++index_, 3);
    ASSERT_TRUE(b->Commit().ok());
  }
  void Alarm(uint64_t member, int type) {
    auto b = store_->NewBatch();
    std::string k(9, '\0');
    PutBigEndian64(k.data(), member);
    k[8] = static_cast<char>(type);
    ASSERT_TRUE(b->PutAux(Table::kAlarm, k, "").ok());
    b->SetApplied(++index_, 3);
    ASSERT_TRUE(b->Commit().ok());
  }

  // A history with overwrites, deletions, multi-change revisions, leases,
  // a compaction and an alarm.
  void Populate() {
    Grant(0x1234, 60, 60);
    Grant(0x7fff0000aaaa, 3600, 1000);
    for (int i = 0; i < 500; ++i) Put("key/" + std::to_string(i % 50), "v" + std::to_string(i));
    Put("leased", "x", 0x1234);
    Delete("key/7");
    {
      auto b = store_->NewBatch();
      b->BeginTxn();
      int64_t rev, n;
      ASSERT_TRUE(b->Put("txn/a", "1", 0, &rev).ok());
      ASSERT_TRUE(b->Put("txn/b", std::string(100000, 'B'), 0, &rev).ok());
      ASSERT_TRUE(b->DeleteRange({"key/8", ""}, nullptr, &n).ok());
      b->EndTxn();
      b->SetApplied(++index_, 3);
      ASSERT_TRUE(b->Commit().ok());
    }
    Compact(300);
    Put("after", "compaction");
    Alarm(42, 1);  // NOSPACE
  }

  std::string Export(const std::string& name, EtcdSnapshotInfo* info) {
    EtcdSnapshotOptions options;
    options.members.push_back({0xabc, "m1", {"http://127.0.0.1:2380"}, {"http://127.0.0.1:2379"}});
    const std::string path = dir_.Sub(name);
    Status s = EtcdSnapshotWriter::Write(*store_, options, path, info);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }

  static std::vector<std::string> Bucket(std::string_view name) { return {std::string(name)}; }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
  uint64_t index_ = 0;
};

TEST_F(EtcdSnapshotTest, ExportLayout) {
  Populate();
  EtcdSnapshotInfo info;
  const std::string path = Export("snap.db", &info);
  EXPECT_EQ(info.revision, store_->CurrentRevision());
  EXPECT_EQ(info.compact_revision, 300);
  EXPECT_EQ(info.applied_index, index_);
  EXPECT_EQ(info.leases, 2u);
  EXPECT_EQ(info.size, fs::file_size(path));

  std::unique_ptr<BboltReader> r;
  ASSERT_TRUE(BboltReader::Open(path, &r).ok());
  Status s = r->Check();
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<std::string> buckets;
  r->ForEach({}, [&](std::string_view k, std::string_view, bool is_bucket) {
    EXPECT_TRUE(is_bucket);
    buckets.emplace_back(k);
    return Status::OK();
  });
  EXPECT_EQ(buckets,
            (std::vector<std::string>{"alarm", "auth", "authRoles", "authUsers", "cluster", "key",
                                      "lease", "members", "members_removed", "meta"}));

  // The key bucket is the store's revision table, row for row.
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE(
      r->ForEach(Bucket(etcd::kKeyBucket), [&](std::string_view k, std::string_view v, bool) {
         rows.emplace_back(k, v);
         return Status::OK();
       }).ok());
  size_t i = 0;
  ASSERT_TRUE(store_
                  ->View([&](const StoreView& view) {
                    return view.ScanRevisions([&](std::string_view k, std::string_view v) {
                      EXPECT_LT(i, rows.size());
                      if (i < rows.size()) {
                        EXPECT_TRUE(rows[i].first == k && rows[i].second == v) << "row " << i;
                      }
                      ++i;
                      return Status::OK();
                    });
                  })
                  .ok());
  EXPECT_EQ(i, rows.size());
  EXPECT_EQ(rows.size(), info.revisions);

  std::string v;
  ASSERT_TRUE(r->Get(Bucket(etcd::kMetaBucket), etcd::kConsistentIndexKey, &v).ok());
  EXPECT_EQ(GetBigEndian64(v.data()), index_);
  ASSERT_TRUE(r->Get(Bucket(etcd::kMetaBucket), etcd::kTermKey, &v).ok());
  EXPECT_EQ(GetBigEndian64(v.data()), 3u);
  ASSERT_TRUE(r->Get(Bucket(etcd::kMetaBucket), etcd::kScheduledCompactKey, &v).ok());
  EXPECT_EQ(v, EncodeRevisionKey(Revision{300, 0}));
  ASSERT_TRUE(r->Get(Bucket(etcd::kMetaBucket), etcd::kFinishedCompactKey, &v).ok());
  EXPECT_EQ(v, EncodeRevisionKey(Revision{300, 0}));
  ASSERT_TRUE(r->Get(Bucket(etcd::kMetaBucket), etcd::kConfStateKey, &v).ok());
  EXPECT_EQ(v, "{\"voters\":[2748],\"auto_leave\":false}");
  ASSERT_TRUE(r->Get(Bucket(etcd::kClusterBucket), etcd::kClusterVersionKey, &v).ok());
  EXPECT_EQ(v, "3.5.0");
  ASSERT_TRUE(r->Get(Bucket(etcd::kMembersBucket), "abc", &v).ok());
  EXPECT_EQ(v,
            "{\"id\":2748,\"peerURLs\":[\"http://127.0.0.1:2380\"],\"name\":\"m1\","
            "\"clientURLs\":[\"http://127.0.0.1:2379\"]}");
  ASSERT_TRUE(r->Get(Bucket(etcd::kAuthBucket), etcd::kAuthRevisionKey, &v).ok());
  EXPECT_EQ(GetBigEndian64(v.data()), 1u);

  std::string lease_key(8, '\0');
  PutBigEndian64(lease_key.data(), 0x7fff0000aaaa);
  ASSERT_TRUE(r->Get(Bucket(etcd::kLeaseBucket), lease_key, &v).ok());
  etcd::Lease l;
  ASSERT_TRUE(etcd::DecodeLease(v, &l));
  EXPECT_EQ(l.id, 0x7fff0000aaaa);
  EXPECT_EQ(l.ttl, 3600);
  EXPECT_EQ(l.remaining_ttl, 1000);
  PutBigEndian64(lease_key.data(), 0x1234);
  ASSERT_TRUE(r->Get(Bucket(etcd::kLeaseBucket), lease_key, &v).ok());
  ASSERT_TRUE(etcd::DecodeLease(v, &l));
  EXPECT_EQ(l.ttl, 60);
  EXPECT_EQ(l.remaining_ttl, 0);  // never checkpointed, as etcd writes it

  ASSERT_TRUE(r->Get(Bucket(etcd::kAlarmBucket), etcd::EncodeAlarmMember(42, 1), &v).ok());
  EXPECT_EQ(v, "");
}

TEST_F(EtcdSnapshotTest, ImportKeepsHistoryLeasesAndCompaction) {
  Populate();
  EtcdSnapshotInfo info;
  const std::string path = Export("snap.db", &info);
  AddTrailer(path);

  EtcdImportInfo in;
  Status s = EtcdSnapshotReader::Import(path, dir_.Sub("dst"), StoreOptions{}, &in);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(in.had_hash);
  EXPECT_EQ(in.revision, info.revision);
  EXPECT_EQ(in.revisions, info.revisions);
  EXPECT_EQ(in.leases, 2u);
  EXPECT_EQ(in.alarms, 1u);
  EXPECT_EQ(in.compact_revision, 300);
  EXPECT_EQ(in.applied_index, index_);

  std::unique_ptr<MvccStore> dst;
  ASSERT_TRUE(MvccStore::Open(dir_.Sub("dst"), StoreOptions{}, &dst).ok());
  EXPECT_EQ(dst->CurrentRevision(), store_->CurrentRevision());
  EXPECT_EQ(dst->CompactRevision(), 300);
  EXPECT_EQ(dst->AppliedIndex(), index_);
  EXPECT_EQ(dst->AppliedTerm(), 3u);
  for (int64_t rev = 299; rev <= store_->CurrentRevision(); ++rev) {
    RangeOptions o;
    o.rev = rev;
    RangeResult a, b;
    Status sa = store_->Range({std::string("\0", 1), std::string("\0", 1)}, o, &a);
    Status sb = dst->Range({std::string("\0", 1), std::string("\0", 1)}, o, &b);
    ASSERT_EQ(sa.ToString(), sb.ToString()) << "rev " << rev;
    ASSERT_EQ(a.kvs.size(), b.kvs.size()) << "rev " << rev;
    for (size_t i = 0; i < a.kvs.size(); ++i) {
      EXPECT_EQ(a.kvs[i].SerializeAsString(), b.kvs[i].SerializeAsString()) << "rev " << rev;
    }
  }
  uint32_t ha, hb;
  int64_t ca, cb, ra, rb;
  ASSERT_TRUE(store_->HashKV(0, &ha, &ca, &ra).ok());
  ASSERT_TRUE(dst->HashKV(0, &hb, &cb, &rb).ok());
  EXPECT_EQ(ha, hb);
  EXPECT_EQ(ca, cb);

  LeaseInfo li;
  ASSERT_TRUE(dst->lessor()->TimeToLive(0x1234, true, &li).ok());
  EXPECT_EQ(li.granted_ttl, 60);
  EXPECT_EQ(li.keys, std::vector<std::string>{"leased"});
  ASSERT_TRUE(dst->lessor()->TimeToLive(0x7fff0000aaaa, false, &li).ok());
  EXPECT_EQ(li.granted_ttl, 3600);
  EXPECT_LE(li.remaining_ttl, 1000);
  EXPECT_GT(li.remaining_ttl, 990);
  std::string alarm_key(9, '\0');
  PutBigEndian64(alarm_key.data(), 42);
  alarm_key[8] = 1;
  std::string v;
  EXPECT_TRUE(dst->GetAux(Table::kAlarm, alarm_key, &v).ok());

  // Writes continue after the imported history.
  auto b = dst->NewBatch();
  b->BeginTxn();
  int64_t rev;
  ASSERT_TRUE(b->Put("new", "v", 0, &rev).ok());
  EXPECT_EQ(rev, store_->CurrentRevision() + 1);
}

TEST_F(EtcdSnapshotTest, UnfinishedCompactionIsResumed) {
  for (int i = 0; i < 20; ++i) Put("k", std::to_string(i));
  EtcdSnapshotInfo info;
  const std::string path = Export("snap.db", &info);
  // Rewrite meta as etcd leaves it when it stopped mid-compaction: scheduled
  // 15, finished 10 (all revisions still present).
  std::unique_ptr<BboltReader> r;
  ASSERT_TRUE(BboltReader::Open(path, &r).ok());
  EtcdImportInfo in;
  {
    // Build the file by hand with the writer: copy buckets, patch meta.
    std::unique_ptr<BboltWriter> w;
    ASSERT_TRUE(BboltWriter::Create(dir_.Sub("patched.db"), 4096, &w).ok());
    std::vector<std::string> names;
    r->ForEach({}, [&](std::string_view k, std::string_view, bool) {
      names.emplace_back(k);
      return Status::OK();
    });
    for (const std::string& n : names) {
      ASSERT_TRUE(w->BeginBucket(n).ok());
      if (n == "meta") {
        ASSERT_TRUE(w->Put(etcd::kConsistentIndexKey, std::string(8, '\0')).ok());
        ASSERT_TRUE(w->Put(etcd::kFinishedCompactKey, etcd::EncodeCompactRev(10)).ok());
        ASSERT_TRUE(w->Put(etcd::kScheduledCompactKey, etcd::EncodeCompactRev(15)).ok());
      } else {
        r->ForEach({n}, [&](std::string_view k, std::string_view v, bool) { return w->Put(k, v); });
      }
      ASSERT_TRUE(w->EndBucket().ok());
    }
    ASSERT_TRUE(w->Finish().ok());
  }
  ASSERT_TRUE(
      EtcdSnapshotReader::Import(dir_.Sub("patched.db"), dir_.Sub("dst"), StoreOptions{}, &in)
          .ok());
  EXPECT_FALSE(in.had_hash);
  EXPECT_EQ(in.compact_revision, 15);
  std::unique_ptr<MvccStore> dst;
  ASSERT_TRUE(MvccStore::Open(dir_.Sub("dst"), StoreOptions{}, &dst).ok());
  EXPECT_EQ(dst->CompactRevision(), 15);
  dst->WaitCompacted(15);
  RangeResult rr;
  RangeOptions o;
  o.rev = 15;
  ASSERT_TRUE(dst->Range({"k", ""}, o, &rr).ok());
  ASSERT_EQ(rr.kvs.size(), 1u);
  EXPECT_EQ(rr.kvs[0].value(), "13");  // the first put is revision 2
  o.rev = 14;
  EXPECT_EQ(dst->Range({"k", ""}, o, &rr).code(), Status::Code::kOutOfRange);
}

TEST_F(EtcdSnapshotTest, DamagedSnapshotsAreRefused) {
  Populate();
  EtcdSnapshotInfo info;
  const std::string path = Export("snap.db", &info);
  AddTrailer(path);
  std::string data = ReadAll(path);
  data[data.size() / 2] ^= 0x40;
  WriteAll(path, data);
  EtcdImportInfo in;
  Status s = EtcdSnapshotReader::Import(path, dir_.Sub("dst"), StoreOptions{}, &in);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("sha256"), std::string::npos);

  WriteAll(path, "not a database at all, but long enough to look at the meta page" +
                     std::string(8192, 'x'));
  EXPECT_TRUE(
      EtcdSnapshotReader::Import(path, dir_.Sub("dst2"), StoreOptions{}, &in).IsCorruption());
}

// Found by fuzz/etcd_snapshot_import_fuzzer: a key bucket row whose value is
// not a KeyValue was imported, and the store then refused to open.
TEST_F(EtcdSnapshotTest, UndecodableRevisionValueIsRefused) {
  const std::string path = dir_.Sub("bad-value.db");
  {
    std::unique_ptr<BboltWriter> w;
    ASSERT_TRUE(BboltWriter::Create(path, 4096, &w).ok());
    ASSERT_TRUE(w->BeginBucket(etcd::kKeyBucket).ok());
    ASSERT_TRUE(w->Put(EncodeRevisionKey(Revision{2, 0}), "\xff\xff\xff").ok());
    ASSERT_TRUE(w->EndBucket().ok());
    ASSERT_TRUE(w->Finish().ok());
  }
  EtcdImportInfo in;
  Status s = EtcdSnapshotReader::Import(path, dir_.Sub("dst"), StoreOptions{}, &in);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.ToString().find("bad value at revision 2"), std::string::npos) << s.ToString();
}

TEST_F(EtcdSnapshotTest, DataDirMigration) {
  Populate();
  EtcdSnapshotInfo info;
  const std::string snapshot = Export("snap.db", &info);

  // An etcd data dir: member/snap/db (no trailer) and a WAL.
  const std::string data_dir = dir_.Sub("etcd-data");
  fs::create_directories(data_dir + "/member/snap");
  fs::create_directories(data_dir + "/member/wal");
  fs::copy_file(snapshot, data_dir + "/member/snap/db");
  WriteAll(data_dir + "/member/wal/0000000000000000-0000000000000000.wal", "etcd wal");

  EtcdDataDir::Result result;
  EXPECT_EQ(EtcdDataDir::PrepareStore(data_dir, snapshot, StoreOptions{}, &result).code(),
            Status::Code::kFailedPrecondition);
  Status s = EtcdDataDir::PrepareStore(data_dir, "", StoreOptions{}, &result);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(result.imported);
  EXPECT_EQ(result.backup_dir, data_dir + "/etcd-backup");
  EXPECT_TRUE(fs::exists(data_dir + "/etcd-backup/member/snap/db"));
  EXPECT_TRUE(fs::exists(data_dir + "/etcd-backup/member/wal"));
  EXPECT_FALSE(fs::exists(data_dir + "/member/wal"));
  EXPECT_FALSE(fs::exists(data_dir + "/member/snap"));
  {
    std::unique_ptr<MvccStore> dst;
    ASSERT_TRUE(MvccStore::Open(EtcdDataDir::StoreDir(data_dir), StoreOptions{}, &dst).ok());
    EXPECT_EQ(dst->CurrentRevision(), store_->CurrentRevision());
  }
  // The next start finds the store; a snapshot flag is then ignored.
  ASSERT_TRUE(EtcdDataDir::PrepareStore(data_dir, snapshot, StoreOptions{}, &result).ok());
  EXPECT_FALSE(result.imported);
  EXPECT_TRUE(result.snapshot_ignored);

  // --initial-snapshot into a new data dir.
  AddTrailer(snapshot);
  ASSERT_TRUE(EtcdDataDir::PrepareStore(dir_.Sub("new"), snapshot, StoreOptions{}, &result).ok());
  EXPECT_TRUE(result.imported);
  EXPECT_TRUE(result.info.had_hash);
  EXPECT_TRUE(result.backup_dir.empty());
  // Nothing to do for a new member.
  ASSERT_TRUE(EtcdDataDir::PrepareStore(dir_.Sub("empty"), "", StoreOptions{}, &result).ok());
  EXPECT_FALSE(result.imported);
  // A missing snapshot is an error, and leaves no store behind.
  EXPECT_FALSE(
      EtcdDataDir::PrepareStore(dir_.Sub("bad"), dir_.Sub("missing"), StoreOptions{}, &result)
          .ok());
  EXPECT_FALSE(fs::exists(EtcdDataDir::StoreDir(dir_.Sub("bad"))));
}

TEST_F(EtcdSnapshotTest, ResumesAfterCrashBetweenMoveAndRename) {
  Populate();
  EtcdSnapshotInfo info;
  const std::string snapshot = Export("snap.db", &info);
  // As left by a crash after etcd's files were moved, before the store was renamed.
  const std::string data_dir = dir_.Sub("etcd-data");
  fs::create_directories(data_dir + "/etcd-backup/member/snap");
  fs::create_directories(data_dir + "/member/db.importing");
  fs::copy_file(snapshot, data_dir + "/etcd-backup/member/snap/db");
  EtcdDataDir::Result result;
  ASSERT_TRUE(EtcdDataDir::PrepareStore(data_dir, "", StoreOptions{}, &result).ok());
  EXPECT_TRUE(result.imported);
  EXPECT_FALSE(fs::exists(data_dir + "/member/db.importing"));
  std::unique_ptr<MvccStore> dst;
  ASSERT_TRUE(MvccStore::Open(EtcdDataDir::StoreDir(data_dir), StoreOptions{}, &dst).ok());
  EXPECT_EQ(dst->CurrentRevision(), store_->CurrentRevision());
}

TEST(EtcdSchemaTest, Encodings) {
  etcd::Lease l{0x7fffffffffffffff, 9000000000, 5};
  etcd::Lease d;
  ASSERT_TRUE(etcd::DecodeLease(etcd::EncodeLease(l), &d));
  EXPECT_EQ(d.id, l.id);
  EXPECT_EQ(d.ttl, l.ttl);
  EXPECT_EQ(d.remaining_ttl, l.remaining_ttl);
  // {ID: 1, TTL: 10}: 08 01 10 0a.
  EXPECT_EQ(etcd::EncodeLease({1, 10, 0}), std::string("\x08\x01\x10\x0a"));
  EXPECT_EQ(etcd::EncodeAlarmMember(1, 1), std::string("\x08\x01\x10\x01"));
  uint64_t member;
  int alarm;
  ASSERT_TRUE(etcd::DecodeAlarmMember(etcd::EncodeAlarmMember(~uint64_t{0}, 2), &member, &alarm));
  EXPECT_EQ(member, ~uint64_t{0});
  EXPECT_EQ(alarm, 2);
  EXPECT_FALSE(etcd::DecodeLease("\x08", &d));
  EXPECT_EQ(etcd::MemberKey(0x8e9e05c52164694d), "8e9e05c52164694d");
  EXPECT_EQ(etcd::MemberKey(0xabc), "abc");
  EXPECT_EQ(etcd::EncodeMember({1, "a\"b<", {"u"}, {}, true}),
            "{\"id\":1,\"peerURLs\":[\"u\"],\"isLearner\":true,\"name\":\"a\\\"b\\u003c\"}");
}

}  // namespace
}  // namespace capstan
