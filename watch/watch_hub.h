// WatchHub: etcd's watch engine, fed by the apply loop, knowing nothing of
// gRPC.
//
// The apply loop hands every committed batch to Notify(), which encodes its
// events once and queues them for the hub thread; it never waits for a
// watcher. The hub thread matches each event against the synced watchers
// (IntervalIndex), groups what each watcher gets from one batch into one
// message (so all events of a revision travel together) and appends it to the
// watcher's stream queue. A watcher whose stream queue is full, or which
// starts in the past, is unsynced: the hub thread replays its history from
// the store (MvccStore::ReadEvents, a bounded number of events per round, for
// many watchers at once) and moves it to the synced group once it has caught
// up with the revision the apply loop announced, without loss or duplicate.
// If the hub thread itself falls behind (more than max_pending_bytes of
// events queued), the queued events are dropped and every synced watcher
// falls back to storage: memory stays bounded whatever the load.
// A watcher whose history is compacted before it caught up is canceled with
// compact_revision, as etcd does.
//
// Lock order: mu_ (watchers, streams) before in_mu_ (the apply loop's queue).
// The apply loop only takes in_mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/mvcc_store.h"
#include "watch/encoded_event.h"
#include "watch/interval_index.h"
#include "watch/watch_stream.h"

namespace capstan::watch {

// etcd's reasons, word for word (clients match on them).
inline constexpr const char* kErrDuplicateWatchId =
    "mvcc: duplicate watch ID provided on the WatchStream";
inline constexpr const char* kErrEmptyWatcherRange = "mvcc: watcher range is empty";
inline constexpr const char* kErrCompactedReason =
    "etcdserver: mvcc: required revision has been compacted";
inline constexpr int64_t kInvalidWatchId = -1;

struct WatchHubOptions {
  // Periodic progress notifications (etcd's default; its
  // --experimental-watch-progress-notify-interval).
  std::chrono::milliseconds progress_notify_interval{std::chrono::minutes(10)};
  // Responses of watchers that asked for fragments are split above this
  // (etcd uses --max-request-bytes).
  size_t max_response_bytes = 1572864;
  // Per-stream queue bound: beyond either, live events are not queued and
  // the stream's watchers catch up from storage later. A single message
  // larger than the bound is still queued when the queue is empty.
  size_t stream_max_bytes = size_t{4} << 20;
  size_t stream_max_messages = 128;
  // Catch-up round: events read from storage, and watchers served.
  size_t catchup_max_events = 1000;
  size_t catchup_max_watchers = 512;
  // Encoded events waiting for the hub thread before it falls back to storage.
  size_t max_pending_bytes = size_t{64} << 20;
};

class WatchHub {
 public:
  struct Stats {
    size_t streams = 0;
    size_t synced = 0;
    size_t unsynced = 0;
    int64_t dispatched_revision = 0;
    uint64_t overflows = 0;       // times the hub thread fell behind and resynced
    uint64_t catchup_rounds = 0;  // storage reads
    size_t queued_messages = 0;   // waiting in stream queues for the API layer
  };

  WatchHub(MvccStore* store, WatchHubOptions options);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Starts the hub thread at the store's current revision.
  void Start();
  // Stops the hub thread. Streams may still be closed afterwards.
  void Stop();

  // Apply loop: `events` were committed (in revision order) and the store is
  // now at `revision`. Cheap and never blocks on watchers.
  void Notify(const std::vector<mvccpb::Event>& events, int64_t revision);
  // Apply loop: the store was replaced (a Raft snapshot) and is now at
  // `revision`; every watcher catches up on what it missed from storage.
  void Resync(int64_t revision);

  // A new client stream; `on_ready` runs (on the hub thread) when the hub
  // queued messages for it.
  std::shared_ptr<WatchStream> OpenStream(std::function<void()> on_ready);

  // The last revision announced by the apply loop.
  int64_t revision() const;
  Stats GetStats() const;

 private:
  friend class WatchStream;
  struct CatchUpEntry;

  void Run();
  // Everything below with a "Locked" suffix runs with mu_ held.
  void CreateLocked(WatchStream* s, const WatchRequestOptions& req);
  void CancelLocked(WatchStream* s, int64_t watch_id);
  void RemoveWatcherLocked(Watcher* w);
  void CloseLocked(WatchStream* s);
  bool NextLocked(WatchStream* s, WatchMessage* out);

  void DispatchLocked(const EventBatch& batch);
  void DispatchOneLocked(const EventBatch& batch);   // a batch of one event
  void DispatchManyLocked(const EventBatch& batch);  // several events
  // What `w` gets of `e`: its bytes, or with prev_kv (*with_prev caches it).
  std::shared_ptr<const std::string> PayloadFor(
      const Watcher& w, const EncodedEvent& e, std::shared_ptr<const std::string>* with_prev) const;
  void ResyncAllLocked(int64_t notified);
  std::chrono::milliseconds ProgressInterval() const;
  // Ticks every stream whose progress interval has elapsed; returns when the
  // next stream is due.
  std::chrono::steady_clock::time_point ProgressTickLocked(
      std::chrono::steady_clock::time_point now);
  void AnswerProgressLocked(WatchStream* s);
  // Returns true if another round may have work.
  bool CatchUpRound();

  bool HasRoomLocked(const WatchStream* s) const;
  // Queues one watcher's events (fragmented if it asked for it). False, and
  // nothing queued, if the stream is full.
  bool DeliverLocked(Watcher* w, std::vector<std::shared_ptr<const std::string>> events,
                     int64_t revision);
  void PushLocked(WatchStream* s, WatchMessage m);
  void MoveToUnsyncedLocked(Watcher* w, int64_t next_rev);
  void MoveToSyncedLocked(Watcher* w);
  // The event with prev_kv filled in (read at revision-1), or as is.
  std::shared_ptr<const std::string> WithPrevKv(const EncodedEvent& e) const;
  void Kick();
  void SignalStreams();

  MvccStore* const store_;
  const WatchHubOptions options_;

  mutable std::mutex mu_;
  std::set<WatchStream*> streams_;
  std::set<WatchStream*> streams_with_unsynced_;
  std::unordered_map<uint64_t, Watcher*> by_serial_;
  std::set<WatchStream*> progress_requested_;  // streams waiting for RequestProgress
  IntervalIndex<Watcher*> synced_;
  size_t unsynced_count_ = 0;
  uint64_t next_serial_ = 1;
  int64_t dispatched_rev_ = 0;  // every synced watcher has all events up to here
  // Streams given messages since the last SignalStreams, each once
  // (WatchStream::signal_queued_): one wake-up per stream, not per message.
  std::vector<WatchStream*> to_signal_;
  // DispatchLocked's scratch, kept to reuse its capacity: with 100k matching
  // watchers, fresh vectors would be page-faulted in on every batch.
  uint64_t dispatch_stamp_ = 0;
  std::vector<Watcher*> dispatch_matched_;                     // in order of first match
  std::vector<std::pair<uint32_t, uint32_t>> dispatch_pairs_;  // (slot, event), event order
  std::vector<uint32_t> dispatch_start_;                       // per slot, into dispatch_events_
  std::vector<uint32_t> dispatch_events_;                      // event indexes grouped by slot
  uint64_t overflows_ = 0;
  uint64_t catchup_rounds_ = 0;

  // The apply loop's side.
  mutable std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<std::shared_ptr<const EventBatch>> incoming_;
  size_t incoming_bytes_ = 0;
  int64_t notified_rev_ = 0;
  // Every watcher, synced or not; changed under in_mu_ (so Notify sees it
  // consistently with notified_rev_), read without it as a hint.
  std::atomic<size_t> watcher_count_{0};
  bool overflowed_ = false;
  bool kicked_ = false;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace capstan::watch
