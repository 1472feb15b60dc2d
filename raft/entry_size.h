// Sizing of log entries for the byte limits of messages and Ready batches.
#pragma once

#include <cstdint>
#include <vector>

#include "raftpb.pb.h"

namespace capstan::raft {

// Unlimited, for the max_bytes arguments below and in LogStorage.
inline constexpr uint64_t kNoLimit = UINT64_MAX;

inline uint64_t EntrySize(const raftpb::Entry& e) { return e.ByteSizeLong(); }

// Drops entries from the back of *entries once their total size exceeds
// max_bytes, always keeping the first one: a single entry larger than the
// limit must still make progress.
inline void LimitSize(std::vector<raftpb::Entry>* entries, uint64_t max_bytes) {
  if (entries->empty() || max_bytes == kNoLimit) return;
  uint64_t total = EntrySize((*entries)[0]);
  size_t keep = 1;
  for (; keep < entries->size(); ++keep) {
    total += EntrySize((*entries)[keep]);
    if (total > max_bytes) break;
  }
  entries->resize(keep);
}

}  // namespace capstan::raft
