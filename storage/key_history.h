// KeyHistory: every revision of one key that the store still remembers.
//
// A key lives through generations: a generation starts with the put that
// creates the key and ends with the tombstone that deletes it. The last
// generation is the current one; it is empty while the key does not exist.
// Versions count puts within a generation, so a recreated key restarts at 1.
//
// The current generation is held inline and the closed ones apart: every put
// touches the current one, and most keys never get a second generation, so a
// put or a read of the latest version does not chase a pointer to a vector of
// generations first.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "storage/revision.h"

namespace capstan {

struct Generation {
  int64_t version = 0;         // puts (and the closing tombstone) in this generation
  Revision created;            // first revision of the generation
  std::vector<Revision> revs;  // every change, oldest first; a closed one ends in its tombstone

  bool empty() const { return revs.empty(); }
};

// What a key looked like at some revision.
struct KeyVersion {
  Revision modified;
  Revision created;
  int64_t version = 0;
};

class KeyHistory {
 public:
  void Put(Revision rev);
  // Put while rebuilding from disk, where compaction may have removed the
  // generation's earlier revisions: `created` and `version` come from the record.
  void Restore(Revision rev, Revision created, int64_t version);
  // Ends the current generation. Returns false if the key does not exist.
  bool Tombstone(Revision rev);

  // The version visible at main revision `at` (false if the key did not exist then).
  bool Get(int64_t at, KeyVersion* out) const;

  // Revisions with main >= `since`, oldest first (tombstones included).
  void Since(int64_t since, std::vector<Revision>* out) const;

  // Drops what nobody can read at or after main revision `at`, adding to
  // `keep` the revisions that must survive physically (the newest one at or
  // before `at`, unless it is a tombstone).
  void Compact(int64_t at, std::set<Revision>* keep);

  // Adds to `keep` what Compact(at) would keep, without changing anything.
  void Keep(int64_t at, std::set<Revision>* keep) const;

  // True when nothing is remembered (after compacting away a deleted key).
  bool empty() const { return closed_.empty() && current_.empty(); }
  bool live() const { return !current_.empty(); }
  const Revision& modified() const { return modified_; }
  // Generations remembered, the current one (even if empty) included.
  size_t generation_count() const { return closed_.size() + 1; }

 private:
  // Generation i, oldest first; the last (i == closed_.size()) is the current one.
  const Generation& generation(size_t i) const {
    return i < closed_.size() ? closed_[i] : current_;
  }
  const Generation* FindGeneration(int64_t at) const;
  // Index of the generation that holds `at` (or was created after it), and the
  // position in it of the newest revision <= at (-1 if none).
  void CompactPoint(int64_t at, size_t* gen, int* pos) const;

  Revision modified_;
  Generation current_;
  std::vector<Generation> closed_;  // each ends in its tombstone, oldest first
};

}  // namespace capstan
