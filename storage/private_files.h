// Keeping a member's files private: the WAL and the store hold every value,
// Secrets and ServiceAccount tokens included, so nobody but the server's
// user may read them. As etcd: directories 0700, files 0600.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "storage/status.h"

namespace capstan {

inline constexpr mode_t kPrivateDirMode = 0700;
inline constexpr mode_t kPrivateFileMode = 0600;

// Creates `dir` and every missing parent with mode 0700 (whatever the umask),
// like `mkdir -p -m 0700`. Existing directories are left as they are: see
// TightenPermissions.
Status CreatePrivateDirs(const std::string& dir);

// Walks `root` (without following symbolic links) and gives every directory
// that group or others may access mode 0700 and every such regular file mode
// 0600, `root` included. *fixed (optional) gets each path changed, with its
// old mode, e.g. "/var/lib/capstan (was 0755)". Fails, naming the path, if
// one cannot be changed (another owner, a read-only filesystem).
Status TightenPermissions(const std::string& root, std::vector<std::string>* fixed);

}  // namespace capstan
