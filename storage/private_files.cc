#include "storage/private_files.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace capstan {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status Tighten(const std::string& path, std::vector<std::string>* fixed, int depth) {
  struct stat st;
  // The root may be a link to where the data really is; nothing under it is followed.
  if ((depth == 0 ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
    return Errno("stat", path);
  }
  const bool dir = S_ISDIR(st.st_mode);
  if (!dir && !S_ISREG(st.st_mode)) return Status::OK();  // links, sockets: not ours to change
  if ((st.st_mode & 077) != 0) {
    if (::chmod(path.c_str(), dir ? kPrivateDirMode : kPrivateFileMode) != 0) {
      return Status::IOError("cannot make " + path + " private (mode " + OctalMode(st.st_mode) +
                             ", want " + OctalMode(dir ? kPrivateDirMode : kPrivateFileMode) +
                             "): " + std::strerror(errno));
    }
    if (fixed != nullptr) fixed->push_back(path + " (was " + OctalMode(st.st_mode) + ")");
  }
  if (!dir) return Status::OK();
  if (depth > 64) return Status::IOError("directories nested too deep under " + path);
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Errno("opendir", path);
  std::vector<std::string> children;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") children.push_back(path + "/" + name);
  }
  ::closedir(d);
  for (const std::string& c : children) {
    Status s = Tighten(c, fixed, depth + 1);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace

Status CreatePrivateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("empty directory name");
  // Every prefix ending before a '/', then the whole path.
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string prefix = pos == std::string::npos ? dir : dir.substr(0, pos);
    if (!prefix.empty() && prefix.back() != '/') {
      if (::mkdir(prefix.c_str(), kPrivateDirMode) == 0) {
        // The umask may have taken bits away; 0700 exactly.
        if (::chmod(prefix.c_str(), kPrivateDirMode) != 0) return Errno("chmod", prefix);
      } else if (errno != EEXIST) {
        return Errno("mkdir", prefix);
      }
    }
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Errno("stat", dir);
  if (!S_ISDIR(st.st_mode)) return Status::IOError(dir + " is not a directory");
  return Status::OK();
}

Status TightenPermissions(const std::string& root, std::vector<std::string>* fixed) {
  return Tighten(root, fixed, 0);
}

}  // namespace capstan
