// BboltReader: reads a bbolt (go.etcd.io/bbolt) database file: an etcd
// snapshot or the member/snap/db of an etcd data dir. The file is mapped
// read-only; the valid meta page (checksum, magic, version) with the higher
// txid is used, as bbolt does. Anything after the last whole page (etcd's
// sha256 trailer) is ignored here. Every page and element access is bounds
// checked, so a damaged file gives Corruption, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace capstan {

class BboltReader {
 public:
  // Visits one entry of a bucket; a non-OK status stops the walk and is returned.
  using EntryFn =
      std::function<Status(std::string_view key, std::string_view value, bool is_bucket)>;

  static Status Open(const std::string& path, std::unique_ptr<BboltReader>* out);
  ~BboltReader();
  BboltReader(const BboltReader&) = delete;
  BboltReader& operator=(const BboltReader&) = delete;

  size_t page_size() const { return page_size_; }
  uint64_t txid() const { return txid_; }
  // The high-water mark: pages in use are below it.
  uint64_t page_count() const { return pgid_; }

  // Visits the entries of the bucket at `path` (names from the top; empty =
  // the top level) in key order. For a sub-bucket `value` is empty.
  // NotFound if there is no such bucket.
  Status ForEach(const std::vector<std::string>& path, const EntryFn& fn) const;
  bool HasBucket(const std::vector<std::string>& path) const;
  // NotFound if the bucket or key is absent (or the key names a bucket).
  Status Get(const std::vector<std::string>& path, std::string_view key, std::string* value) const;

  // bbolt's Tx.Check: every page below the high-water mark is referenced
  // exactly once or free, page types are right, and keys are in order
  // within pages and between a branch and its children.
  Status Check() const;

 private:
  // A bucket: its root page, or its inline leaf page.
  struct BucketRef {
    uint64_t root = 0;
    std::string_view inline_page;
  };
  // A page (with its overflow pages), or an inline page.
  struct Page {
    const char* data = nullptr;
    size_t size = 0;  // bytes addressable for elements
    uint64_t id = 0;
    uint16_t flags = 0;
    uint16_t count = 0;
    uint32_t overflow = 0;
  };
  struct Element {
    uint32_t flags = 0;
    std::string_view key;
    std::string_view value;  // leaf
    uint64_t pgid = 0;       // branch
  };

  BboltReader() = default;
  Status LoadMeta();
  Status PageAt(uint64_t pgid, Page* page) const;
  Status ElementAt(const Page& page, size_t i, Element* e) const;
  Status BucketPage(const BucketRef& b, Page* page) const;
  Status ParseBucket(std::string_view value, BucketRef* b) const;
  Status Walk(const BucketRef& b, const EntryFn& fn) const;
  Status WalkPage(const Page& page, int depth, std::vector<bool>* seen, const EntryFn& fn) const;
  Status FindBucket(const std::vector<std::string>& path, BucketRef* b) const;
  Status Lookup(const BucketRef& b, std::string_view key, Element* e, bool* found) const;
  Status CheckBucket(const BucketRef& b, std::vector<uint8_t>* state) const;
  Status CheckOrder(const Page& page, uint64_t pgid, std::string_view min, std::string_view max,
                    int depth, std::vector<uint8_t>* state) const;

  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t page_size_ = 0;
  uint64_t root_ = 0;
  uint64_t freelist_ = 0;
  uint64_t pgid_ = 0;
  uint64_t txid_ = 0;
};

}  // namespace capstan
