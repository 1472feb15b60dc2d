// Inflights: the MsgApp messages a leader has sent a follower but not yet
// seen acknowledged, for flow control in the replicate state.
//
// Each message is remembered by the index of its last entry and its size.
// The window is full when it holds max_count messages or max_bytes of
// entries; the leader then waits for acknowledgements (which free every
// message up to the acknowledged index) before sending more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace capstan::raft {

class Inflights {
 public:
  // max_bytes == 0 means no byte limit.
  Inflights(size_t max_count, uint64_t max_bytes) : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records a message whose last entry is `index`; indexes must increase.
  void Add(uint64_t index, uint64_t bytes);
  // Frees every message with last index <= `index`.
  void FreeLE(uint64_t index);
  // Frees the oldest message: used when acknowledgements may have been lost,
  // so the window cannot stay full forever.
  void FreeFirstOne();
  void Reset();

  bool Full() const;
  size_t Count() const { return items_.size(); }
  uint64_t Bytes() const { return bytes_; }

 private:
  struct Item {
    uint64_t index;
    uint64_t bytes;
  };
  size_t max_count_;
  uint64_t max_bytes_;
  std::deque<Item> items_;
  uint64_t bytes_ = 0;
};

}  // namespace capstan::raft
