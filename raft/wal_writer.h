// WalWriter: group commit for a Wal.
//
// An fdatasync costs 160-300 us on our disk, so syncing once per caller caps
// a node at a few thousand writes per second. WalWriter owns the Wal and one
// thread: callers Submit batches, and the thread takes everything that was
// submitted while its previous fdatasync ran, writes it with one
// Wal::Save(..., sync=true), and then calls every batch's callback with the
// result. One fdatasync thus covers every submitter that arrived meanwhile.
//
// Everything else that touches the Wal (snapshot markers, ReleaseBefore, ...)
// goes through Run, so it is ordered with the batches and never races with a
// Save.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "raft/wal.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

struct WalBatch {
  std::optional<raftpb::HardState> hard_state;
  std::vector<raftpb::Entry> entries;
};

class WalWriter {
 public:
  // Called on the writer thread, in submission order. Keep it short: the
  // next group waits for it. Calling Submit or Run from it is fine.
  using Callback = std::function<void(const Status&)>;
  using Task = std::function<Status(Wal&)>;

  explicit WalWriter(std::unique_ptr<Wal> wal);
  // Stop()s.
  ~WalWriter();

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Queues `batch`; `done` (may be empty) learns when it is durable or failed.
  // Batches are written in submission order, so entries across batches must
  // follow the Wal::Save rules as one sequence. If a group's Save fails, every
  // batch in the group gets that failure.
  void Submit(WalBatch batch, Callback done);
  // Runs `task` on the writer thread after everything queued before it.
  void Run(Task task, Callback done);
  // Run, and wait for the task's result. Not from a Callback (it would wait
  // for itself).
  Status RunAndWait(Task task);
  // Finishes everything queued, stops the thread and closes the Wal.
  // Afterwards Submit and Run call `done` at once with Unavailable. Not
  // concurrently with itself.
  void Stop();

 private:
  struct Item {
    WalBatch batch;
    Task task;  // empty for a batch
    Callback done;
  };

  void Loop();

  std::unique_ptr<Wal> wal_;  // used on the writer thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;  // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  std::thread thread_;
};

}  // namespace capstan::raft
