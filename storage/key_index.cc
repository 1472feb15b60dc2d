#include "storage/key_index.h"

namespace capstan {

void KeyIndex::Put(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyHistory()).first;
  it->second.Put(rev);
}

void KeyIndex::Restore(std::string_view key, Revision rev, Revision created, int64_t version) {
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyHistory()).first;
  it->second.Restore(rev, created, version);
}

bool KeyIndex::Tombstone(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  return it->second.Tombstone(rev);
}

bool KeyIndex::Get(std::string_view key, int64_t at, KeyVersion* out) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  return it->second.Get(at, out);
}

const KeyHistory* KeyIndex::Find(std::string_view key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second;
}

void KeyIndex::Visit(
    const KeyRange& range, int64_t at,
    const std::function<bool(const std::string& key, const KeyVersion&)>& fn) const {
  KeyVersion kv;
  if (range.single()) {
    auto it = keys_.find(range.key);
    if (it != keys_.end() && it->second.Get(at, &kv)) fn(it->first, kv);
    return;
  }
  if (!range.from_key() && range.end <= range.key) return;  // empty range
  auto end = range.from_key() ? keys_.end() : keys_.lower_bound(range.end);
  for (auto it = keys_.lower_bound(range.key); it != end; ++it) {
    if (it->second.Get(at, &kv) && !fn(it->first, kv)) return;
  }
}

std::set<Revision> KeyIndex::Compact(int64_t at) {
  std::set<Revision> keep;
  for (auto it = keys_.begin(); it != keys_.end();) {
    it->second.Compact(at, &keep);
    if (it->second.empty()) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return keep;
}

std::set<Revision> KeyIndex::Keep(int64_t at) const {
  std::set<Revision> keep;
  for (const auto& [key, history] : keys_) history.Keep(at, &keep);
  return keep;
}

}  // namespace capstan
