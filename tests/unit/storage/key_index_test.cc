// KeyIndex keeps every key twice (an ordered tree for ranges, a hash map for
// point lookups); these check that both views agree through puts, deletes,
// compaction and Clear, against a plain std::map model.
#include "storage/key_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace capstan {
namespace {

std::string Keys(const KeyIndex& idx, KeyRange r, int64_t at) {
  std::string s;
  idx.Visit(r, at, [&](const std::string& k, const KeyVersion&) {
    s += k + ",";
    return true;
  });
  return s;
}

TEST(KeyIndexTest, PointLookupsFollowPutsDeletesAndCompaction) {
  KeyIndex idx;
  idx.Put("a", {2, 0});
  idx.Put("b", {3, 0});
  idx.Put("a", {4, 0});
  KeyVersion v;
  ASSERT_TRUE(idx.Get("a", 4, &v));
  EXPECT_EQ(v.modified, (Revision{4, 0}));
  EXPECT_EQ(v.created.main, 2);
  EXPECT_EQ(v.version, 2);
  ASSERT_TRUE(idx.Get("a", 3, &v));
  EXPECT_EQ(v.version, 1);
  EXPECT_FALSE(idx.Get("c", 4, &v));
  EXPECT_EQ(idx.Find("c"), nullptr);
  EXPECT_FALSE(idx.Tombstone("c", {5, 0}));

  ASSERT_TRUE(idx.Tombstone("b", {5, 0}));
  EXPECT_FALSE(idx.Get("b", 5, &v));
  ASSERT_NE(idx.Find("b"), nullptr);  // remembered until compacted
  EXPECT_EQ(Keys(idx, {"b", ""}, 4), "b,");
  EXPECT_EQ(Keys(idx, {"b", ""}, 5), "");

  // Compaction past the tombstone forgets "b" in both views.
  std::set<Revision> keep = idx.Compact(5);
  EXPECT_EQ(keep, (std::set<Revision>{{4, 0}}));
  EXPECT_EQ(idx.Find("b"), nullptr);
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_EQ(Keys(idx, {std::string_view("\0", 1), std::string_view("\0", 1)}, 5), "a,");

  // A forgotten key comes back as new.
  idx.Put("b", {6, 0});
  ASSERT_TRUE(idx.Get("b", 6, &v));
  EXPECT_EQ(v.created.main, 6);
  EXPECT_EQ(v.version, 1);
  EXPECT_EQ(Keys(idx, {"a", "c"}, 6), "a,b,");

  idx.Clear();
  EXPECT_EQ(idx.size(), 0u);
  EXPECT_EQ(idx.Find("a"), nullptr);
  EXPECT_FALSE(idx.Get("b", 6, &v));
  idx.Put("a", {7, 0});
  ASSERT_TRUE(idx.Get("a", 7, &v));
  EXPECT_EQ(v.version, 1);
}

// Random puts, deletes and compactions on many keys (enough for the hash map
// to grow several times); every key's latest version and every range must
// match a model.
TEST(KeyIndexTest, MatchesModelUnderRandomChanges) {
  struct Live {
    int64_t created = 0, modified = 0, version = 0;
  };
  KeyIndex idx;
  std::map<std::string, Live> model;
  std::mt19937_64 rng(7);
  int64_t rev = 1;
  auto key = [](uint64_t i) { return "k" + std::to_string(i); };
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 2000; ++i) {
      std::string k = key(rng() % 5000);
      ++rev;
      if (rng() % 4 == 0) {
        EXPECT_EQ(idx.Tombstone(k, {rev, 0}), model.erase(k) == 1) << k;
      } else {
        idx.Put(k, {rev, 0});
        Live& l = model[k];
        if (l.version == 0) l.created = rev;
        l.modified = rev;
        l.version++;
      }
    }
    if (round % 5 == 4) idx.Compact(rev);
    for (uint64_t i = 0; i < 5000; ++i) {
      std::string k = key(i);
      KeyVersion v;
      auto it = model.find(k);
      ASSERT_EQ(idx.Get(k, rev, &v), it != model.end()) << k;
      if (it == model.end()) continue;
      EXPECT_EQ(v.modified.main, it->second.modified) << k;
      EXPECT_EQ(v.created.main, it->second.created) << k;
      EXPECT_EQ(v.version, it->second.version) << k;
    }
    std::string want;
    for (const auto& [k, l] : model) {
      if (k >= "k2" && k < "k3") want += k + ",";
    }
    EXPECT_EQ(Keys(idx, {"k2", "k3"}, rev), want);
  }
}

}  // namespace
}  // namespace capstan
