// WatchStream: one client stream of the watch hub (one gRPC Watch call),
// carrying any number of watchers and one bounded queue of outgoing messages.
//
// The API layer calls Create/Cancel/RequestProgress as requests arrive and
// drains the queue with Next(); the hub calls the on_ready callback (from its
// own thread, never with a hub lock held) when it queued something. The
// queue is bounded: when it is full, the hub stops feeding the stream's
// watchers live events and lets them catch up from storage once it drains,
// so a stream that does not read never holds more than the bound.
//
// Thread-safety: every method may be called from any thread. Close() (also
// run by the destructor) guarantees that on_ready is not running and will not
// run again; it must not be called from inside on_ready.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "watch/watch_message.h"
#include "watch/watcher.h"

namespace capstan::watch {

class WatchHub;

class WatchStream : public std::enable_shared_from_this<WatchStream> {
  struct PassKey {
    explicit PassKey() = default;
  };

 public:
  // Streams are made by WatchHub::OpenStream.
  WatchStream(PassKey, WatchHub* hub, std::function<void()> on_ready);
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Registers a watcher and queues its `created` message (or a created and
  // canceled one with cancel_reason, for a request etcd refuses).
  void Create(const WatchRequestOptions& req);
  // Cancels a watcher of this stream and queues the `canceled` message;
  // an unknown id is ignored, as etcd ignores it.
  void Cancel(int64_t watch_id);
  // Queues a progress notification (watch_id -1) once every watcher of the
  // stream is synced.
  void RequestProgress();

  // Takes the next message to send. False if the queue is empty.
  bool Next(WatchMessage* out);
  // Too much is queued: the caller should stop reading requests until Next()
  // has drained some (requests produce messages, so this bounds the queue).
  bool Backlogged() const;

  // Removes every watcher and drops what is queued.
  void Close();

 private:
  friend class WatchHub;

  // Runs on_ready unless closed.
  void Signal();

  WatchHub* const hub_;

  // Guarded by hub_->mu_.
  std::deque<WatchMessage> queue_;
  size_t queued_bytes_ = 0;
  std::map<int64_t, std::unique_ptr<Watcher>> watchers_;
  std::set<Watcher*> unsynced_;
  int64_t next_auto_id_ = 0;
  bool progress_requested_ = false;
  std::chrono::steady_clock::time_point next_progress_tick_;
  bool closed_ = false;
  bool signal_queued_ = false;  // in hub_->to_signal_

  std::mutex signal_mu_;  // held while on_ready runs
  std::function<void()> on_ready_;
};

}  // namespace capstan::watch
