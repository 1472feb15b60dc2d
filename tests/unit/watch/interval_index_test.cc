#include "watch/interval_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>
#include <set>
#include <vector>

namespace capstan::watch {
namespace {

KeyInterval Iv(const std::string& key, const std::string& end) {
  KeyInterval iv;
  EXPECT_TRUE(KeyInterval::FromRequest(key, end, &iv)) << key << " " << end;
  return iv;
}

std::vector<int> Stab(const IntervalIndex<int>& idx, const std::string& key) {
  std::vector<int> out;
  idx.Stab(key, [&](int v) { out.push_back(v); });
  std::sort(out.begin(), out.end());
  return out;
}

const std::string kFromKey(1, '\0');

TEST(KeyIntervalTest, NormalizesLikeEtcd) {
  KeyInterval iv;
  ASSERT_TRUE(KeyInterval::FromRequest("", "", &iv));
  EXPECT_TRUE(iv.single);
  EXPECT_EQ(iv.low, std::string(1, '\0'));
  ASSERT_TRUE(KeyInterval::FromRequest("a", kFromKey, &iv));
  EXPECT_TRUE(iv.unbounded);
  EXPECT_TRUE(iv.Contains("a"));
  EXPECT_TRUE(iv.Contains("zzz"));
  EXPECT_FALSE(iv.Contains("A"));
  ASSERT_TRUE(KeyInterval::FromRequest("a", "b", &iv));
  EXPECT_TRUE(iv.Contains("a\xff"));
  EXPECT_FALSE(iv.Contains("b"));
  EXPECT_FALSE(KeyInterval::FromRequest("b", "a", &iv));
  EXPECT_FALSE(KeyInterval::FromRequest("a", "a", &iv));
  // The whole key space: key "" (= "\0") and range_end "\0".
  ASSERT_TRUE(KeyInterval::FromRequest("", kFromKey, &iv));
  EXPECT_TRUE(iv.Contains(std::string(1, '\0')));
  EXPECT_TRUE(iv.Contains("x"));
}

TEST(IntervalIndexTest, KeysPrefixesRangesAndFromKey) {
  IntervalIndex<int> idx;
  idx.Insert(Iv("foo", ""), 1);
  idx.Insert(Iv("fo", "fp"), 2);  // prefix "fo"
  idx.Insert(Iv("a", "g"), 3);
  idx.Insert(Iv("foo", kFromKey), 4);
  idx.Insert(Iv("", kFromKey), 5);  // everything
  idx.Insert(Iv("fo", "fp"), 6);    // shares a node with 2
  EXPECT_EQ(idx.size(), 6u);
  EXPECT_EQ(idx.distinct_ranges(), 4u);
  EXPECT_EQ(Stab(idx, "foo"), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Stab(idx, "fo"), (std::vector<int>{2, 3, 5, 6}));
  EXPECT_EQ(Stab(idx, "g"), (std::vector<int>{4, 5}));
  EXPECT_EQ(Stab(idx, "0"), (std::vector<int>{5}));
  EXPECT_TRUE(idx.Erase(Iv("fo", "fp"), 2));
  EXPECT_FALSE(idx.Erase(Iv("fo", "fp"), 2));
  EXPECT_FALSE(idx.Erase(Iv("fo", "fq"), 6));
  EXPECT_EQ(Stab(idx, "fo"), (std::vector<int>{3, 5, 6}));
  EXPECT_TRUE(idx.Erase(Iv("fo", "fp"), 6));
  EXPECT_EQ(idx.distinct_ranges(), 3u);
  EXPECT_TRUE(idx.Erase(Iv("foo", ""), 1));
  EXPECT_EQ(Stab(idx, "foo"), (std::vector<int>{3, 4, 5}));
}

// Randomized against a brute-force scan, with inserts and erases interleaved.
TEST(IntervalIndexTest, MatchesBruteForce) {
  std::mt19937 rng(42);
  auto key = [&] {
    std::string k;
    int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) k.push_back(static_cast<char>('a' + rng() % 6));
    return k;
  };
  IntervalIndex<int> idx;
  std::vector<std::pair<KeyInterval, int>> all;
  for (int step = 0; step < 20000; ++step) {
    int op = static_cast<int>(rng() % 10);
    if (op < 5 || all.empty()) {
      std::string a = key(), b = key();
      KeyInterval iv;
      switch (rng() % 3) {
        case 0:
          iv = Iv(a, "");
          break;
        case 1:
          iv = Iv(a, kFromKey);
          break;
        default:
          if (a == b) b.push_back('a');
          if (b < a) std::swap(a, b);
          iv = Iv(a, b);
      }
      idx.Insert(iv, step);
      all.emplace_back(iv, step);
    } else if (op < 7) {
      size_t i = rng() % all.size();
      ASSERT_TRUE(idx.Erase(all[i].first, all[i].second));
      all.erase(all.begin() + static_cast<long>(i));
    } else {
      std::string k = key();
      std::vector<int> want;
      for (auto& [iv, v] : all) {
        if (iv.Contains(k)) want.push_back(v);
      }
      std::sort(want.begin(), want.end());
      ASSERT_EQ(Stab(idx, k), want) << "key " << k << " step " << step;
    }
  }
  EXPECT_EQ(idx.size(), all.size());
}

// 100k watchers: a lookup visits O(log n) nodes, not O(n).
// Thousands of watchers on one key and on one prefix share an entry each;
// erasing from the middle (swapped with the last) must keep every other one
// reported exactly once. Pointer values exercise the prefetching walk.
TEST(IntervalIndexTest, ManyValuesSharingAnIntervalSurviveErasures) {
  std::vector<int> storage(5000);
  IntervalIndex<const int*> idx;
  std::set<const int*> on_key, on_prefix;
  for (size_t i = 0; i < storage.size(); ++i) {
    const int* v = &storage[i];
    if (i % 2 == 0) {
      idx.Insert(Iv("k/1", ""), v);
      on_key.insert(v);
    } else {
      idx.Insert(Iv("k/", "k0"), v);
      on_prefix.insert(v);
    }
  }
  std::mt19937 rng(7);
  auto erase_some = [&](std::set<const int*>* set, const KeyInterval& iv, size_t n) {
    for (size_t i = 0; i < n && !set->empty(); ++i) {
      auto it = set->begin();
      std::advance(it, rng() % set->size());
      ASSERT_TRUE(idx.Erase(iv, *it));
      ASSERT_FALSE(idx.Erase(iv, *it));  // gone, and reported as gone
      set->erase(it);
    }
  };
  auto check = [&] {
    std::vector<const int*> got;
    idx.Stab("k/1", [&](const int* v) { got.push_back(v); });
    std::sort(got.begin(), got.end());
    std::vector<const int*> want(on_key.begin(), on_key.end());
    want.insert(want.end(), on_prefix.begin(), on_prefix.end());
    std::sort(want.begin(), want.end());
    ASSERT_EQ(got, want);
    EXPECT_EQ(idx.size(), want.size());
  };
  check();
  erase_some(&on_key, Iv("k/1", ""), 1000);
  erase_some(&on_prefix, Iv("k/", "k0"), 1700);
  check();
  // Erased values can come back.
  for (size_t i = 0; i < 10; ++i) {
    const int* v = &storage[i * 2];
    if (on_key.insert(v).second) idx.Insert(Iv("k/1", ""), v);
  }
  check();
  erase_some(&on_key, Iv("k/1", ""), on_key.size());
  erase_some(&on_prefix, Iv("k/", "k0"), on_prefix.size());
  check();
  EXPECT_TRUE(idx.empty());
  EXPECT_EQ(idx.distinct_ranges(), 0u);
}

TEST(IntervalIndexTest, StabbingCostIsLogarithmic) {
  IntervalIndex<int> idx;
  const int n = 100000;
  char buf[32];
  for (int i = 0; i < n; ++i) {
    snprintf(buf, sizeof(buf), "/registry/k%06d", i);
    std::string k = buf;
    idx.Insert(Iv(k + "/", k + "0"), i);  // disjoint prefixes
    idx.Insert(Iv(k + "/x", ""), n + i);  // single keys
  }
  const double log2n = std::log2(2.0 * n);
  size_t worst = 0;
  std::mt19937 rng(7);
  for (int q = 0; q < 2000; ++q) {
    int i = static_cast<int>(rng() % n);
    snprintf(buf, sizeof(buf), "/registry/k%06d", i);
    std::vector<int> got;
    size_t visited = idx.Stab(std::string(buf) + "/x", [&](int v) { got.push_back(v); });
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, (std::vector<int>{i, n + i}));
    worst = std::max(worst, visited);
  }
  // A treap's depth is ~3 log2 n with overwhelming probability; the query
  // walks at most two root-to-leaf paths.
  EXPECT_LT(static_cast<double>(worst), 8 * log2n) << "visited " << worst;

  // Many watchers on one prefix share one node and cost O(1) each.
  IntervalIndex<int> shared;
  for (int i = 0; i < n; ++i) shared.Insert(Iv("/registry/pods/", "/registry/pods0"), i);
  EXPECT_EQ(shared.distinct_ranges(), 1u);
  size_t count = 0;
  size_t visited = shared.Stab("/registry/pods/a", [&](int) { ++count; });
  EXPECT_EQ(count, static_cast<size_t>(n));
  EXPECT_EQ(visited, 1u);
  EXPECT_EQ(shared.Stab("/registry/podz", [&](int) { ++count; }), 0u);
}

}  // namespace
}  // namespace capstan::watch
