#include "bench/histogram.h"

#include <algorithm>
#include <bit>

namespace capstan::bench {

int Histogram::BucketOf(uint64_t ns) {
  if (ns < static_cast<uint64_t>(kSubBuckets)) return static_cast<int>(ns);
  int e = 63 - std::countl_zero(ns);  // >= kSubBits
  int sub = static_cast<int>((ns >> (e - kSubBits)) & (kSubBuckets - 1));
  return (e - kSubBits + 1) * kSubBuckets + sub;
}

uint64_t Histogram::BucketLow(int index) {
  if (index < kSubBuckets) return static_cast<uint64_t>(index);
  int e = index / kSubBuckets + kSubBits - 1;
  uint64_t sub = static_cast<uint64_t>(index % kSubBuckets);
  return (uint64_t{kSubBuckets} + sub) << (e - kSubBits);
}

uint64_t Histogram::BucketHigh(int index) {
  if (index + 1 >= kBuckets) return UINT64_MAX;
  return BucketLow(index + 1) - 1;
}

void Histogram::Record(uint64_t ns) {
  counts_[BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(ns, std::memory_order_relaxed);
  uint64_t cur = min_.load(std::memory_order_relaxed);
  while (ns < cur && !min_.compare_exchange_weak(cur, ns, std::memory_order_relaxed)) {
  }
  cur = max_.load(std::memory_order_relaxed);
  while (ns > cur && !max_.compare_exchange_weak(cur, ns, std::memory_order_relaxed)) {
  }
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    uint64_t c = other.counts_[i].load(std::memory_order_relaxed);
    if (c != 0) counts_[i].fetch_add(c, std::memory_order_relaxed);
  }
  count_.fetch_add(other.Count(), std::memory_order_relaxed);
  sum_.fetch_add(other.sum_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  uint64_t omin = other.min_.load(std::memory_order_relaxed);
  uint64_t cur = min_.load(std::memory_order_relaxed);
  while (omin < cur && !min_.compare_exchange_weak(cur, omin, std::memory_order_relaxed)) {
  }
  uint64_t omax = other.Max();
  cur = max_.load(std::memory_order_relaxed);
  while (omax > cur && !max_.compare_exchange_weak(cur, omax, std::memory_order_relaxed)) {
  }
}

void Histogram::Reset() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  min_.store(UINT64_MAX, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

uint64_t Histogram::Min() const {
  uint64_t m = min_.load(std::memory_order_relaxed);
  return m == UINT64_MAX ? 0 : m;
}

double Histogram::Mean() const {
  uint64_t n = Count();
  return n == 0
             ? 0.0
             : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
}

uint64_t Histogram::Percentile(double q) const {
  // Sum the buckets themselves: count_ may run ahead of them while recording.
  uint64_t total = 0;
  for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total) + 0.5);
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(BucketHigh(i), Max());
  }
  return Max();
}

std::vector<std::pair<uint64_t, uint64_t>> Histogram::Buckets() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (int i = 0; i < kBuckets; ++i) {
    uint64_t c = counts_[i].load(std::memory_order_relaxed);
    if (c != 0) out.emplace_back(BucketHigh(i), c);
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> Histogram::CoarseBuckets(int per_octave) const {
  // Buckets below kSubBuckets ns are merged into the first octave; the group
  // size must divide kSubBuckets.
  int group = kSubBuckets / std::clamp(per_octave, 1, kSubBuckets);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  int first = -1, last = -1;
  for (int i = 0; i < kBuckets; ++i) {
    if (counts_[i].load(std::memory_order_relaxed) != 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return out;
  first -= first % group;
  for (int i = first; i <= last; i += group) {
    uint64_t c = 0;
    for (int j = i; j < i + group && j < kBuckets; ++j) {
      c += counts_[j].load(std::memory_order_relaxed);
    }
    out.emplace_back(BucketHigh(std::min(i + group - 1, kBuckets - 1)), c);
  }
  return out;
}

}  // namespace capstan::bench
