#include "storage/key_history.h"

#include <gtest/gtest.h>

#include "storage/key_index.h"

namespace capstan {
namespace {

TEST(KeyHistoryTest, VersionsAndGenerations) {
  KeyHistory h;
  h.Put({2, 0});
  h.Put({4, 0});
  ASSERT_TRUE(h.Tombstone({6, 0}));
  h.Put({8, 0});
  KeyVersion v;
  EXPECT_FALSE(h.Get(1, &v));
  ASSERT_TRUE(h.Get(3, &v));
  EXPECT_EQ(v.modified.main, 2);
  EXPECT_EQ(v.created.main, 2);
  EXPECT_EQ(v.version, 1);
  ASSERT_TRUE(h.Get(5, &v));
  EXPECT_EQ(v.modified.main, 4);
  EXPECT_EQ(v.version, 2);
  EXPECT_FALSE(h.Get(6, &v));
  EXPECT_FALSE(h.Get(7, &v));
  ASSERT_TRUE(h.Get(8, &v));
  EXPECT_EQ(v.created.main, 8);
  EXPECT_EQ(v.version, 1);
  EXPECT_TRUE(h.Tombstone({9, 0}));
  EXPECT_FALSE(h.Tombstone({10, 0}));  // already deleted
}

TEST(KeyHistoryTest, SinceKeepsLastSubOfEachMain) {
  KeyHistory h;
  h.Put({2, 0});
  h.Put({3, 0});
  h.Put({3, 1});
  h.Tombstone({5, 0});
  std::vector<Revision> out;
  h.Since(3, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (Revision{3, 1}));
  EXPECT_EQ(out[1], (Revision{5, 0}));
}

TEST(KeyHistoryTest, CompactKeepsNewestAtOrBefore) {
  KeyHistory h;
  h.Put({2, 0});
  h.Put({4, 0});
  h.Put({6, 0});
  std::set<Revision> keep;
  h.Compact(5, &keep);
  EXPECT_EQ(keep, (std::set<Revision>{{4, 0}}));
  KeyVersion v;
  ASSERT_TRUE(h.Get(5, &v));
  EXPECT_EQ(v.modified.main, 4);
  EXPECT_EQ(v.version, 2);
  ASSERT_TRUE(h.Get(6, &v));
  EXPECT_EQ(v.version, 3);
}

TEST(KeyHistoryTest, CompactDropsDeletedGenerations) {
  KeyHistory h;
  h.Put({2, 0});
  h.Tombstone({3, 0});
  std::set<Revision> keep;
  h.Compact(3, &keep);
  EXPECT_TRUE(keep.empty());
  EXPECT_TRUE(h.empty());

  KeyHistory h2;
  h2.Put({2, 0});
  h2.Tombstone({4, 0});
  h2.Put({5, 0});
  keep.clear();
  h2.Compact(4, &keep);
  EXPECT_TRUE(keep.empty());
  EXPECT_FALSE(h2.empty());
  KeyVersion v;
  EXPECT_TRUE(h2.Get(5, &v));
  EXPECT_EQ(h2.generation_count(), 1u);
}

TEST(KeyHistoryTest, CompactBeforeTombstoneKeepsPut) {
  KeyHistory h;
  h.Put({2, 0});
  h.Tombstone({5, 0});
  std::set<Revision> keep;
  h.Compact(3, &keep);
  EXPECT_EQ(keep, (std::set<Revision>{{2, 0}}));
  KeyVersion v;
  EXPECT_TRUE(h.Get(3, &v));
  EXPECT_FALSE(h.Get(5, &v));
  std::set<Revision> keep2;
  h.Keep(3, &keep2);
  EXPECT_EQ(keep, keep2);
}

TEST(KeyIndexTest, RangeSemantics) {
  KeyIndex idx;
  idx.Put("a", {2, 0});
  idx.Put("b", {3, 0});
  idx.Put("c", {4, 0});
  idx.Put("d", {5, 0});
  auto keys = [&](KeyRange r, int64_t at) {
    std::string s;
    idx.Visit(r, at, [&](const std::string& k, const KeyVersion&) {
      s += k;
      return true;
    });
    return s;
  };
  EXPECT_EQ(keys({"b", ""}, 5), "b");
  EXPECT_EQ(keys({"b", "d"}, 5), "bc");
  EXPECT_EQ(keys({"b", std::string_view("\0", 1)}, 5), "bcd");
  EXPECT_EQ(keys({std::string_view("\0", 1), std::string_view("\0", 1)}, 5), "abcd");
  EXPECT_EQ(keys({"b", "d"}, 3), "b");
  EXPECT_EQ(keys({"d", "b"}, 5), "");  // end before key
  EXPECT_EQ(keys({"zz", ""}, 5), "");
  EXPECT_EQ(keys({"zz", "a"}, 5), "");  // end before key, nothing at or after key
  EXPECT_EQ(keys({"b", "b"}, 5), "");
}

}  // namespace
}  // namespace capstan
