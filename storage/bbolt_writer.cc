#include "storage/bbolt_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace capstan {
namespace {

using namespace bbolt;

// Pages are handed to the kernel in chunks of about this size.
constexpr size_t kWriteChunk = size_t{4} << 20;

// bbolt stores the current state in both meta pages, the newer (higher
// txid) on page 0, as Tx.WriteTo does for snapshots. The next writer (txid 3)
// then overwrites page 1, the older one.
constexpr uint64_t kTxid = 2;

constexpr size_t kMinKeysPerNode = 2;

Status Errno(std::string_view what) {
  return Status::IOError(std::string(what) + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const char* data, size_t n, off_t offset, bool positioned) {
  while (n > 0) {
    ssize_t w = positioned ? ::pwrite(fd, data, n, offset) : ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("bbolt write");
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
  return Status::OK();
}

size_t ElementSize(const std::string& key, const std::string& value) {
  return kLeafElementSize + key.size() + value.size();  // branch elements are as large
}

}  // namespace

Status BboltWriter::Create(const std::string& path, size_t page_size,
                           std::unique_ptr<BboltWriter>* out) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + path);
  return Create(fd, page_size, out);
}

Status BboltWriter::Create(int fd, size_t page_size, std::unique_ptr<BboltWriter>* out) {
  out->reset(new BboltWriter(fd, page_size));  // owns fd from here, whatever follows
  if (page_size < 1024 || (page_size & (page_size - 1)) != 0) {
    out->reset();
    return Status::InvalidArgument("bbolt page size must be a power of two >= 1024");
  }
  return Status::OK();
}

BboltWriter::BboltWriter(int fd, size_t page_size) : fd_(fd), page_size_(page_size) {
  stack_.emplace_back();  // the root bucket
  // The meta pages are written last, in place; reserve them.
  buffer_.assign(2 * page_size_, '\0');
}

BboltWriter::~BboltWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status BboltWriter::CheckOrder(OpenBucket& b, std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("bbolt: empty key");
  if (key.size() > kMaxKeySize) return Status::InvalidArgument("bbolt: key too large");
  if (!b.empty && key <= std::string_view(b.last_key)) {
    return Status::InvalidArgument("bbolt: keys must be added in ascending order");
  }
  b.last_key.assign(key);
  b.empty = false;
  return Status::OK();
}

Status BboltWriter::BeginBucket(std::string_view name) {
  if (!status_.ok()) return status_;
  if (finished_) return Status::FailedPrecondition("bbolt: writer finished");
  Status s = CheckOrder(stack_.back(), name);
  if (!s.ok()) return s;
  stack_.back().has_sub_bucket = true;
  OpenBucket& b = stack_.emplace_back();
  b.name.assign(name);
  return Status::OK();
}

Status BboltWriter::Put(std::string_view key, std::string_view value) {
  if (!status_.ok()) return status_;
  if (finished_) return Status::FailedPrecondition("bbolt: writer finished");
  if (stack_.size() < 2) return Status::InvalidArgument("bbolt: the top level holds buckets only");
  if (value.size() > kMaxValueSize) return Status::InvalidArgument("bbolt: value too large");
  Status s = CheckOrder(stack_.back(), key);
  if (!s.ok()) return s;
  Add(stack_.back(), 0, Element{std::string(key), std::string(value), 0, 0});
  return status_;
}

Status BboltWriter::EndBucket() {
  if (!status_.ok()) return status_;
  if (stack_.size() < 2) return Status::FailedPrecondition("bbolt: no open bucket");
  OpenBucket child = std::move(stack_.back());
  stack_.pop_back();
  std::string value = FinishTree(child, /*allow_inline=*/true);
  Add(stack_.back(), 0, Element{std::move(child.name), std::move(value), kBucketLeafFlag, 0});
  return status_;
}

void BboltWriter::Add(OpenBucket& b, size_t level, Element e) {
  if (b.levels.size() <= level) b.levels.resize(level + 1);
  const size_t size = ElementSize(e.key, e.value);
  // A node takes elements while they fit in a page, and at least two, as
  // bbolt's nodes (minKeysPerPage); bigger nodes span several (overflow)
  // pages. With two or more children per branch the tree always converges to
  // one root, however large the keys.
  if (b.levels[level].elements.size() >= kMinKeysPerNode &&
      b.levels[level].bytes + size > page_size_) {
    FlushLevel(b, level);
  }
  Level& l = b.levels[level];  // FlushLevel may have grown b.levels
  l.elements.push_back(std::move(e));
  l.bytes += size;
}

void BboltWriter::FlushLevel(OpenBucket& b, size_t level) {
  Level& l = b.levels[level];
  const uint64_t pgid = WriteNode(l.elements, level == 0);
  // A branch element is keyed by the first key of its child, as bbolt's.
  std::string first = std::move(l.elements.front().key);
  l.elements.clear();
  l.bytes = kPageHeaderSize;
  l.nodes_written++;
  Add(b, level + 1, Element{std::move(first), std::string(), 0, pgid});
}

std::string BboltWriter::FinishTree(OpenBucket& b, bool allow_inline) {
  if (b.levels.empty()) b.levels.resize(1);
  std::string value(kBucketHeaderSize, '\0');  // root pgid, sequence (0: unused by etcd)
  for (size_t level = 0;; ++level) {
    Level& l = b.levels[level];
    if (level + 1 == b.levels.size() && l.nodes_written == 0) {
      // The only node at the top level: the root.
      const bool leaf = level == 0;
      if (leaf && allow_inline && !b.has_sub_bucket && l.bytes <= page_size_ / 4) {
        SerializeNode(l.elements, true, 0, l.bytes, &value);  // root 0: inline
      } else {
        Put64(value.data(), WriteNode(l.elements, leaf));
      }
      return value;
    }
    if (!l.elements.empty()) FlushLevel(b, level);
  }
}

void BboltWriter::SerializeNode(const std::vector<Element>& elements, bool leaf, uint64_t id,
                                size_t padded_size, std::string* out) const {
  const size_t start = out->size();
  out->resize(start + padded_size, '\0');
  char* page = out->data() + start;
  Put64(page + kPageId, id);
  Put16(page + kPageFlags, leaf ? kLeafPageFlag : kBranchPageFlag);
  Put16(page + kPageCount, static_cast<uint16_t>(elements.size()));
  Put32(page + kPageOverflow,
        static_cast<uint32_t>(padded_size > page_size_ ? padded_size / page_size_ - 1 : 0));
  size_t data = kPageHeaderSize + elements.size() * kLeafElementSize;
  for (size_t i = 0; i < elements.size(); ++i) {
    const Element& e = elements[i];
    char* elem = page + kPageHeaderSize + i * kLeafElementSize;
    const auto pos = static_cast<uint32_t>(data - (kPageHeaderSize + i * kLeafElementSize));
    if (leaf) {
      Put32(elem, e.flags);
      Put32(elem + 4, pos);
      Put32(elem + 8, static_cast<uint32_t>(e.key.size()));
      Put32(elem + 12, static_cast<uint32_t>(e.value.size()));
    } else {
      Put32(elem, pos);
      Put32(elem + 4, static_cast<uint32_t>(e.key.size()));
      Put64(elem + 8, e.pgid);
    }
    std::memcpy(page + data, e.key.data(), e.key.size());
    data += e.key.size();
    if (leaf) {
      std::memcpy(page + data, e.value.data(), e.value.size());
      data += e.value.size();
    }
  }
}

uint64_t BboltWriter::WriteNode(const std::vector<Element>& elements, bool leaf) {
  size_t size = kPageHeaderSize;
  for (const Element& e : elements) size += ElementSize(e.key, e.value);
  const size_t pages = (size + page_size_ - 1) / page_size_;
  const uint64_t pgid = next_pgid_;
  next_pgid_ += pages;
  // Pages are allocated in order and written at once: the buffer always ends
  // at the high-water mark.
  SerializeNode(elements, leaf, pgid, pages * page_size_, &buffer_);
  if (buffer_.size() >= kWriteChunk) status_ = FlushBuffer();
  return pgid;
}

Status BboltWriter::FlushBuffer() {
  if (!status_.ok()) return status_;
  Status s = WriteAll(fd_, buffer_.data(), buffer_.size(), 0, false);
  buffer_.clear();
  return s;
}

Status BboltWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return Status::FailedPrecondition("bbolt: writer finished");
  if (stack_.size() != 1) return Status::FailedPrecondition("bbolt: a bucket is still open");
  finished_ = true;
  // The root bucket's root is always a page (meta.root cannot be inline).
  const std::string root = FinishTree(stack_.front(), /*allow_inline=*/false);

  // An empty freelist: every page below the high-water mark is in use.
  const uint64_t freelist = next_pgid_++;
  const size_t at = buffer_.size();
  buffer_.resize(at + page_size_, '\0');
  Put64(buffer_.data() + at + kPageId, freelist);
  Put16(buffer_.data() + at + kPageFlags, kFreelistPageFlag);
  status_ = FlushBuffer();
  if (!status_.ok()) return status_;

  std::string meta(2 * page_size_, '\0');
  for (uint64_t id = 0; id < 2; ++id) {
    char* page = meta.data() + id * page_size_;
    Put64(page + kPageId, id);
    Put16(page + kPageFlags, kMetaPageFlag);
    char* m = page + kPageHeaderSize;
    Put32(m + kMetaMagic, kMagic);
    Put32(m + kMetaVersion, kVersion);
    Put32(m + kMetaPageSize, static_cast<uint32_t>(page_size_));
    Put32(m + kMetaFlags, 0);
    std::memcpy(m + kMetaRoot, root.data(), kBucketHeaderSize);
    Put64(m + kMetaFreelist, freelist);
    Put64(m + kMetaPgid, next_pgid_);
    Put64(m + kMetaTxid, kTxid - id);
    Put64(m + kMetaChecksumOffset, Fnv64a(std::string_view(m, kMetaChecksumOffset)));
  }
  status_ = WriteAll(fd_, meta.data(), meta.size(), 0, true);
  if (status_.ok() && ::fdatasync(fd_) != 0) status_ = Errno("bbolt fdatasync");
  if (::close(fd_) != 0 && status_.ok()) status_ = Errno("bbolt close");
  fd_ = -1;
  return status_;
}

}  // namespace capstan
