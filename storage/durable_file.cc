#include "storage/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace capstan {
namespace {

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace

Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  const int rc = fsync(fd);
  close(fd);
  return rc == 0 ? Status::OK() : Errno("fsync " + dir);
}

Status WriteFileDurably(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + tmp);
  const bool written = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  const bool synced = written && fdatasync(fd) == 0;
  close(fd);
  if (!synced) return Errno("write " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDir(dir.empty() ? "." : dir);
}

}  // namespace capstan
