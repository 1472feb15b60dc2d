// Histogram: an HDR-style latency histogram with log-linear buckets.
//
// Values are nanoseconds. Each power of two is split into 2^kSubBits linear
// sub-buckets, so every recorded value is known to within 1/32 (about 3%)
// whatever its magnitude, in a fixed 15 KiB of counters. Record() is
// lock-free (relaxed atomics), so gRPC callback threads record into one
// histogram without coordination; readers may run concurrently and see a
// slightly stale but consistent-enough picture (progress lines).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

namespace capstan::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSubBuckets = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSubBuckets;

  Histogram() = default;
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Record(uint64_t ns);
  // Adds every count of `other` (a snapshot of it, if it is still recording).
  void Merge(const Histogram& other);
  void Reset();

  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t Min() const;
  uint64_t Max() const { return max_.load(std::memory_order_relaxed); }
  double Mean() const;
  // The value at quantile q in [0, 1]: the upper edge of its bucket, never
  // above Max(). 0 when empty.
  uint64_t Percentile(double q) const;

  // Non-empty buckets as (upper edge in ns, count), ascending.
  std::vector<std::pair<uint64_t, uint64_t>> Buckets() const;
  // The same, merged into `per_octave` buckets per power of two (for printing).
  std::vector<std::pair<uint64_t, uint64_t>> CoarseBuckets(int per_octave) const;

  static int BucketOf(uint64_t ns);
  static uint64_t BucketLow(int index);
  static uint64_t BucketHigh(int index);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
  std::atomic<uint64_t> max_{0};
};

}  // namespace capstan::bench
