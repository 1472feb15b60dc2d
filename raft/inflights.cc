#include "raft/inflights.h"

#include "raft/invariant.h"

namespace capstan::raft {

void Inflights::Add(uint64_t index, uint64_t bytes) {
  RAFT_CHECK(!Full(), "adding to a full inflights window");
  RAFT_CHECK(items_.empty() || items_.back().index < index,
             "inflight index " + std::to_string(index) + " does not increase");
  items_.push_back({index, bytes});
  bytes_ += bytes;
}

void Inflights::FreeLE(uint64_t index) {
  while (!items_.empty() && items_.front().index <= index) {
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
}

void Inflights::FreeFirstOne() {
  if (items_.empty()) return;
  bytes_ -= items_.front().bytes;
  items_.pop_front();
}

void Inflights::Reset() {
  items_.clear();
  bytes_ = 0;
}

bool Inflights::Full() const {
  return items_.size() >= max_count_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

}  // namespace capstan::raft
