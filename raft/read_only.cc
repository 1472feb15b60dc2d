#include "raft/read_only.h"

#include <algorithm>
#include <cstring>

namespace capstan::raft {

std::string ReadOnly::Key(uint64_t from, const std::string& context) {
  // Only ever compared on the member that made it: host byte order will do.
  std::string key(sizeof from, '\0');
  std::memcpy(key.data(), &from, sizeof from);
  return key + context;
}

void ReadOnly::AddRequest(const std::string& key, uint64_t index, const raftpb::Message& request) {
  if (pending_.count(key)) return;
  ReadIndexStatus st;
  st.request = request;
  st.index = index;
  pending_.emplace(key, std::move(st));
  queue_.push_back(key);
}

const std::set<uint64_t>* ReadOnly::RecvAck(uint64_t id, const std::string& context) {
  auto it = pending_.find(context);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadIndexStatus> ReadOnly::Advance(const std::string& context) {
  std::vector<ReadIndexStatus> out;
  auto pos = std::find(queue_.begin(), queue_.end(), context);
  if (pos == queue_.end()) return out;
  size_t n = static_cast<size_t>(pos - queue_.begin()) + 1;
  for (size_t i = 0; i < n; ++i) {
    auto it = pending_.find(queue_.front());
    out.push_back(std::move(it->second));
    pending_.erase(it);
    queue_.pop_front();
  }
  return out;
}

std::string ReadOnly::LastPendingContext() const {
  return queue_.empty() ? std::string() : queue_.back();
}

void ReadOnly::Reset() {
  pending_.clear();
  queue_.clear();
}

}  // namespace capstan::raft
