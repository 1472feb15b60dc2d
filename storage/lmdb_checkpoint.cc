#include "storage/lmdb_checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "storage/durable_file.h"

namespace capstan {
namespace {

// LMDB 0.9's data format: a page starts with a 16-byte header (page number
// at 0, flags at 10); a meta page's MDB_meta follows it. Offsets in the page:
constexpr size_t kPageNumberAt = 0;
constexpr size_t kPageFlagsAt = 10;
constexpr size_t kMagicAt = 16;
constexpr size_t kTxnIdAt = 144;
constexpr size_t kMetaEnd = 152;
constexpr uint32_t kLmdbMagic = 0xBEEFC0DE;
constexpr uint16_t kMetaPageFlag = 0x08;

constexpr char kFileMagic[8] = {'C', 'A', 'P', 'C', 'K', 'P', 'T', '1'};
constexpr uint32_t kMaxPageSize = 1 << 16;

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void Append(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// The transaction id of a meta page, or 0 if it is not a valid one (a slot
// torn by a crash, say).
uint64_t MetaTxnId(const std::string& page) {
  if (page.size() < kMetaEnd) return 0;
  if ((Load<uint16_t>(page.data() + kPageFlagsAt) & kMetaPageFlag) == 0) return 0;
  if (Load<uint32_t>(page.data() + kMagicAt) != kLmdbMagic) return 0;
  return Load<uint64_t>(page.data() + kTxnIdAt);
}

Status ReadSlot(int fd, uint32_t page_size, uint32_t slot, std::string* page) {
  page->assign(page_size, '\0');
  const ssize_t n = pread(fd, page->data(), page_size, static_cast<off_t>(slot) * page_size);
  if (n < 0) return Errno("read LMDB meta page");
  if (static_cast<size_t>(n) != page_size) page->clear();  // a file cut short: no meta
  return Status::OK();
}

struct Saved {
  uint64_t txnid = 0;
  uint32_t page_size = 0;
  uint32_t slot = 0;
  uint64_t inode = 0;
  std::string boot_id;
  std::string page;
};

Status ReadSaved(const std::string& path, Saved* out, bool* exists) {
  std::ifstream in(path, std::ios::binary);
  *exists = in.is_open();
  if (!*exists) return Status::OK();
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  const Status damaged = Status::Corruption(
      "store checkpoint " + path +
      " is damaged; if the machine did not crash, removing it lets the store open");
  constexpr size_t kFixed = sizeof kFileMagic + 8 + 4 + 4 + 8 + 4;
  if (data.size() < kFixed + 8 || std::memcmp(data.data(), kFileMagic, sizeof kFileMagic) != 0) {
    return damaged;
  }
  const size_t body = data.size() - 8;
  if (XXH3_64bits(data.data(), body) != Load<uint64_t>(data.data() + body)) return damaged;
  const char* p = data.data() + sizeof kFileMagic;
  out->txnid = Load<uint64_t>(p);
  out->page_size = Load<uint32_t>(p + 8);
  out->slot = Load<uint32_t>(p + 12);
  out->inode = Load<uint64_t>(p + 16);
  const uint32_t boot_len = Load<uint32_t>(p + 24);
  if (kFixed + boot_len + out->page_size != body || out->slot > 1 ||
      out->page_size > kMaxPageSize) {
    return damaged;
  }
  out->boot_id.assign(data.data() + kFixed, boot_len);
  out->page.assign(data.data() + kFixed + boot_len, out->page_size);
  if (MetaTxnId(out->page) != out->txnid) return damaged;
  return Status::OK();
}

std::string DataPath(const std::string& dir) { return dir + "/data.mdb"; }

}  // namespace

Status LmdbCheckpoint::Capture(int data_fd, uint32_t page_size, uint64_t txnid,
                               LmdbCheckpoint* out) {
  if (page_size < kMetaEnd || page_size > kMaxPageSize) {
    return Status::InvalidArgument("LMDB page size " + std::to_string(page_size));
  }
  for (uint32_t slot = 0; slot < 2; ++slot) {
    std::string page;
    Status s = ReadSlot(data_fd, page_size, slot, &page);
    if (!s.ok()) return s;
    if (MetaTxnId(page) == txnid) {
      out->txnid_ = txnid;
      out->page_size_ = page_size;
      out->slot_ = slot;
      out->page_ = std::move(page);
      return Status::OK();
    }
  }
  return Status::NotFound("meta page of LMDB transaction " + std::to_string(txnid));
}

Status LmdbCheckpoint::Save(const std::string& dir) const {
  struct stat st;
  if (stat(DataPath(dir).c_str(), &st) != 0) return Errno("stat " + DataPath(dir));
  const std::string boot_id = BootId();
  std::string data(kFileMagic, sizeof kFileMagic);
  Append<uint64_t>(&data, txnid_);
  Append<uint32_t>(&data, page_size_);
  Append<uint32_t>(&data, slot_);
  Append<uint64_t>(&data, static_cast<uint64_t>(st.st_ino));
  Append<uint32_t>(&data, static_cast<uint32_t>(boot_id.size()));
  data += boot_id;
  data += page_;
  Append<uint64_t>(&data, XXH3_64bits(data.data(), data.size()));
  return WriteFileDurably(dir + "/" + kFileName, data);
}

Status LmdbCheckpoint::NewestTxnId(const std::string& data_path, uint32_t page_size,
                                   uint64_t* txnid) {
  *txnid = 0;
  const int fd = open(data_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + data_path);
  Status s;
  for (uint32_t slot = 0; slot < 2 && s.ok(); ++slot) {
    std::string page;
    s = ReadSlot(fd, page_size, slot, &page);
    *txnid = std::max(*txnid, MetaTxnId(page));
  }
  close(fd);
  return s;
}

Status LmdbCheckpoint::RecordCleanStop(const std::string& dir, uint64_t txnid) {
  return WriteFileDurably(dir + "/" + kCleanStopFileName, std::to_string(txnid));
}

Status LmdbCheckpoint::Recover(const std::string& dir, uint64_t* rolled_back_to) {
  *rolled_back_to = 0;
  const std::string clean_path = dir + "/" + kCleanStopFileName;
  std::string clean_stop;
  {
    std::ifstream in(clean_path);
    std::getline(in, clean_stop);
  }
  Status s = RollBackUnlessClean(dir, clean_stop, rolled_back_to);
  if (!s.ok()) return s;
  // Commits follow: a crash from here on is not a clean stop.
  if (unlink(clean_path.c_str()) == 0) return SyncDir(dir);
  return errno == ENOENT ? Status::OK() : Errno("remove " + clean_path);
}

Status LmdbCheckpoint::RollBackUnlessClean(const std::string& dir, const std::string& clean_stop,
                                           uint64_t* rolled_back_to) {
  Saved saved;
  bool exists = false;
  Status s = ReadSaved(dir + "/" + kFileName, &saved, &exists);
  if (!s.ok() || !exists) return s;
  // Stopped cleanly at this checkpoint: nothing was committed after it.
  if (clean_stop == std::to_string(saved.txnid)) return Status::OK();
  const std::string data_path = DataPath(dir);
  struct stat st;
  // Another data file than the one checkpointed (replaced by hand): the
  // checkpoint says nothing about it.
  if (stat(data_path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != saved.inode) {
    return Status::OK();
  }
  uint64_t newest = 0;
  if (!(s = NewestTxnId(data_path, saved.page_size, &newest)).ok()) return s;
  // Nothing committed after the checkpoint (a clean stop), or an older file.
  if (newest <= saved.txnid) return Status::OK();

  // Both slots get the checkpoint's meta page, so LMDB cannot pick a newer
  // one whose pages may never have reached the disk.
  const int fd = open(data_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + data_path);
  for (uint64_t slot = 0; slot < 2 && s.ok(); ++slot) {
    std::string page = saved.page;
    std::memcpy(page.data() + kPageNumberAt, &slot, sizeof slot);
    if (pwrite(fd, page.data(), page.size(), static_cast<off_t>(slot) * saved.page_size) !=
        static_cast<ssize_t>(page.size())) {
      s = Errno("write LMDB meta page of " + data_path);
    }
  }
  if (s.ok() && fdatasync(fd) != 0) s = Errno("fsync " + data_path);
  close(fd);
  if (s.ok()) *rolled_back_to = saved.txnid;
  return s;
}

std::string LmdbCheckpoint::BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace capstan
