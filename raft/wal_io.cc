#include "raft/wal_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace capstan::raft::walio {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) Reset(o.Release());
  return *this;
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset(int fd) {
  // close() errors are not actionable here: durability comes from the
  // explicit syncs, never from close.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status PosixError(std::string_view what, const std::string& path, int err) {
  std::string m(what);
  m += " ";
  m += path;
  m += ": ";
  m += std::strerror(err);
  return Status::IOError(m);
}

Status OpenFile(const std::string& path, int flags, UniqueFd* fd) {
  int f;
  do {
    // Private, as etcd's: the log holds every value written (Secrets too).
    f = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  } while (f < 0 && errno == EINTR);
  if (f < 0) return PosixError("open", path, errno);
  fd->Reset(f);
  return Status::OK();
}

Status WriteAt(int fd, const std::string& path, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status FileSize(int fd, const std::string& path, uint64_t* size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return PosixError("stat", path, errno);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

Status ReadFile(const std::string& path, std::string* out) {
  UniqueFd fd;
  Status s = OpenFile(path, O_RDONLY, &fd);
  if (!s.ok()) return s;
  uint64_t size;
  s = FileSize(fd.get(), path, &size);
  if (!s.ok()) return s;
  out->resize(size);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd.get(), out->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read", path, errno);
    }
    if (n == 0) break;  // shrank under us; what was read is all there is
    done += static_cast<uint64_t>(n);
  }
  out->resize(done);
  return Status::OK();
}

Status SyncData(int fd, const std::string& path) {
  // No retry on failure: after a failed fdatasync the kernel may have dropped
  // the dirty pages, so a second call could succeed without the data on disk.
  if (::fdatasync(fd) != 0) return PosixError("fdatasync", path, errno);
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  UniqueFd fd;
  Status s = OpenFile(dir, O_RDONLY | O_DIRECTORY, &fd);
  if (!s.ok()) return s;
  if (::fsync(fd.get()) != 0) return PosixError("fsync", dir, errno);
  return Status::OK();
}

Status ZeroRange(int fd, const std::string& path, uint64_t from, uint64_t to) {
  static constexpr size_t kChunk = 1 << 20;
  std::string zeros(std::min<uint64_t>(kChunk, to > from ? to - from : 0), '\0');
  while (from < to) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), to - from));
    Status s = WriteAt(fd, path, std::string_view(zeros.data(), n), from);
    if (!s.ok()) return s;
    from += n;
  }
  return Status::OK();
}

Status Preallocate(int fd, const std::string& path, uint64_t from, uint64_t to, bool zero_fill) {
  if (to <= from) return Status::OK();
  int r;
  do {
    r = ::fallocate(fd, 0, static_cast<off_t>(from), static_cast<off_t>(to - from));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    if (errno != EOPNOTSUPP) return PosixError("fallocate", path, errno);
    // The filesystem cannot reserve space: writing the zeros allocates it.
    zero_fill = true;
  }
  if (!zero_fill) return Status::OK();
  return ZeroRange(fd, path, from, to);
}

Status ListDir(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PosixError("opendir", dir, errno);
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != "..") names->emplace_back(name);
  }
  ::closedir(d);
  std::sort(names->begin(), names->end());
  return Status::OK();
}

Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("rename", from, errno);
  return Status::OK();
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
  return Status::OK();
}

Status CreateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // 0700 exactly, whatever the umask took away.
    if (::chmod(dir.c_str(), 0700) != 0) return PosixError("chmod", dir, errno);
  } else if (errno != EEXIST) {
    return PosixError("mkdir", dir, errno);
  }
  return Status::OK();
}

std::string ParentDir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

}  // namespace capstan::raft::walio
