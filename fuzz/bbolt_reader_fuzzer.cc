// BboltReader (storage/bbolt_reader.h) on a file made of the input: open it,
// run bbolt's structural check, walk every bucket (depth-limited) and look up
// each key found.
//
// Properties: no crash, leak or undefined behaviour (the reader promises
// Corruption, never a crash, for a damaged file); in a file that passes
// Check, a key the walk found is found again by Get, and a sub-bucket the
// walk found exists.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "storage/bbolt_reader.h"
#include "storage/temp_dir.h"

using capstan::BboltReader;
using capstan::Status;

namespace {

// Walks the bucket at `path` and its sub-buckets, at most `budget` entries in all.
void Walk(const BboltReader& r, bool checked, std::vector<std::string>* path, int* budget) {
  if (path->size() > 8) return;
  std::vector<std::string> buckets;
  std::vector<std::pair<std::string, std::string>> keys;
  (void)r.ForEach(*path, [&](std::string_view k, std::string_view v, bool is_bucket) {
    if (--*budget < 0) return Status::Aborted("enough");
    if (is_bucket) {
      buckets.emplace_back(k);
    } else if (keys.size() < 16) {
      keys.emplace_back(k, v);
    }
    return Status::OK();
  });
  for (const auto& [k, v] : keys) {
    std::string got;
    Status s = r.Get(*path, k, &got);
    if (checked && (!s.ok() || got != v)) {
      capstan::fuzz::Fail("Get does not find the value the walk found");
    }
  }
  for (const std::string& b : buckets) {
    path->push_back(b);
    if (checked && !r.HasBucket(*path)) capstan::fuzz::Fail("a bucket the walk found is missing");
    Walk(r, checked, path, budget);
    path->pop_back();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::TempDir tmp("bbolt-fuzz-");
  const std::string file = tmp.Sub("db");
  capstan::fuzz::WriteFileOrDie(file, std::string_view(reinterpret_cast<const char*>(data), size));
  std::unique_ptr<BboltReader> reader;
  if (!BboltReader::Open(file, &reader).ok()) return 0;
  const bool checked = reader->Check().ok();
  std::vector<std::string> path;
  int budget = 4096;
  Walk(*reader, checked, &path, &budget);
  return 0;
}
