// IntervalIndex: which watchers cover a key, answered without looking at the
// others.
//
// Two structures, because real workloads mix two shapes:
//  * single-key watchers live in a hash map from key to its watchers: a
//    lookup is O(1 + matches) however many watchers exist;
//  * range watchers (prefix, [key,end), key and up) live in a treap of the
//    distinct intervals, ordered by low end and augmented with the largest
//    high end of each subtree. A stabbing query descends only into subtrees
//    that can still hold an interval ending after the key, so it costs
//    O(log n) plus O(log n) per matching distinct interval; watchers that share
//    an interval (thousands of informers on one prefix) share its node and
//    are reported in O(1) each.
// The watchers of one key or interval are kept in an array (with a hash map
// of positions for O(1) erase), not a hash set: reporting 100k of them is
// then a walk over contiguous memory that can prefetch the watchers ahead.
// Values must be unique per interval (a watcher is registered once).
// Not thread-safe: the hub guards it.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "watch/key_interval.h"

namespace capstan::watch {

template <typename V>
class IntervalIndex {
 public:
  IntervalIndex() = default;
  IntervalIndex(const IntervalIndex&) = delete;
  IntervalIndex& operator=(const IntervalIndex&) = delete;

  void Insert(const KeyInterval& iv, V v) {
    ++size_;
    if (iv.single) {
      points_[iv.low].insert(v);
      return;
    }
    RangeKey key{iv.low, iv.unbounded, iv.unbounded ? std::string() : iv.high};
    if (Node* n = Find(key)) {
      n->values.insert(v);
      return;
    }
    auto node = std::make_unique<Node>();
    node->key = std::move(key);
    node->prio = rng_();
    node->values.insert(v);
    Update(node.get());
    InsertNode(&root_, std::move(node));
    ++ranges_;
  }

  // Returns false if (iv, v) was not registered.
  bool Erase(const KeyInterval& iv, V v) {
    bool erased = false;
    if (iv.single) {
      auto it = points_.find(iv.low);
      if (it != points_.end() && it->second.erase(v) > 0) {
        erased = true;
        if (it->second.empty()) points_.erase(it);
      }
    } else {
      RangeKey key{iv.low, iv.unbounded, iv.unbounded ? std::string() : iv.high};
      erased = EraseValue(&root_, key, v);
    }
    if (erased) --size_;
    return erased;
  }

  // Calls fn(v) for every value whose interval contains `key`. Returns the
  // number of tree nodes visited (for tests of the complexity bound).
  template <typename Fn>
  size_t Stab(std::string_view key, Fn&& fn) const {
    if (!points_.empty()) {
      auto it = points_.find(std::string(key));
      if (it != points_.end()) {
        it->second.ForEach(fn);
      }
    }
    size_t visited = 0;
    StabNode(root_.get(), key, fn, &visited);
    return visited;
  }

  size_t size() const { return size_; }
  size_t distinct_ranges() const { return ranges_; }
  bool empty() const { return size_ == 0; }

 private:
  // The values of one key or interval: insert and erase in O(1), iteration
  // over an array (in no particular order).
  class ValueSet {
   public:
    void insert(V v) {
      if (pos_.emplace(v, items_.size()).second) items_.push_back(v);
    }
    // Returns the number of values erased (0 or 1).
    size_t erase(V v) {
      auto it = pos_.find(v);
      if (it == pos_.end()) return 0;
      const size_t at = it->second;
      pos_.erase(it);
      if (at + 1 != items_.size()) {
        items_[at] = items_.back();
        pos_[items_[at]] = at;
      }
      items_.pop_back();
      return 1;
    }
    bool empty() const { return items_.empty(); }
    template <typename Fn>
    void ForEach(Fn& fn) const {
      // Pointed-to values (watchers) are read by fn: fetch a few ahead.
      constexpr size_t kAhead = 8;
      for (size_t i = 0; i < items_.size(); ++i) {
        if constexpr (std::is_pointer_v<V>) {
          if (i + kAhead < items_.size()) __builtin_prefetch(items_[i + kAhead]);
        }
        fn(items_[i]);
      }
    }

   private:
    std::vector<V> items_;
    std::unordered_map<V, size_t> pos_;
  };

  struct RangeKey {
    std::string low;
    bool unbounded = false;
    std::string high;
  };
  struct Node {
    RangeKey key;
    uint32_t prio = 0;
    ValueSet values;
    std::unique_ptr<Node> left, right;
    // Largest finite high end in the subtree (nullptr if none), and whether
    // some interval of the subtree is unbounded. Pointers into nodes of the
    // subtree stay valid: every change recomputes the path above it.
    const std::string* max_high = nullptr;
    bool any_unbounded = false;
  };
  using Ptr = std::unique_ptr<Node>;

  static bool Less(const RangeKey& a, const RangeKey& b) {
    if (a.low != b.low) return a.low < b.low;
    if (a.unbounded != b.unbounded) return !a.unbounded;
    return a.high < b.high;
  }
  static bool Equal(const RangeKey& a, const RangeKey& b) {
    return a.low == b.low && a.unbounded == b.unbounded && a.high == b.high;
  }

  static void Update(Node* n) {
    n->any_unbounded = n->key.unbounded;
    n->max_high = n->key.unbounded ? nullptr : &n->key.high;
    for (const Node* c : {n->left.get(), n->right.get()}) {
      if (c == nullptr) continue;
      n->any_unbounded = n->any_unbounded || c->any_unbounded;
      if (c->max_high != nullptr && (n->max_high == nullptr || *n->max_high < *c->max_high)) {
        n->max_high = c->max_high;
      }
    }
  }

  Node* Find(const RangeKey& key) const {
    Node* n = root_.get();
    while (n != nullptr) {
      if (Equal(key, n->key)) return n;
      n = Less(key, n->key) ? n->left.get() : n->right.get();
    }
    return nullptr;
  }

  // Splits t into keys < key (l) and keys >= key (r).
  static void Split(Ptr t, const RangeKey& key, Ptr* l, Ptr* r) {
    if (!t) {
      l->reset();
      r->reset();
      return;
    }
    if (Less(t->key, key)) {
      Ptr rl, rr;
      Split(std::move(t->right), key, &rl, &rr);
      t->right = std::move(rl);
      Update(t.get());
      *l = std::move(t);
      *r = std::move(rr);
    } else {
      Ptr ll, lr;
      Split(std::move(t->left), key, &ll, &lr);
      t->left = std::move(lr);
      Update(t.get());
      *l = std::move(ll);
      *r = std::move(t);
    }
  }

  // Every key of a is below every key of b.
  static Ptr Merge(Ptr a, Ptr b) {
    if (!a) return b;
    if (!b) return a;
    if (a->prio > b->prio) {
      a->right = Merge(std::move(a->right), std::move(b));
      Update(a.get());
      return a;
    }
    b->left = Merge(std::move(a), std::move(b->left));
    Update(b.get());
    return b;
  }

  static void InsertNode(Ptr* t, Ptr n) {
    if (!*t) {
      *t = std::move(n);
      return;
    }
    if (n->prio > (*t)->prio) {
      Split(std::move(*t), n->key, &n->left, &n->right);
      Update(n.get());
      *t = std::move(n);
      return;
    }
    Ptr* child = Less(n->key, (*t)->key) ? &(*t)->left : &(*t)->right;
    InsertNode(child, std::move(n));
    Update(t->get());
  }

  bool EraseValue(Ptr* t, const RangeKey& key, V v) {
    if (!*t) return false;
    Node* n = t->get();
    if (Equal(key, n->key)) {
      if (n->values.erase(v) == 0) return false;
      if (n->values.empty()) {
        *t = Merge(std::move(n->left), std::move(n->right));
        --ranges_;
      }
      return true;
    }
    bool erased = EraseValue(Less(key, n->key) ? &n->left : &n->right, key, v);
    Update(n);
    return erased;
  }

  template <typename Fn>
  static void StabNode(const Node* n, std::string_view key, Fn& fn, size_t* visited) {
    while (n != nullptr) {
      // Nothing below ends after `key`: prune the whole subtree.
      if (!n->any_unbounded && (n->max_high == nullptr || *n->max_high <= key)) return;
      ++*visited;
      StabNode(n->left.get(), key, fn, visited);
      // Everything to the right starts after `key`.
      if (key < std::string_view(n->key.low)) return;
      if (n->key.unbounded || key < std::string_view(n->key.high)) {
        n->values.ForEach(fn);
      }
      n = n->right.get();
    }
  }

  std::unordered_map<std::string, ValueSet> points_;
  Ptr root_;
  size_t size_ = 0;
  size_t ranges_ = 0;
  std::mt19937 rng_{0x5eed};
};

}  // namespace capstan::watch
