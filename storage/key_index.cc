#include "storage/key_index.h"

namespace capstan {

KeyIndex::Entry& KeyIndex::FindOrAdd(std::string_view key) {
  if (Entry* e = Lookup(key); e != nullptr) return *e;
  Entry& e = *keys_.emplace(std::string(key), KeyHistory()).first;
  by_key_.insert(&e);
  return e;
}

void KeyIndex::Put(std::string_view key, Revision rev) { FindOrAdd(key).second.Put(rev); }

void KeyIndex::Restore(std::string_view key, Revision rev, Revision created, int64_t version) {
  FindOrAdd(key).second.Restore(rev, created, version);
}

bool KeyIndex::Tombstone(std::string_view key, Revision rev) {
  Entry* e = Lookup(key);
  return e != nullptr && e->second.Tombstone(rev);
}

bool KeyIndex::Get(std::string_view key, int64_t at, KeyVersion* out) const {
  const Entry* e = Lookup(key);
  return e != nullptr && e->second.Get(at, out);
}

const KeyHistory* KeyIndex::Find(std::string_view key) const {
  const Entry* e = Lookup(key);
  return e == nullptr ? nullptr : &e->second;
}

void KeyIndex::Clear() {
  by_key_.clear();
  keys_.clear();
}

void KeyIndex::Visit(
    const KeyRange& range, int64_t at,
    const std::function<bool(const std::string& key, const KeyVersion&)>& fn) const {
  KeyVersion kv;
  if (range.single()) {
    const Entry* e = Lookup(range.key);
    if (e != nullptr && e->second.Get(at, &kv)) fn(e->first, kv);
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
      by_key_.erase(&*it);
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
