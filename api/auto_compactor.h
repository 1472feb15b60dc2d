// AutoCompactor: etcd's --auto-compaction-mode/--auto-compaction-retention.
//
// Periodic mode keeps `period` of history: it samples the revision every
// period/10 (an hour/10 at most) and, once a period has passed since the last
// compaction (then every min(period, 1h)), compacts to the revision sampled a
// period ago. Revision mode compacts to current - retention every 5 minutes.
// Compactions are ordinary proposals, so they replicate like any write.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace capstan::api {

class AutoCompactor {
 public:
  using Clock = std::chrono::steady_clock;
  using Compact = std::function<void(int64_t revision)>;
  using CurrentRevision = std::function<int64_t()>;

  static std::unique_ptr<AutoCompactor> Periodic(std::chrono::nanoseconds period);
  static std::unique_ptr<AutoCompactor> Revisions(int64_t retention);

  AutoCompactor(const AutoCompactor&) = delete;
  AutoCompactor& operator=(const AutoCompactor&) = delete;
  ~AutoCompactor() { Stop(); }

  // How often OnSample must be called.
  Clock::duration sample_interval() const { return sample_interval_; }

  // One sample: the revision to compact to now, or 0. Pure; drives the thread
  // and the tests alike.
  int64_t OnSample(Clock::time_point now, int64_t current_rev);

  void Start(CurrentRevision current, Compact compact);
  void Stop();

 private:
  enum class Mode { kPeriodic, kRevision };
  AutoCompactor(Mode mode, std::chrono::nanoseconds period, int64_t retention);

  const Mode mode_;
  const std::chrono::nanoseconds period_;
  const int64_t retention_;
  Clock::duration sample_interval_;
  Clock::duration compact_interval_;
  size_t samples_to_keep_ = 0;

  std::deque<int64_t> samples_;
  Clock::time_point last_success_{};
  Clock::duration wait_;  // a full period first, then compact_interval_
  int64_t last_compacted_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace capstan::api
