// The few POSIX file operations the WAL needs, returning Status rather than
// errno, plus UniqueFd, which closes its descriptor when it goes away.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

// In their own namespace: names this plain are likely elsewhere in raft/ too.
namespace capstan::raft::walio {

// Owns one file descriptor. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// IOError "<what> <path>: <strerror(err)>".
Status PosixError(std::string_view what, const std::string& path, int err);

// A file it creates gets mode 0600.
Status OpenFile(const std::string& path, int flags, UniqueFd* fd);
Status WriteAt(int fd, const std::string& path, std::string_view data, uint64_t offset);
// Reads the whole file into *out.
Status ReadFile(const std::string& path, std::string* out);
Status FileSize(int fd, const std::string& path, uint64_t* size);
Status SyncData(int fd, const std::string& path);
// fsync of a directory, so that entries created, renamed or removed in it are durable.
Status SyncDir(const std::string& dir);
// Allocates [from, to) of the file as zeros, growing it to at least `to`. With
// `zero_fill` the zeros are really written (see WalOptions::zero_fill for why).
// The caller syncs.
Status Preallocate(int fd, const std::string& path, uint64_t from, uint64_t to, bool zero_fill);
// Writes zeros over [from, to).
Status ZeroRange(int fd, const std::string& path, uint64_t from, uint64_t to);
Status ListDir(const std::string& dir, std::vector<std::string>* names);
Status RenameFile(const std::string& from, const std::string& to);
Status RemoveFile(const std::string& path);
// Creates `dir` (mode 0700) unless it exists.
Status CreateDir(const std::string& dir);
std::string ParentDir(const std::string& path);

}  // namespace capstan::raft::walio
