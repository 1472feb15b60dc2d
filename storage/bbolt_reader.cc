#include "storage/bbolt_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "storage/bbolt_format.h"

namespace capstan {
namespace {

using namespace bbolt;

// Deeper trees than this are taken for a cycle in a damaged file (a bbolt
// tree of 4 KiB pages is rarely more than 5 levels deep).
constexpr int kMaxDepth = 64;
// Check() reports at most this many problems.
constexpr size_t kMaxCheckErrors = 20;

Status Corrupt(const std::string& what) { return Status::Corruption("bbolt: " + what); }

// Returns the meta fields at `page` if they are a valid meta (magic,
// version and checksum, as bbolt's meta.validate()).
const char* ValidMeta(const char* page) {
  const char* m = page + kPageHeaderSize;
  if (Get32(m + kMetaMagic) != kMagic || Get32(m + kMetaVersion) != kVersion) return nullptr;
  if (Get64(m + kMetaChecksumOffset) != Fnv64a(std::string_view(m, kMetaChecksumOffset))) {
    return nullptr;
  }
  return m;
}

}  // namespace

Status BboltReader::Open(const std::string& path, std::unique_ptr<BboltReader>* out) {
  std::unique_ptr<BboltReader> r(new BboltReader());
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(r->fd_, &st) != 0)
    return Status::IOError("stat " + path + ": " + std::strerror(errno));
  if (st.st_size < static_cast<off_t>(2 * 1024)) return Corrupt(path + " is too small");
  r->size_ = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, r->size_, PROT_READ, MAP_SHARED, r->fd_, 0);
  if (p == MAP_FAILED) {
    r->size_ = 0;
    return Status::IOError("mmap " + path + ": " + std::strerror(errno));
  }
  r->data_ = static_cast<const char*>(p);
  Status s = r->LoadMeta();
  if (!s.ok()) return Status::Corruption(s.message() + " (" + path + ")");
  *out = std::move(r);
  return Status::OK();
}

BboltReader::~BboltReader() {
  if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Status BboltReader::LoadMeta() {
  // Meta 0 gives the page size; if it is damaged, meta 1 is searched for at
  // every possible page size, as bbolt does.
  const char* m0 = ValidMeta(data_);
  const char* m1 = nullptr;
  if (m0 != nullptr) {
    const size_t ps = Get32(m0 + kMetaPageSize);
    if (ps >= 1024 && ps + kPageHeaderSize + kMetaSize <= size_) m1 = ValidMeta(data_ + ps);
  } else {
    for (size_t ps = 1024; ps + kPageHeaderSize + kMetaSize <= size_ && ps <= (size_t{1} << 24);
         ps <<= 1) {
      if ((m1 = ValidMeta(data_ + ps)) != nullptr) break;
    }
  }
  const char* m = m0;
  if (m == nullptr || (m1 != nullptr && Get64(m1 + kMetaTxid) > Get64(m0 + kMetaTxid))) m = m1;
  if (m == nullptr) return Corrupt("no valid meta page (not a bbolt file?)");
  page_size_ = Get32(m + kMetaPageSize);
  if (page_size_ < 1024 || (page_size_ & (page_size_ - 1)) != 0) {
    return Corrupt("bad page size " + std::to_string(page_size_));
  }
  root_ = Get64(m + kMetaRoot);
  freelist_ = Get64(m + kMetaFreelist);
  pgid_ = Get64(m + kMetaPgid);
  txid_ = Get64(m + kMetaTxid);
  if (pgid_ > size_ / page_size_) {
    return Corrupt("file ends before page " + std::to_string(pgid_) + " (truncated?)");
  }
  return Status::OK();
}

Status BboltReader::PageAt(uint64_t pgid, Page* page) const {
  const uint64_t pages = size_ / page_size_;
  if (pgid < 2 || pgid >= pages) return Corrupt("page " + std::to_string(pgid) + " out of range");
  const char* p = data_ + pgid * page_size_;
  page->data = p;
  page->id = Get64(p + kPageId);
  page->flags = Get16(p + kPageFlags);
  page->count = Get16(p + kPageCount);
  page->overflow = Get32(p + kPageOverflow);
  if (page->overflow >= pages - pgid) {
    return Corrupt("page " + std::to_string(pgid) + " overflows the file");
  }
  page->size = (uint64_t{page->overflow} + 1) * page_size_;
  return Status::OK();
}

Status BboltReader::ElementAt(const Page& page, size_t i, Element* e) const {
  const uint64_t at = kPageHeaderSize + uint64_t{i} * kLeafElementSize;
  if (i >= page.count || at + kLeafElementSize > page.size) {
    return Corrupt("element " + std::to_string(i) + " outside page " + std::to_string(page.id));
  }
  const char* el = page.data + at;
  uint64_t pos, ksize, vsize = 0;
  if (page.flags & kLeafPageFlag) {
    e->flags = Get32(el);
    pos = Get32(el + 4);
    ksize = Get32(el + 8);
    vsize = Get32(el + 12);
    e->pgid = 0;
  } else {
    e->flags = 0;
    pos = Get32(el);
    ksize = Get32(el + 4);
    e->pgid = Get64(el + 8);
  }
  if (at + pos + ksize + vsize > page.size) {
    return Corrupt("element " + std::to_string(i) + " of page " + std::to_string(page.id) +
                   " points outside it");
  }
  e->key = std::string_view(el + pos, ksize);
  e->value = std::string_view(el + pos + ksize, vsize);
  return Status::OK();
}

Status BboltReader::BucketPage(const BucketRef& b, Page* page) const {
  if (b.root != 0) return PageAt(b.root, page);
  const std::string_view p = b.inline_page;
  page->data = p.data();
  page->size = p.size();
  page->id = 0;
  page->flags = Get16(p.data() + kPageFlags);
  page->count = Get16(p.data() + kPageCount);
  page->overflow = 0;
  if ((page->flags & kLeafPageFlag) == 0) return Corrupt("inline bucket page is not a leaf");
  return Status::OK();
}

Status BboltReader::ParseBucket(std::string_view value, BucketRef* b) const {
  if (value.size() < kBucketHeaderSize) return Corrupt("short bucket header");
  b->root = Get64(value.data());
  b->inline_page = {};
  if (b->root == 0) {
    b->inline_page = value.substr(kBucketHeaderSize);
    if (b->inline_page.size() < kPageHeaderSize) return Corrupt("short inline bucket");
  }
  return Status::OK();
}

Status BboltReader::WalkPage(const Page& page, int depth, std::vector<bool>* seen,
                             const EntryFn& fn) const {
  if (depth > kMaxDepth) return Corrupt("tree too deep (a cycle?)");
  const bool leaf = (page.flags & kLeafPageFlag) != 0;
  if (!leaf && (page.flags & kBranchPageFlag) == 0) {
    return Corrupt("page " + std::to_string(page.id) + " is neither branch nor leaf");
  }
  Element e;
  for (size_t i = 0; i < page.count; ++i) {
    Status s = ElementAt(page, i, &e);
    if (!s.ok()) return s;
    if (leaf) {
      const bool bucket = (e.flags & kBucketLeafFlag) != 0;
      s = fn(e.key, bucket ? std::string_view() : e.value, bucket);
    } else {
      // A page reached twice means a damaged file (and could make the
      // walk exponential): each page of a tree has one parent.
      if (e.pgid < seen->size() && (*seen)[e.pgid]) {
        return Corrupt("page " + std::to_string(e.pgid) + " referenced twice");
      }
      Page child;
      s = PageAt(e.pgid, &child);
      if (s.ok()) {
        (*seen)[e.pgid] = true;
        s = WalkPage(child, depth + 1, seen, fn);
      }
    }
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status BboltReader::Walk(const BucketRef& b, const EntryFn& fn) const {
  Page page;
  Status s = BucketPage(b, &page);
  if (!s.ok()) return s;
  std::vector<bool> seen(size_ / page_size_, false);  // PageAt checks ids against this
  if (b.root != 0) seen[b.root] = true;
  return WalkPage(page, 0, &seen, fn);
}

Status BboltReader::Lookup(const BucketRef& b, std::string_view key, Element* e,
                           bool* found) const {
  *found = false;
  Page page;
  Status s = BucketPage(b, &page);
  for (int depth = 0; s.ok(); ++depth) {
    if (depth > kMaxDepth) return Corrupt("tree too deep (a cycle?)");
    if (page.flags & kLeafPageFlag) {
      for (size_t i = 0; i < page.count; ++i) {
        if (!(s = ElementAt(page, i, e)).ok()) return s;
        if (e->key == key) {
          *found = true;
          return Status::OK();
        }
      }
      return Status::OK();
    }
    if ((page.flags & kBranchPageFlag) == 0 || page.count == 0) {
      return Corrupt("bad page " + std::to_string(page.id));
    }
    // The child whose first key is the last one <= key.
    uint64_t child = 0;
    for (size_t i = 0; i < page.count; ++i) {
      if (!(s = ElementAt(page, i, e)).ok()) return s;
      if (i > 0 && e->key > key) break;
      child = e->pgid;
    }
    s = PageAt(child, &page);
  }
  return s;
}

Status BboltReader::FindBucket(const std::vector<std::string>& path, BucketRef* b) const {
  *b = BucketRef{root_, {}};
  for (const std::string& name : path) {
    Element e;
    bool found;
    Status s = Lookup(*b, name, &e, &found);
    if (!s.ok()) return s;
    if (!found || (e.flags & kBucketLeafFlag) == 0) return Status::NotFound("no bucket " + name);
    if (!(s = ParseBucket(e.value, b)).ok()) return s;
  }
  return Status::OK();
}

Status BboltReader::ForEach(const std::vector<std::string>& path, const EntryFn& fn) const {
  BucketRef b;
  Status s = FindBucket(path, &b);
  return s.ok() ? Walk(b, fn) : s;
}

bool BboltReader::HasBucket(const std::vector<std::string>& path) const {
  BucketRef b;
  return FindBucket(path, &b).ok();
}

Status BboltReader::Get(const std::vector<std::string>& path, std::string_view key,
                        std::string* value) const {
  BucketRef b;
  Status s = FindBucket(path, &b);
  if (!s.ok()) return s;
  Element e;
  bool found;
  if (!(s = Lookup(b, key, &e, &found)).ok()) return s;
  if (!found || (e.flags & kBucketLeafFlag) != 0) return Status::NotFound("no key");
  value->assign(e.value);
  return Status::OK();
}

// ------------------------------------------------------------------ Check

namespace {
constexpr uint8_t kReachable = 1, kFreed = 2;
}  // namespace

Status BboltReader::Check() const {
  std::vector<uint8_t> state(pgid_, 0);
  std::string errors;
  size_t n_errors = 0;
  auto report = [&](const std::string& e) {
    if (n_errors++ < kMaxCheckErrors) errors += (errors.empty() ? "" : "; ") + e;
  };
  if (pgid_ < 2) return Corrupt("high-water mark below the meta pages");
  state[0] = state[1] = kReachable;
  if (freelist_ != kNoFreelist) {
    Page fl;
    Status s = PageAt(freelist_, &fl);
    if (!s.ok()) return s;
    if ((fl.flags & kFreelistPageFlag) == 0) return Corrupt("freelist page has the wrong type");
    for (uint64_t i = 0; i <= fl.overflow && freelist_ + i < pgid_; ++i) {
      state[freelist_ + i] = kReachable;
    }
    uint64_t count = fl.count, first = 0;
    if (count == 0xFFFF) {  // the real count is the first id slot
      count = Get64(fl.data + kPageHeaderSize);
      first = 1;
    }
    if (kPageHeaderSize + (first + count) * 8 > fl.size)
      return Corrupt("freelist overflows its page");
    for (uint64_t i = first; i < first + count; ++i) {
      const uint64_t id = Get64(fl.data + kPageHeaderSize + i * 8);
      if (id >= pgid_) {
        report("free page " + std::to_string(id) + " above the high-water mark");
      } else if (state[id] == kFreed) {
        report("page " + std::to_string(id) + ": already freed");
      } else {
        state[id] = kFreed;
      }
    }
  }
  Status s = CheckBucket(BucketRef{root_, {}}, &state);
  if (!s.ok()) report(s.message());
  // Without a stored freelist (etcd's NoFreelistSync) bbolt takes every
  // unreachable page for a free one.
  for (uint64_t i = 0; i < pgid_ && freelist_ != kNoFreelist; ++i) {
    if (state[i] == 0) report("page " + std::to_string(i) + ": unreachable unfreed");
  }
  if (n_errors > kMaxCheckErrors) errors += "; ...";
  return n_errors == 0 ? Status::OK() : Corrupt(std::to_string(n_errors) + " errors: " + errors);
}

Status BboltReader::CheckBucket(const BucketRef& b, std::vector<uint8_t>* state) const {
  Page page;
  Status s = BucketPage(b, &page);
  if (!s.ok()) return s;
  if (b.root != 0 && page.id != b.root) {
    return Corrupt("page " + std::to_string(b.root) + " identifies as " + std::to_string(page.id));
  }
  return CheckOrder(page, b.root, {}, {}, 0, state);
}

// Marks the pages of the subtree at `page` (page `pgid`; 0: inline) reachable and checks that its
// keys are ordered and within [min, max) (empty: unbounded), recursing into sub-buckets.
Status BboltReader::CheckOrder(const Page& page, uint64_t pgid, std::string_view min,
                               std::string_view max, int depth, std::vector<uint8_t>* state) const {
  if (depth > kMaxDepth) return Corrupt("tree too deep (a cycle?)");
  if (pgid != 0) {  // not inline
    for (uint64_t i = 0; i <= page.overflow; ++i) {
      const uint64_t id = pgid + i;
      if (id >= pgid_) return Corrupt("page " + std::to_string(id) + ": out of bounds");
      if ((*state)[id] == kReachable)
        return Corrupt("page " + std::to_string(id) + ": multiple references");
      if ((*state)[id] == kFreed)
        return Corrupt("page " + std::to_string(id) + ": reachable freed");
      (*state)[id] = kReachable;
    }
  }
  const bool leaf = (page.flags & kLeafPageFlag) != 0;
  if (!leaf && (page.flags & kBranchPageFlag) == 0) {
    return Corrupt("page " + std::to_string(page.id) + ": invalid type");
  }
  Element e, next;
  std::string_view prev;
  for (size_t i = 0; i < page.count; ++i) {
    Status s = ElementAt(page, i, &e);
    if (!s.ok()) return s;
    const std::string where = "key " + std::to_string(i) + " of page " + std::to_string(page.id);
    if (i == 0 && !min.empty() && e.key < min) return Corrupt(where + " is below its parent's");
    if (i > 0 && e.key <= prev) return Corrupt(where + " is not above the previous key");
    if (!max.empty() && e.key >= max) return Corrupt(where + " is not below the next parent key");
    prev = e.key;
    if (leaf) {
      if (e.flags & kBucketLeafFlag) {
        BucketRef child;
        if (!(s = ParseBucket(e.value, &child)).ok()) return s;
        if (!(s = CheckBucket(child, state)).ok()) return s;
      }
      continue;
    }
    std::string_view child_max = max;
    if (i + 1 < page.count) {
      if (!(s = ElementAt(page, i + 1, &next)).ok()) return s;
      child_max = next.key;
    }
    Page child;
    if (!(s = PageAt(e.pgid, &child)).ok()) return s;
    if (child.id != e.pgid) {
      return Corrupt("page " + std::to_string(e.pgid) + " identifies as " +
                     std::to_string(child.id));
    }
    if (!(s = CheckOrder(child, e.pgid, e.key, child_max, depth + 1, state)).ok()) return s;
  }
  return Status::OK();
}

}  // namespace capstan
