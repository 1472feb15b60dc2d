// BboltWriter: writes a new bbolt (go.etcd.io/bbolt 1.3.x) database file in
// one pass, for tools that read etcd's backend (etcdctl snapshot status and
// restore, etcd itself). See storage/bbolt_format.h for the format.
//
// Buckets and keys are added depth first, each bucket's keys (sub-bucket
// names included) in strictly ascending byte order:
//
//   BeginBucket("key");  Put(k1, v1);  Put(k2, v2);  EndBucket();
//   BeginBucket("meta"); ...;                        EndBucket();
//   Finish();
//
// The top level holds buckets only, as in bbolt. Pages are written as soon as
// they are full, so memory stays at one node per tree level per open bucket
// whatever the amount of data. A bucket that ends up small (at most a quarter
// page, no sub-buckets) is stored inline in its parent, as bbolt stores it.
// The file has no free pages and passes bbolt's Tx.Check.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/bbolt_format.h"
#include "storage/status.h"

namespace capstan {

class BboltWriter {
 public:
  // bbolt's own limits.
  static constexpr size_t kMaxKeySize = 32768;
  static constexpr size_t kMaxValueSize = (size_t{1} << 31) - 2;

  // Creates (or truncates) `path`.
  static Status Create(const std::string& path, size_t page_size,
                       std::unique_ptr<BboltWriter>* out);
  // Writes to `fd` (an empty file, written from its current offset), which
  // the writer owns and closes.
  static Status Create(int fd, size_t page_size, std::unique_ptr<BboltWriter>* out);
  ~BboltWriter();
  BboltWriter(const BboltWriter&) = delete;
  BboltWriter& operator=(const BboltWriter&) = delete;

  Status BeginBucket(std::string_view name);
  Status Put(std::string_view key, std::string_view value);
  Status EndBucket();

  // Writes the freelist and meta pages, syncs and closes the file.
  Status Finish();

  // The file's size once finished: high-water mark × page size.
  uint64_t file_size() const { return next_pgid_ * page_size_; }

 private:
  struct Element {
    std::string key;
    std::string value;  // leaf only
    uint32_t flags = 0;
    uint64_t pgid = 0;  // branch only
  };
  // The node being filled at one level of a bucket's tree (0 = leaves).
  struct Level {
    std::vector<Element> elements;
    size_t bytes = bbolt::kPageHeaderSize;  // serialized size of `elements`
    uint64_t nodes_written = 0;
  };
  struct OpenBucket {
    std::string name;
    std::vector<Level> levels;
    std::string last_key;
    bool empty = true;
    bool has_sub_bucket = false;
  };

  BboltWriter(int fd, size_t page_size);

  Status CheckOrder(OpenBucket& b, std::string_view key);
  void Add(OpenBucket& b, size_t level, Element e);
  // Writes the node of `level` and adds its first key to the level above.
  void FlushLevel(OpenBucket& b, size_t level);
  // Writes what remains of `b`'s tree; returns its value in the parent.
  std::string FinishTree(OpenBucket& b, bool allow_inline);
  // Serializes a node (page header with `id`, elements, then keys and values).
  void SerializeNode(const std::vector<Element>& elements, bool leaf, uint64_t id,
                     size_t padded_size, std::string* out) const;
  uint64_t WriteNode(const std::vector<Element>& elements, bool leaf);
  void Append(std::string_view bytes);
  Status FlushBuffer();

  int fd_;
  const size_t page_size_;
  uint64_t next_pgid_ = 2;         // pages 0 and 1 are the meta pages, written last
  std::vector<OpenBucket> stack_;  // [0] is the root bucket (top level)
  std::string buffer_;             // pages not yet written to the file
  Status status_;                  // the first error; sticky
  bool finished_ = false;
};

}  // namespace capstan
