#include "raft/wal_file_pipeline.h"

#include <pthread.h>

#include <fcntl.h>

#include <algorithm>

namespace capstan::raft {

using namespace walio;  // the WAL's own helpers (wal_io.h)

WalFilePipeline::WalFilePipeline(std::string dir, uint64_t size, bool zero_fill)
    : dir_(std::move(dir)), size_(size), zero_fill_(zero_fill) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "cap-wal-files");
    Run();
  });
}

WalFilePipeline::~WalFilePipeline() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (ready_ && status_.ok()) {
    fd_.Reset();
    RemoveFile(path_);  // best effort: the WAL removes leftover *.tmp files when opened
  }
}

Status WalFilePipeline::Take(UniqueFd* fd, std::string* path) {
  std::unique_lock l(mu_);
  cv_.wait(l, [&] { return ready_; });
  Status s = status_;
  *fd = std::move(fd_);
  *path = std::move(path_);
  ready_ = false;
  l.unlock();
  cv_.notify_all();
  return s;
}

void WalFilePipeline::Run() {
  for (uint64_t id = 0;; id++) {
    UniqueFd fd;
    std::string path;
    Status s = Prepare(id, &fd, &path);
    std::unique_lock l(mu_);
    if (stop_) {
      if (fd.valid()) {
        fd.Reset();
        RemoveFile(path);
      }
      return;
    }
    status_ = s;
    fd_ = std::move(fd);
    path_ = std::move(path);
    ready_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return stop_ || !ready_; });
    if (stop_) return;
  }
}

Status WalFilePipeline::Prepare(uint64_t id, UniqueFd* fd, std::string* path) {
  *path = dir_ + "/" + std::to_string(id) + ".tmp";
  Status s = OpenFile(*path, O_RDWR | O_CREAT | O_TRUNC, fd);
  if (s.ok()) s = Preallocate(fd->get(), *path, 0, size_, /*zero_fill=*/false);
  // Zero in slices, each synced, so that the disk never has tens of MiB
  // queued ahead of the log's own fdatasync calls.
  static constexpr uint64_t kSlice = 4 << 20;
  for (uint64_t off = 0; s.ok() && zero_fill_ && off < size_; off += kSlice) {
    s = ZeroRange(fd->get(), *path, off, std::min(size_, off + kSlice));
    if (s.ok()) s = SyncData(fd->get(), *path);
  }
  if (s.ok()) s = SyncData(fd->get(), *path);
  if (!s.ok() && fd->valid()) {
    fd->Reset();
    RemoveFile(*path);
  }
  return s;
}

}  // namespace capstan::raft
