#include "watch/watch_hub.h"

#include <algorithm>
#include <cstdio>

namespace capstan::watch {
namespace {

// What a message costs in a stream queue beyond its events: the header and
// flags once encoded (generous, so that fragments stay below the limit).
constexpr size_t kMessageOverhead = 64;
// Framing of one event inside a WatchResponse: tag and length varint.
constexpr size_t kEventFraming = 6;

size_t MessageBytes(const WatchMessage& m) {
  return kMessageOverhead + m.cancel_reason.size() + m.EventBytes() +
         kEventFraming * m.events.size();
}

}  // namespace

// A watcher taking part in a catch-up round, copied out of the hub so that
// storage is read without holding mu_.
struct WatchHub::CatchUpEntry {
  uint64_t serial = 0;
  int64_t next_rev = 0;
  KeyInterval range;
  bool prev_kv = false;
  bool no_put = false;
  bool no_delete = false;
  std::vector<size_t> matched;  // indexes of the round's events
};

WatchHub::WatchHub(MvccStore* store, WatchHubOptions options)
    : store_(store), options_(std::move(options)) {}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Start() {
  std::lock_guard l(mu_);
  std::lock_guard in(in_mu_);
  if (started_) return;
  started_ = true;
  notified_rev_ = store_->CurrentRevision();
  dispatched_rev_ = notified_rev_;
  thread_ = std::thread([this] { Run(); });
}

void WatchHub::Stop() {
  {
    std::lock_guard in(in_mu_);
    stopping_ = true;
  }
  in_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t WatchHub::revision() const {
  std::lock_guard in(in_mu_);
  return notified_rev_;
}

WatchHub::Stats WatchHub::GetStats() const {
  std::lock_guard l(mu_);
  Stats st;
  st.streams = streams_.size();
  st.synced = synced_.size();
  st.unsynced = unsynced_count_;
  st.dispatched_revision = dispatched_rev_;
  st.overflows = overflows_;
  st.catchup_rounds = catchup_rounds_;
  for (const WatchStream* s : streams_) st.queued_messages += s->queue_.size();
  return st;
}

std::shared_ptr<WatchStream> WatchHub::OpenStream(std::function<void()> on_ready) {
  auto s = std::make_shared<WatchStream>(WatchStream::PassKey(), this, std::move(on_ready));
  std::lock_guard l(mu_);
  // etcd runs one progress ticker per stream, started with the stream, so a
  // watcher created right after opening its stream gets its first periodic
  // notification one full interval later. (The hub's next wake-up is never
  // later than this: it wakes at least once per interval.)
  s->next_progress_tick_ = std::chrono::steady_clock::now() + ProgressInterval();
  streams_.insert(s.get());
  return s;
}

// ---------------------------------------------------------------- apply loop

void WatchHub::Notify(const std::vector<mvccpb::Event>& events, int64_t revision) {
  auto encode = [&] {
    auto b = std::make_shared<EventBatch>();
    b->revision = revision;
    b->events.reserve(events.size());
    for (const mvccpb::Event& ev : events) b->events.push_back(EncodedEvent::Encode(ev));
    return b;
  };
  // Encoding happens outside the lock when somebody watches; with no
  // watcher at all the batch is not even encoded.
  std::shared_ptr<EventBatch> batch;
  if (!events.empty() && watcher_count_.load(std::memory_order_relaxed) > 0) batch = encode();
  bool wake = true;
  {
    std::lock_guard in(in_mu_);
    if (revision <= notified_rev_ && events.empty()) return;
    notified_rev_ = std::max(notified_rev_, revision);
    if (!started_ || stopping_) return;
    // A watcher created since the check above may need these events.
    if (!batch && !events.empty() && watcher_count_.load() > 0) batch = encode();
    if (overflowed_) {
      // Dropping: storage has the events, the hub thread resyncs.
    } else if (batch) {
      size_t bytes = 0;
      for (const EncodedEvent& e : batch->events) bytes += e.bytes->size() + e.key.size();
      if (incoming_bytes_ + bytes > options_.max_pending_bytes) {
        overflowed_ = true;
        incoming_.clear();
        incoming_bytes_ = 0;
      } else {
        incoming_bytes_ += bytes;
        incoming_.push_back(std::move(batch));
      }
    } else {
      if (!incoming_.empty() && incoming_.back()->events.empty()) {
        // Revision-only markers carry nothing: keep just the latest.
        incoming_.pop_back();
      }
      auto marker = std::make_shared<EventBatch>();
      marker->revision = revision;
      incoming_.push_back(std::move(marker));
      // With no watcher a marker only advances dispatched_rev_, which
      // matters once a watcher exists, and whatever then needs the hub
      // (catch-up, a progress request or tick) wakes it, and it drains this
      // queue first. Waking it anyway cost a thread wake-up per write batch.
      wake = watcher_count_.load() > 0;
    }
  }
  if (wake) in_cv_.notify_one();
}

void WatchHub::Resync(int64_t revision) {
  {
    std::lock_guard in(in_mu_);
    notified_rev_ = std::max(notified_rev_, revision);
    if (!started_ || stopping_) return;
    overflowed_ = true;  // the same recovery as when the hub falls behind
    incoming_.clear();
    incoming_bytes_ = 0;
  }
  in_cv_.notify_one();
}

// ---------------------------------------------------------------- hub thread

void WatchHub::Kick() {
  {
    std::lock_guard in(in_mu_);
    kicked_ = true;
  }
  in_cv_.notify_one();
}

void WatchHub::Run() {
  auto next_tick = std::chrono::steady_clock::now() + ProgressInterval();
  bool more = false;
  std::unique_lock in(in_mu_);
  while (!stopping_) {
    if (!more) {
      in_cv_.wait_until(in, next_tick,
                        [&] { return stopping_ || !incoming_.empty() || kicked_ || overflowed_; });
    }
    if (stopping_) break;
    std::deque<std::shared_ptr<const EventBatch>> batches;
    batches.swap(incoming_);
    incoming_bytes_ = 0;
    const bool overflow = overflowed_;
    overflowed_ = false;
    kicked_ = false;
    const int64_t notified = notified_rev_;
    in.unlock();

    const auto now = std::chrono::steady_clock::now();
    const bool tick = now >= next_tick;
    {
      std::lock_guard l(mu_);
      if (overflow) {
        ResyncAllLocked(notified);
      } else {
        for (const auto& b : batches) DispatchLocked(*b);
      }
      if (tick) next_tick = ProgressTickLocked(now);
      std::vector<WatchStream*> waiting(progress_requested_.begin(), progress_requested_.end());
      for (WatchStream* s : waiting) AnswerProgressLocked(s);
    }
    batches.clear();  // outside the lock: may free many events
    SignalStreams();
    more = CatchUpRound();
    SignalStreams();
    in.lock();
  }
}

void WatchHub::SignalStreams() {
  std::vector<std::shared_ptr<WatchStream>> ready;
  {
    std::lock_guard l(mu_);
    ready.reserve(to_signal_.size());
    for (WatchStream* s : to_signal_) {
      s->signal_queued_ = false;
      if (s->closed_) continue;
      if (auto sp = s->weak_from_this().lock()) ready.push_back(std::move(sp));
    }
    to_signal_.clear();
  }
  for (auto& s : ready) s->Signal();
}

void WatchHub::DispatchLocked(const EventBatch& batch) {
  if (batch.events.size() == 1 && !synced_.empty()) {
    DispatchOneLocked(batch);
  } else if (!batch.events.empty() && !synced_.empty()) {
    DispatchManyLocked(batch);
  }
  dispatched_rev_ = std::max(dispatched_rev_, batch.revision);
}

std::shared_ptr<const std::string> WatchHub::PayloadFor(
    const Watcher& w, const EncodedEvent& e, std::shared_ptr<const std::string>* with_prev) const {
  if (!w.prev_kv || e.is_create) return e.bytes;
  // prev_kv is looked up once per event, whoever asks for it first.
  if (!*with_prev) *with_prev = WithPrevKv(e);
  return *with_prev;
}

void WatchHub::DispatchOneLocked(const EventBatch& batch) {
  // Each watcher matches a single event at most once, so it is served as the
  // index reports it: fan-out to 100k watchers touches each of them once
  // (a second pass over them cost a cache miss per watcher).
  const EncodedEvent& e = batch.events.front();
  std::shared_ptr<const std::string> with_prev;
  std::vector<Watcher*> full;  // the index must not change while it reports
  synced_.Stab(e.key, [&](Watcher* w) {
    if (e.revision < w->next_rev || !w->Wants(e.is_put)) return;
    std::vector<std::shared_ptr<const std::string>> events;
    events.push_back(PayloadFor(*w, e, &with_prev));
    if (DeliverLocked(w, std::move(events), batch.revision)) {
      w->next_rev = batch.revision + 1;
    } else {
      full.push_back(w);
    }
  });
  // Their streams are full: these watchers continue from storage.
  for (Watcher* w : full) MoveToUnsyncedLocked(w, std::max(w->next_rev, dispatched_rev_ + 1));
}

void WatchHub::DispatchManyLocked(const EventBatch& batch) {
  // One message per watcher per batch keeps every revision of the batch in
  // one response. Matches are grouped per watcher through a stamp and slot
  // kept in the watcher: with 100k watchers a hash map from watcher to its
  // events cost more than everything else of the fan-out.
  const uint64_t stamp = ++dispatch_stamp_;
  std::vector<Watcher*>& matched = dispatch_matched_;
  std::vector<std::pair<uint32_t, uint32_t>>& pairs = dispatch_pairs_;
  matched.clear();
  pairs.clear();
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const EncodedEvent& e = batch.events[i];
    synced_.Stab(e.key, [&](Watcher* w) {
      if (e.revision < w->next_rev || !w->Wants(e.is_put)) return;
      if (w->dispatch_stamp != stamp) {
        w->dispatch_stamp = stamp;
        w->dispatch_slot = static_cast<uint32_t>(matched.size());
        matched.push_back(w);
      }
      pairs.emplace_back(w->dispatch_slot, static_cast<uint32_t>(i));
    });
  }
  // Counting sort of the pairs by slot: each watcher's event indexes end up
  // contiguous and, since pairs are in event order, in event order.
  std::vector<uint32_t>& start = dispatch_start_;
  std::vector<uint32_t>& indexes = dispatch_events_;
  start.assign(matched.size() + 1, 0);
  for (const auto& [slot, i] : pairs) ++start[slot + 1];
  for (size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
  indexes.resize(pairs.size());
  for (const auto& [slot, i] : pairs) indexes[start[slot]++] = i;
  // start[k] is now where slot k ends (and slot k+1 begins).

  std::vector<std::shared_ptr<const std::string>> with_prev(batch.events.size());
  constexpr size_t kPrefetch = 8;  // watchers ahead: their lines left the cache since matching
  uint32_t begin = 0;
  for (size_t k = 0; k < matched.size(); ++k) {
    if (k + kPrefetch < matched.size()) __builtin_prefetch(matched[k + kPrefetch]);
    Watcher* w = matched[k];
    const uint32_t end = start[k];
    std::vector<std::shared_ptr<const std::string>> events;
    events.reserve(end - begin);
    for (uint32_t j = begin; j < end; ++j) {
      const uint32_t i = indexes[j];
      events.push_back(PayloadFor(*w, batch.events[i], &with_prev[i]));
    }
    begin = end;
    if (DeliverLocked(w, std::move(events), batch.revision)) {
      w->next_rev = batch.revision + 1;
    } else {
      // The stream is full: this watcher continues from storage.
      MoveToUnsyncedLocked(w, std::max(w->next_rev, dispatched_rev_ + 1));
    }
  }
}

void WatchHub::ResyncAllLocked(int64_t notified) {
  ++overflows_;
  std::vector<Watcher*> synced;
  for (WatchStream* s : streams_) {
    for (auto& [id, w] : s->watchers_) {
      if (w->synced) synced.push_back(w.get());
    }
  }
  for (Watcher* w : synced) MoveToUnsyncedLocked(w, std::max(w->next_rev, dispatched_rev_ + 1));
  dispatched_rev_ = std::max(dispatched_rev_, notified);
  fprintf(stderr,
          "capstan: watch: fell behind the apply loop (or the store was replaced by a "
          "snapshot); %zu watchers replay from storage\n",
          synced.size());
}

std::chrono::milliseconds WatchHub::ProgressInterval() const {
  return std::max(options_.progress_notify_interval, std::chrono::milliseconds(1));
}

std::chrono::steady_clock::time_point WatchHub::ProgressTickLocked(
    std::chrono::steady_clock::time_point now) {
  // etcd: on each tick of its stream, a watcher that asked for
  // progress_notify gets one if it received no event since the last tick and
  // is synced.
  auto next = now + ProgressInterval();
  for (WatchStream* s : streams_) {
    if (s->next_progress_tick_ <= now) {
      s->next_progress_tick_ = now + ProgressInterval();
      for (auto& [id, w] : s->watchers_) {
        if (!w->progress_notify) continue;
        if (w->synced && dispatched_rev_ >= w->start_revision && !w->sent_since_tick &&
            HasRoomLocked(s)) {
          WatchMessage m;
          m.watch_id = w->id;
          m.revision = dispatched_rev_;
          PushLocked(s, std::move(m));
        }
        w->sent_since_tick = false;
      }
    }
    next = std::min(next, s->next_progress_tick_);
  }
  return next;
}

void WatchHub::AnswerProgressLocked(WatchStream* s) {
  if (!s->progress_requested_) return;
  if (!s->unsynced_.empty()) return;
  for (auto& [id, w] : s->watchers_) {
    if (dispatched_rev_ < w->start_revision) return;  // still waiting for its start
  }
  s->progress_requested_ = false;
  progress_requested_.erase(s);
  // Like etcd, a stream without watchers gets no answer.
  if (s->watchers_.empty()) return;
  WatchMessage m;
  m.watch_id = kInvalidWatchId;
  m.revision = dispatched_rev_;
  PushLocked(s, std::move(m));
}

bool WatchHub::CatchUpRound() {
  std::vector<CatchUpEntry> chosen;
  int64_t end_rev = 0;
  {
    std::lock_guard l(mu_);
    if (streams_with_unsynced_.empty()) return false;
    {
      std::lock_guard in(in_mu_);
      end_rev = notified_rev_;
    }
    const int64_t compact = store_->CompactRevision();
    std::vector<WatchStream*> streams(streams_with_unsynced_.begin(), streams_with_unsynced_.end());
    for (WatchStream* s : streams) {
      if (chosen.size() >= options_.catchup_max_watchers) break;
      if (!HasRoomLocked(s)) continue;  // drained later; Next() kicks us
      std::vector<Watcher*> waiting(s->unsynced_.begin(), s->unsynced_.end());
      for (Watcher* w : waiting) {
        if (chosen.size() >= options_.catchup_max_watchers) break;
        if (w->next_rev < compact) {
          // Its history is gone: canceled with compact_revision, as etcd does
          // (header revision 0, like etcd's).
          WatchMessage m;
          m.watch_id = w->id;
          m.canceled = true;
          m.compact_revision = compact;
          PushLocked(s, std::move(m));
          RemoveWatcherLocked(w);
          continue;
        }
        if (w->next_rev > end_rev) {
          MoveToSyncedLocked(w);
          continue;
        }
        CatchUpEntry c;
        c.serial = w->serial;
        c.next_rev = w->next_rev;
        c.range = w->range;
        c.prev_kv = w->prev_kv;
        c.no_put = w->no_put;
        c.no_delete = w->no_delete;
        chosen.push_back(std::move(c));
      }
      AnswerProgressLocked(s);
    }
    if (chosen.empty()) return false;
    ++catchup_rounds_;
  }

  int64_t start = chosen.front().next_rev;
  for (const CatchUpEntry& c : chosen) start = std::min(start, c.next_rev);
  std::vector<mvccpb::Event> raw;
  int64_t next = start;
  Status st = store_->ReadEvents(start, end_rev, options_.catchup_max_events, &raw, &next);
  if (!st.ok()) {
    // Compacted since we looked: the next round cancels those watchers.
    if (st.code() == Status::Code::kOutOfRange) return true;
    fprintf(stderr, "capstan: watch: reading history from %lld: %s\n",
            static_cast<long long>(start), st.ToString().c_str());
    return false;
  }
  std::vector<EncodedEvent> events;
  events.reserve(raw.size());
  for (const mvccpb::Event& ev : raw) events.push_back(EncodedEvent::Encode(ev));
  raw.clear();

  // Match the round's events against the round's watchers with an index of
  // their own, and build every message before taking the lock again.
  IntervalIndex<size_t> index;
  for (size_t i = 0; i < chosen.size(); ++i) index.Insert(chosen[i].range, i);
  for (size_t j = 0; j < events.size(); ++j) {
    const EncodedEvent& e = events[j];
    index.Stab(e.key, [&](size_t i) {
      CatchUpEntry& c = chosen[i];
      if (e.revision < c.next_rev) return;
      if (e.is_put ? c.no_put : c.no_delete) return;
      c.matched.push_back(j);
    });
  }
  std::vector<std::shared_ptr<const std::string>> with_prev(events.size());
  std::vector<std::vector<std::shared_ptr<const std::string>>> payloads(chosen.size());
  for (size_t i = 0; i < chosen.size(); ++i) {
    const CatchUpEntry& c = chosen[i];
    for (size_t j : c.matched) {
      const EncodedEvent& e = events[j];
      if (c.prev_kv && !e.is_create) {
        if (!with_prev[j]) with_prev[j] = WithPrevKv(e);
        payloads[i].push_back(with_prev[j]);
      } else {
        payloads[i].push_back(e.bytes);
      }
    }
  }

  std::lock_guard l(mu_);
  std::set<WatchStream*> touched;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const CatchUpEntry& c = chosen[i];
    auto it = by_serial_.find(c.serial);
    if (it == by_serial_.end()) continue;  // canceled meanwhile
    Watcher* w = it->second;
    if (w->synced || w->next_rev != c.next_rev) continue;
    if (!payloads[i].empty() && !DeliverLocked(w, std::move(payloads[i]), end_rev)) continue;
    w->next_rev = std::max(w->next_rev, next);
    if (w->next_rev > end_rev) {
      MoveToSyncedLocked(w);
      touched.insert(w->stream);
    }
  }
  for (WatchStream* s : touched) AnswerProgressLocked(s);
  return true;
}

std::shared_ptr<const std::string> WatchHub::WithPrevKv(const EncodedEvent& e) const {
  // etcd reads the key at revision-1; nothing there (or compacted) means no prev_kv.
  if (e.revision <= 1) return e.bytes;
  RangeOptions opts;
  opts.rev = e.revision - 1;
  opts.limit = 1;
  RangeResult r;
  Status s = store_->Range(KeyRange{e.key, {}}, opts, &r);
  if (!s.ok() || r.kvs.empty()) return e.bytes;
  return e.WithPrevKv(r.kvs.front());
}

// ---------------------------------------------------------------- streams

bool WatchHub::HasRoomLocked(const WatchStream* s) const {
  return s->queue_.empty() || (s->queue_.size() < options_.stream_max_messages &&
                               s->queued_bytes_ < options_.stream_max_bytes);
}

void WatchHub::PushLocked(WatchStream* s, WatchMessage m) {
  s->queued_bytes_ += MessageBytes(m);
  s->queue_.push_back(std::move(m));
  if (!s->signal_queued_) {
    s->signal_queued_ = true;
    to_signal_.push_back(s);
  }
}

bool WatchHub::DeliverLocked(Watcher* w, std::vector<std::shared_ptr<const std::string>> events,
                             int64_t revision) {
  WatchStream* s = w->stream;
  if (!HasRoomLocked(s)) return false;
  w->sent_since_tick = true;
  size_t total = kMessageOverhead;
  for (const auto& e : events) total += e->size() + kEventFraming;
  if (!w->fragment || total < options_.max_response_bytes || events.size() < 2) {
    WatchMessage m;
    m.watch_id = w->id;
    m.revision = revision;
    m.events = std::move(events);
    PushLocked(s, std::move(m));
    return true;
  }
  // etcd's sendFragments: pieces below the limit (a single event may exceed
  // it), fragment=true on all but the last.
  WatchMessage cur;
  size_t cur_size = kMessageOverhead;
  for (auto& e : events) {
    const size_t piece = e->size() + kEventFraming;
    if (!cur.events.empty() && cur_size + piece >= options_.max_response_bytes) {
      cur.watch_id = w->id;
      cur.revision = revision;
      cur.fragment = true;
      PushLocked(s, std::move(cur));
      cur = WatchMessage();
      cur_size = kMessageOverhead;
    }
    cur_size += piece;
    cur.events.push_back(std::move(e));
  }
  cur.watch_id = w->id;
  cur.revision = revision;
  PushLocked(s, std::move(cur));
  return true;
}

bool WatchHub::NextLocked(WatchStream* s, WatchMessage* out) {
  if (s->queue_.empty()) return false;
  *out = std::move(s->queue_.front());
  s->queue_.pop_front();
  s->queued_bytes_ -= std::min(s->queued_bytes_, MessageBytes(*out));
  if (s->queue_.empty()) s->queued_bytes_ = 0;
  // Room again: its unsynced watchers can continue.
  if (!s->unsynced_.empty()) Kick();
  return true;
}

void WatchHub::MoveToUnsyncedLocked(Watcher* w, int64_t next_rev) {
  if (w->synced) {
    synced_.Erase(w->range, w);
    w->synced = false;
  }
  w->next_rev = next_rev;
  if (w->stream->unsynced_.insert(w).second) ++unsynced_count_;
  streams_with_unsynced_.insert(w->stream);
}

void WatchHub::MoveToSyncedLocked(Watcher* w) {
  WatchStream* s = w->stream;
  if (s->unsynced_.erase(w) > 0) --unsynced_count_;
  if (s->unsynced_.empty()) streams_with_unsynced_.erase(s);
  if (!w->synced) {
    synced_.Insert(w->range, w);
    w->synced = true;
  }
}

void WatchHub::CreateLocked(WatchStream* s, const WatchRequestOptions& req) {
  if (s->closed_) return;
  WatchMessage created;
  created.created = true;
  auto refuse = [&](const char* reason) {
    created.revision = revision();
    created.watch_id = kInvalidWatchId;
    created.canceled = true;
    created.cancel_reason = reason;
    PushLocked(s, std::move(created));
  };
  // The checks and their order are etcd's (v3rpc recvLoop, then watchStream.Watch).
  if (req.start_revision < 0) return refuse(kErrCompactedReason);
  KeyInterval range;
  if (!KeyInterval::FromRequest(req.key, req.range_end, &range)) {
    return refuse(kErrEmptyWatcherRange);
  }
  int64_t id = req.watch_id;
  if (id == 0) {
    // etcd's AutoWatchID: the next unused id of the stream, never reused.
    while (s->watchers_.count(s->next_auto_id_) > 0) ++s->next_auto_id_;
    id = s->next_auto_id_++;
  } else if (s->watchers_.count(id) > 0) {
    return refuse(kErrDuplicateWatchId);
  }

  auto w = std::make_unique<Watcher>();
  w->stream = s;
  w->serial = next_serial_++;
  w->id = id;
  w->range = std::move(range);
  w->prev_kv = req.prev_kv;
  w->progress_notify = req.progress_notify;
  w->fragment = req.fragment;
  w->no_put = req.no_put;
  w->no_delete = req.no_delete;
  w->start_revision = req.start_revision;
  int64_t notified;
  {
    // Counted and placed under the apply loop's lock: a batch announced
    // after this point is queued for the hub thread (not skipped as
    // unwatched), and one announced before is covered by storage.
    std::lock_guard in(in_mu_);
    notified = notified_rev_;
    watcher_count_.fetch_add(1);
  }
  created.watch_id = id;
  created.revision = notified;
  PushLocked(s, std::move(created));  // before any event of the watcher, as etcd orders them

  Watcher* raw = w.get();
  by_serial_[raw->serial] = raw;
  s->watchers_[id] = std::move(w);
  if (req.start_revision == 0 || req.start_revision > notified) {
    raw->next_rev = req.start_revision == 0 ? notified + 1 : req.start_revision;
    raw->synced = true;
    synced_.Insert(raw->range, raw);
  } else {
    MoveToUnsyncedLocked(raw, req.start_revision);
    Kick();
  }
}

void WatchHub::CancelLocked(WatchStream* s, int64_t watch_id) {
  if (s->closed_) return;
  auto it = s->watchers_.find(watch_id);
  if (it == s->watchers_.end()) return;
  RemoveWatcherLocked(it->second.get());
  WatchMessage m;
  m.watch_id = watch_id;
  m.canceled = true;
  m.revision = revision();
  PushLocked(s, std::move(m));
  if (s->progress_requested_) Kick();  // it may have been the last unsynced one
}

void WatchHub::RemoveWatcherLocked(Watcher* w) {
  WatchStream* s = w->stream;
  if (w->synced) {
    synced_.Erase(w->range, w);
  } else {
    if (s->unsynced_.erase(w) > 0) --unsynced_count_;
    if (s->unsynced_.empty()) streams_with_unsynced_.erase(s);
  }
  by_serial_.erase(w->serial);
  {
    std::lock_guard in(in_mu_);
    watcher_count_.fetch_sub(1);
  }
  s->watchers_.erase(w->id);  // destroys w
}

void WatchHub::CloseLocked(WatchStream* s) {
  if (s->closed_) return;
  s->closed_ = true;
  while (!s->watchers_.empty()) RemoveWatcherLocked(s->watchers_.begin()->second.get());
  s->queue_.clear();
  s->queued_bytes_ = 0;
  streams_.erase(s);
  streams_with_unsynced_.erase(s);
  progress_requested_.erase(s);
  if (s->signal_queued_) {
    std::erase(to_signal_, s);
    s->signal_queued_ = false;
  }
}

}  // namespace capstan::watch
