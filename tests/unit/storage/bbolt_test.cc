#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>

#include "storage/bbolt_format.h"
#include "storage/bbolt_reader.h"
#include "storage/bbolt_writer.h"
#include "storage/sha256.h"
#include "storage/temp_dir.h"

namespace capstan {
namespace {

using Rows = std::vector<std::pair<std::string, std::string>>;

std::string Hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// A bucket tree to write and compare: name -> rows and sub-buckets.
struct Tree {
  std::map<std::string, std::string> rows;
  std::map<std::string, Tree> buckets;
};

Status WriteTree(BboltWriter* w, const Tree& t) {
  // Keys and sub-bucket names share one order.
  auto row = t.rows.begin();
  auto bucket = t.buckets.begin();
  while (row != t.rows.end() || bucket != t.buckets.end()) {
    Status s;
    if (bucket == t.buckets.end() || (row != t.rows.end() && row->first < bucket->first)) {
      s = w->Put(row->first, row->second);
      ++row;
    } else {
      s = w->BeginBucket(bucket->first);
      if (s.ok()) s = WriteTree(w, bucket->second);
      if (s.ok()) s = w->EndBucket();
      ++bucket;
    }
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status WriteFile(const std::string& path, const Tree& top, size_t page_size = 4096) {
  std::unique_ptr<BboltWriter> w;
  Status s = BboltWriter::Create(path, page_size, &w);
  if (s.ok()) s = WriteTree(w.get(), top);
  if (s.ok()) s = w->Finish();
  return s;
}

// Reads the bucket at `path` back into a Tree.
Tree ReadTree(const BboltReader& r, const std::vector<std::string>& path) {
  Tree t;
  std::string last;
  bool first = true;
  Status s = r.ForEach(path, [&](std::string_view k, std::string_view v, bool is_bucket) {
    EXPECT_TRUE(first || std::string(k) > last) << "keys out of order";
    first = false;
    last.assign(k);
    if (is_bucket) {
      std::vector<std::string> sub = path;
      sub.emplace_back(k);
      t.buckets[std::string(k)] = ReadTree(r, sub);
    } else {
      t.rows[std::string(k)] = std::string(v);
    }
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return t;
}

void ExpectEqual(const Tree& a, const Tree& b, const std::string& where = "/") {
  EXPECT_EQ(a.rows.size(), b.rows.size()) << where;
  for (const auto& [k, v] : a.rows) {
    auto it = b.rows.find(k);
    if (it == b.rows.end()) {
      ADD_FAILURE() << where << ": missing key " << Hex(k);
      continue;
    }
    EXPECT_TRUE(it->second == v) << where << ": value of " << Hex(k) << " differs";
  }
  EXPECT_EQ(a.buckets.size(), b.buckets.size()) << where;
  for (const auto& [k, sub] : a.buckets) {
    auto it = b.buckets.find(k);
    if (it == b.buckets.end()) {
      ADD_FAILURE() << where << ": missing bucket " << k;
      continue;
    }
    ExpectEqual(sub, it->second, where + k + "/");
  }
}

void RoundTrip(const Tree& top, size_t page_size = 4096) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  Status s = WriteFile(path, top, page_size);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<BboltReader> r;
  s = BboltReader::Open(path, &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r->page_size(), page_size);
  EXPECT_EQ(std::filesystem::file_size(path), r->page_count() * page_size);
  s = r->Check();
  EXPECT_TRUE(s.ok()) << s.ToString();
  ExpectEqual(top, ReadTree(*r, {}));
}

std::string RevKey(uint64_t main, uint64_t sub) {
  std::string k(17, '_');
  for (int i = 7; i >= 0; --i, main >>= 8) k[i] = static_cast<char>(main & 0xff);
  for (int i = 16; i >= 9; --i, sub >>= 8) k[i] = static_cast<char>(sub & 0xff);
  return k;
}

TEST(BboltTest, EmptyDatabase) { RoundTrip(Tree{}); }

TEST(BboltTest, EmptyAndSmallBucketsAreInline) {
  Tree top;
  top.buckets["empty"];
  top.buckets["small"].rows["a"] = "1";
  top.buckets["small"].rows["b"] = "";
  RoundTrip(top);

  // Inline buckets take no page of their own: meta 0/1, root, freelist.
  TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("db"), top).ok());
  std::unique_ptr<BboltReader> r;
  ASSERT_TRUE(BboltReader::Open(dir.Sub("db"), &r).ok());
  EXPECT_EQ(r->page_count(), 4u);
  EXPECT_TRUE(r->HasBucket({"empty"}));
  EXPECT_FALSE(r->HasBucket({"missing"}));
  std::string v;
  EXPECT_TRUE(r->Get({"small"}, "a", &v).ok());
  EXPECT_EQ(v, "1");
  EXPECT_TRUE(r->Get({"small"}, "c", &v).IsNotFound());
  EXPECT_TRUE(r->Get({"nope"}, "a", &v).IsNotFound());
}

TEST(BboltTest, ManyKeys) {
  Tree top;
  std::mt19937_64 rng(42);
  Tree& key = top.buckets["key"];
  for (uint64_t i = 1; i <= 200000; ++i) {
    key.rows[RevKey(i, i % 3)] = std::string(rng() % 200, static_cast<char>('a' + i % 26));
  }
  top.buckets["meta"].rows["consistent_index"] = std::string(8, '\x01');
  RoundTrip(top);
}

TEST(BboltTest, BigValues) {
  Tree top;
  Tree& b = top.buckets["big"];
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    const size_t size = i % 4 == 0 ? (size_t{1} << 20) + i : i % 4 == 1 ? 5000 + i : 10 * i;
    std::string v(size, '\0');
    for (char& c : v) c = static_cast<char>(rng());
    b.rows["k" + std::to_string(100 + i)] = std::move(v);
  }
  // A value of exactly one page, and a key of bbolt's maximum size.
  b.rows["page"] = std::string(4096 - bbolt::kPageHeaderSize - bbolt::kLeafElementSize - 4, 'p');
  b.rows[std::string(BboltWriter::kMaxKeySize, 'z')] = "max key";
  RoundTrip(top);
}

TEST(BboltTest, NestedBuckets) {
  Tree top;
  Tree& a = top.buckets["a"];
  a.rows["0"] = "before";
  a.rows["z"] = "after";
  Tree& b = a.buckets["b"];
  for (int i = 0; i < 3000; ++i) b.rows["key" + std::to_string(i)] = std::string(50, 'v');
  b.buckets["c"].rows["deep"] = "value";
  b.buckets["d"];  // empty, inline, inside a paged bucket
  // Many sub-buckets: the parent's own tree gets branch pages of bucket entries.
  Tree& many = top.buckets["many"];
  for (int i = 0; i < 2000; ++i) {
    Tree& sub = many.buckets["sub" + std::to_string(10000 + i)];
    for (int j = 0; j < i % 7; ++j) sub.rows["r" + std::to_string(j)] = std::to_string(i * j);
  }
  RoundTrip(top);
}

TEST(BboltTest, OtherPageSizes) {
  Tree top;
  for (int i = 0; i < 5000; ++i) {
    top.buckets["b"].rows["k" + std::to_string(100000 + i)] = std::string(i % 300, 'x');
  }
  top.buckets["b"].rows["large"] = std::string(20000, 'L');
  RoundTrip(top, 1024);
  RoundTrip(top, 16384);
}

TEST(BboltTest, WriterRejectsMisuse) {
  TempDir dir;
  std::unique_ptr<BboltWriter> w;
  ASSERT_TRUE(BboltWriter::Create(dir.Sub("db"), 4096, &w).ok());
  EXPECT_EQ(w->Put("k", "v").code(), Status::Code::kInvalidArgument);  // top level: buckets only
  ASSERT_TRUE(w->BeginBucket("b").ok());
  ASSERT_TRUE(w->Put("b", "1").ok());
  EXPECT_EQ(w->Put("a", "2").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(w->Put("b", "2").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(w->Put("", "2").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(w->Finish().code(), Status::Code::kFailedPrecondition);  // "b" still open
  ASSERT_TRUE(w->EndBucket().ok());
  EXPECT_EQ(w->BeginBucket("a").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(w->Finish().ok());
  EXPECT_EQ(BboltWriter::Create(dir.Sub("db2"), 1000, &w).code(), Status::Code::kInvalidArgument);
}

TEST(BboltTest, MetaPages) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  Tree top;
  top.buckets["b"].rows["k"] = "v";
  ASSERT_TRUE(WriteFile(path, top).ok());
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Both meta pages are valid; page 0 has the higher txid (as bbolt's Tx.WriteTo).
  for (size_t page = 0; page < 2; ++page) {
    const char* m = data.data() + page * 4096 + bbolt::kPageHeaderSize;
    EXPECT_EQ(bbolt::Get16(data.data() + page * 4096 + bbolt::kPageFlags), bbolt::kMetaPageFlag);
    EXPECT_EQ(bbolt::Get32(m + bbolt::kMetaMagic), bbolt::kMagic);
    EXPECT_EQ(bbolt::Get64(m + bbolt::kMetaChecksumOffset),
              bbolt::Fnv64a(std::string_view(m, bbolt::kMetaChecksumOffset)));
    EXPECT_EQ(bbolt::Get64(m + bbolt::kMetaTxid), 2 - page);
  }
  auto write = [&](const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  std::unique_ptr<BboltReader> r;
  // A damaged meta 0: meta 1 is used.
  std::string damaged = data;
  damaged[bbolt::kPageHeaderSize + bbolt::kMetaPgid] ^= 1;
  write(damaged);
  ASSERT_TRUE(BboltReader::Open(path, &r).ok());
  EXPECT_EQ(r->txid(), 1u);
  EXPECT_TRUE(r->Check().ok());
  // Both damaged: not a bbolt file.
  damaged[4096 + bbolt::kPageHeaderSize + bbolt::kMetaPgid] ^= 1;
  write(damaged);
  EXPECT_TRUE(BboltReader::Open(path, &r).IsCorruption());
  // Truncated below the high-water mark.
  write(data.substr(0, data.size() - 4096));
  EXPECT_TRUE(BboltReader::Open(path, &r).IsCorruption());
  // A trailer after the pages (etcd's sha256) is ignored.
  write(data + std::string(32, 'x'));
  ASSERT_TRUE(BboltReader::Open(path, &r).ok());
  EXPECT_TRUE(r->Check().ok());
}

TEST(BboltTest, DamagedPagesAreCorruptionNotCrashes) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  Tree top;
  for (int i = 0; i < 2000; ++i) top.buckets["b"].rows["k" + std::to_string(1000 + i)] = "value";
  ASSERT_TRUE(WriteFile(path, top).ok());
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::mt19937 rng(1);
  for (int round = 0; round < 300; ++round) {
    std::string d = data;
    // Damage data pages only (the meta pages have checksums).
    for (int i = 0; i < 4; ++i) d[8192 + rng() % (d.size() - 8192)] = static_cast<char>(rng());
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(d.data(), static_cast<std::streamsize>(d.size()));
    }
    std::unique_ptr<BboltReader> r;
    if (!BboltReader::Open(path, &r).ok()) continue;
    r->Check();  // any result, but no crash
    r->ForEach({"b"}, [](std::string_view, std::string_view, bool) { return Status::OK(); });
  }
}

TEST(BboltTest, CyclesAreCorruption) {
  TempDir dir;
  const std::string path = dir.Sub("db");
  Tree top;
  for (int i = 0; i < 3000; ++i) top.buckets["b"].rows["k" + std::to_string(1000 + i)] = "value";
  ASSERT_TRUE(WriteFile(path, top).ok());
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  // meta root -> the top-level leaf -> bucket "b" -> its root, a branch page.
  using namespace bbolt;
  const uint64_t top_root = Get64(data.data() + kPageHeaderSize + kMetaRoot);
  const char* leaf = data.data() + top_root * 4096;
  const char* elem = leaf + kPageHeaderSize;
  const uint64_t root = Get64(elem + Get32(elem + 4) + Get32(elem + 8));
  char* branch = data.data() + root * 4096;
  ASSERT_EQ(Get16(branch + kPageFlags), kBranchPageFlag);
  // Every child of the root is the root itself.
  for (uint16_t i = 0; i < Get16(branch + kPageCount); ++i) {
    Put64(branch + kPageHeaderSize + i * kBranchElementSize + 8, root);
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  std::unique_ptr<BboltReader> r;
  ASSERT_TRUE(BboltReader::Open(path, &r).ok());
  Status s =
      r->ForEach({"b"}, [](std::string_view, std::string_view, bool) { return Status::OK(); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(r->Check().IsCorruption());
  std::string v;
  EXPECT_FALSE(r->Get({"b"}, "k1500", &v).ok());
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Hex(Sha256::Digest("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256::Digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256::Digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(Hex(Sha256::Digest(million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Streamed in uneven pieces.
  Sha256 h;
  for (size_t at = 0, n = 1; at < million.size(); at += n, n = n * 3 % 1000 + 1) {
    h.Update(std::string_view(million).substr(at, n));
  }
  EXPECT_EQ(Hex(h.Finish()), Hex(Sha256::Digest(million)));
}

}  // namespace
}  // namespace capstan
