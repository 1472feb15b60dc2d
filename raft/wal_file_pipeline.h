// WalFilePipeline: prepares the WAL's next segment file on a background thread.
//
// A new segment is fallocated and, by default, zero-filled and synced, which
// takes about 130 ms for 64 MiB on our disk. Doing that when a segment fills
// up would stall every writer waiting on the WAL, so one spare file is kept
// ready in the WAL directory under a temporary name (*.tmp); rolling to a new
// segment then only writes its first records, syncs, and renames the spare.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "raft/wal_io.h"
#include "storage/status.h"

namespace capstan::raft {

class WalFilePipeline {
 public:
  // Starts preparing the first spare right away.
  WalFilePipeline(std::string dir, uint64_t size, bool zero_fill);
  // Removes a spare that nobody took.
  ~WalFilePipeline();

  WalFilePipeline(const WalFilePipeline&) = delete;
  WalFilePipeline& operator=(const WalFilePipeline&) = delete;

  // Waits for the spare and hands it over: *fd is open read-write, *path is
  // its temporary name in the directory, and the file holds at least `size`
  // bytes of synced zeros. Then starts preparing the next one.
  Status Take(walio::UniqueFd* fd, std::string* path);

 private:
  void Run();
  Status Prepare(uint64_t id, walio::UniqueFd* fd, std::string* path);

  const std::string dir_;
  const uint64_t size_;
  const bool zero_fill_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool ready_ = false;  // guarded by mu_: a spare (or the error preparing it) awaits Take
  Status status_;       // guarded by mu_
  walio::UniqueFd fd_;  // guarded by mu_
  std::string path_;    // guarded by mu_
  std::thread thread_;
};

}  // namespace capstan::raft
