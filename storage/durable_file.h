// Making files and directory entries survive a crash of the machine.
#pragma once

#include <string>
#include <string_view>

#include "storage/status.h"

namespace capstan {

// fsync of a directory: entries created, renamed or removed in it are durable.
Status SyncDir(const std::string& dir);

// Replaces `path` with `data` so that a crash at any point leaves the old
// file or the new one, never a mix: written beside it, synced, renamed over
// it, and the directory synced.
Status WriteFileDurably(const std::string& path, std::string_view data);

}  // namespace capstan
