#include "storage/key_history.h"

#include <algorithm>

namespace capstan {

void KeyHistory::Put(Revision rev) {
  Generation& g = current_;
  if (g.empty()) g.created = rev;
  g.revs.push_back(rev);
  g.version++;
  modified_ = rev;
}

void KeyHistory::Restore(Revision rev, Revision created, int64_t version) {
  Generation& g = current_;
  if (g.empty()) g.created = created;
  g.revs.push_back(rev);
  g.version = version;
  modified_ = rev;
}

bool KeyHistory::Tombstone(Revision rev) {
  if (current_.empty()) return false;
  Put(rev);
  closed_.push_back(std::move(current_));
  current_ = Generation();
  return true;
}

const Generation* KeyHistory::FindGeneration(int64_t at) const {
  if (!current_.empty() && current_.revs.front().main <= at) return &current_;
  // Walk back through the closed generations; one whose tombstone is at or
  // before `at` means the key was deleted at `at`.
  for (size_t i = closed_.size(); i-- > 0;) {
    const Generation& g = closed_[i];
    if (g.revs.back().main <= at) return nullptr;
    if (g.revs.front().main <= at) return &g;
  }
  return nullptr;
}

bool KeyHistory::Get(int64_t at, KeyVersion* out) const {
  // The common read, and every put's, is of the latest version of a live key.
  if (!current_.empty() && modified_.main <= at) {
    out->modified = modified_;
    out->created = current_.created;
    out->version = current_.version;
    return true;
  }
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
  for (size_t i = 0; i < generation_count(); ++i) {
    for (const Revision& r : generation(i).revs) {
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
  while (i < closed_.size() && closed_[i].revs.back().main <= at) ++i;
  const Generation& g = generation(i);
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
  keep->insert(generation(gi).revs[pos]);
}

void KeyHistory::Compact(int64_t at, std::set<Revision>* keep) {
  size_t gi;
  int pos;
  CompactPoint(at, &gi, &pos);
  Generation& g = gi < closed_.size() ? closed_[gi] : current_;
  if (!g.empty()) {
    if (pos >= 0) {
      keep->insert(g.revs[pos]);
      g.revs.erase(g.revs.begin(), g.revs.begin() + pos);
    }
    // A closed generation reduced to its tombstone is gone entirely.
    if (g.revs.size() == 1 && gi < closed_.size()) {
      keep->erase(g.revs[0]);
      ++gi;
    }
  }
  closed_.erase(closed_.begin(), closed_.begin() + static_cast<long>(std::min(gi, closed_.size())));
}

}  // namespace capstan
