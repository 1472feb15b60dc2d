#include "storage/key_history.h"

namespace capstan {

void KeyHistory::Put(Revision rev) {
  Generation& g = generations_.back();
  if (g.empty()) g.created = rev;
  g.revs.push_back(rev);
  g.version++;
  modified_ = rev;
}

void KeyHistory::Restore(Revision rev, Revision created, int64_t version) {
  Generation& g = generations_.back();
  if (g.empty()) g.created = created;
  g.revs.push_back(rev);
  g.version = version;
  modified_ = rev;
}

bool KeyHistory::Tombstone(Revision rev) {
  if (generations_.back().empty()) return false;
  Put(rev);
  generations_.emplace_back();
  return true;
}

const Generation* KeyHistory::FindGeneration(int64_t at) const {
  // Walk back from the newest generation; a closed generation whose tombstone
  // is at or before `at` means the key was deleted at `at`.
  const size_t last = generations_.size() - 1;
  for (size_t i = generations_.size(); i-- > 0;) {
    const Generation& g = generations_[i];
    if (g.empty()) continue;
    if (i != last && g.revs.back().main <= at) return nullptr;
    if (g.revs.front().main <= at) return &g;
  }
  return nullptr;
}

bool KeyHistory::Get(int64_t at, KeyVersion* out) const {
  const Generation* g = FindGeneration(at);
  if (g == nullptr) return false;
  for (size_t n = g->revs.size(); n-- > 0;) {
    if (g->revs[n].main <= at) {
      out->modified = g->revs[n];
      out->created = g->created;
      out->version = g->version - static_cast<int64_t>(g->revs.size() - n - 1);
      return true;
    }
  }
  return false;
}

void KeyHistory::Since(int64_t since, std::vector<Revision>* out) const {
  int64_t last_main = -1;
  for (const Generation& g : generations_) {
    for (const Revision& r : g.revs) {
      if (r.main < since) continue;
      // Only the last change of a main revision is visible to readers.
      if (r.main == last_main && !out->empty()) out->pop_back();
      out->push_back(r);
      last_main = r.main;
    }
  }
}

void KeyHistory::CompactPoint(int64_t at, size_t* gen, int* pos) const {
  size_t i = 0;
  // Skip generations that ended (tombstone) at or before `at`.
  while (i + 1 < generations_.size()) {
    const Generation& g = generations_[i];
    if (!g.empty() && g.revs.back().main > at) break;
    ++i;
  }
  const Generation& g = generations_[i];
  int p = -1;
  for (size_t n = g.revs.size(); n-- > 0;) {
    if (g.revs[n].main <= at) {
      p = static_cast<int>(n);
      break;
    }
  }
  *gen = i;
  *pos = p;
}

void KeyHistory::Keep(int64_t at, std::set<Revision>* keep) const {
  size_t gi;
  int pos;
  CompactPoint(at, &gi, &pos);
  if (pos < 0) return;
  // Never a tombstone: CompactPoint skips generations that closed at or before `at`.
  keep->insert(generations_[gi].revs[pos]);
}

void KeyHistory::Compact(int64_t at, std::set<Revision>* keep) {
  size_t gi;
  int pos;
  CompactPoint(at, &gi, &pos);
  Generation& g = generations_[gi];
  if (!g.empty()) {
    if (pos >= 0) {
      keep->insert(g.revs[pos]);
      g.revs.erase(g.revs.begin(), g.revs.begin() + pos);
    }
    // A closed generation reduced to its tombstone is gone entirely.
    if (g.revs.size() == 1 && gi + 1 < generations_.size()) {
      keep->erase(g.revs[0]);
      ++gi;
    }
  }
  generations_.erase(generations_.begin(), generations_.begin() + static_cast<long>(gi));
}

}  // namespace capstan
