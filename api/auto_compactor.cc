#include "api/auto_compactor.h"

#include <algorithm>

namespace capstan::api {

using namespace std::chrono_literals;

std::unique_ptr<AutoCompactor> AutoCompactor::Periodic(std::chrono::nanoseconds period) {
  return std::unique_ptr<AutoCompactor>(new AutoCompactor(Mode::kPeriodic, period, 0));
}

std::unique_ptr<AutoCompactor> AutoCompactor::Revisions(int64_t retention) {
  return std::unique_ptr<AutoCompactor>(new AutoCompactor(Mode::kRevision, 0ns, retention));
}

AutoCompactor::AutoCompactor(Mode mode, std::chrono::nanoseconds period, int64_t retention)
    : mode_(mode), period_(period), retention_(retention) {
  if (mode_ == Mode::kPeriodic) {
    auto capped = std::min<Clock::duration>(period_, 1h);
    sample_interval_ = std::max<Clock::duration>(capped / 10, 1ms);
    compact_interval_ = capped;
    samples_to_keep_ = static_cast<size_t>(period_ / sample_interval_) + 1;
    wait_ = period_;
  } else {
    sample_interval_ = 5min;  // etcd's revision compactor checks this often
    compact_interval_ = 5min;
    wait_ = 0ns;
  }
}

int64_t AutoCompactor::OnSample(Clock::time_point now, int64_t current_rev) {
  if (last_success_ == Clock::time_point{}) last_success_ = now;
  if (mode_ == Mode::kRevision) {
    int64_t rev = current_rev - retention_;
    if (rev <= 0 || rev <= last_compacted_) return 0;
    last_compacted_ = rev;
    return rev;
  }
  samples_.push_back(current_rev);
  if (samples_.size() > samples_to_keep_) samples_.pop_front();
  if (now - last_success_ < wait_) return 0;
  wait_ = compact_interval_;
  last_success_ = now;
  int64_t rev = samples_.front();  // sampled a period ago
  if (rev <= last_compacted_) return 0;
  last_compacted_ = rev;
  return rev;
}

void AutoCompactor::Start(CurrentRevision current, Compact compact) {
  thread_ = std::thread([this, current = std::move(current), compact = std::move(compact)] {
    std::unique_lock l(mu_);
    while (!stopping_) {
      if (cv_.wait_for(l, sample_interval_, [&] { return stopping_; })) break;
      l.unlock();
      int64_t rev = OnSample(Clock::now(), current());
      if (rev > 0) compact(rev);
      l.lock();
    }
  });
}

void AutoCompactor::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace capstan::api
