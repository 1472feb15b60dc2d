// Watcher: the hub's state for one watch of one stream.
//
// A watcher is either synced (registered in the hub's interval index: it has
// every event up to the hub's dispatched revision and gets new ones as they
// are applied) or unsynced (it still has to read revisions next_rev.. from
// storage, because it started in the past or its stream fell behind).
#pragma once

#include <cstdint>
#include <string>

#include "watch/key_interval.h"

namespace capstan::watch {

class WatchStream;

// A create request in hub terms (api/ translates etcd's WatchCreateRequest).
struct WatchRequestOptions {
  std::string key;
  std::string range_end;
  int64_t start_revision = 0;  // 0 = from the next revision on
  int64_t watch_id = 0;        // 0 = let the stream assign one
  bool prev_kv = false;
  bool progress_notify = false;
  bool fragment = false;
  bool no_put = false;
  bool no_delete = false;
};

// The fields the hub reads for every matching event come first, so that
// fan-out to many watchers touches one cache line per watcher.
struct Watcher {
  WatchStream* stream = nullptr;
  int64_t id = 0;
  bool synced = false;
  bool prev_kv = false;
  bool fragment = false;
  bool no_put = false;
  bool no_delete = false;
  bool progress_notify = false;
  // For progress_notify: events were sent since the last tick.
  bool sent_since_tick = false;
  // First revision this watcher has not been sent. For a synced watcher it
  // may lag the hub's revision (it is only advanced when something matches).
  int64_t next_rev = 0;
  // Scratch of WatchHub::DispatchLocked: the dispatch that last matched this
  // watcher, and the watcher's slot in it (groups a batch's events per
  // watcher without a hash map).
  uint64_t dispatch_stamp = 0;
  uint32_t dispatch_slot = 0;

  uint64_t serial = 0;         // unique in the hub, never reused (ids are per stream and may be)
  int64_t start_revision = 0;  // as requested (progress waits until it is reached)
  KeyInterval range;

  bool Wants(bool is_put) const { return is_put ? !no_put : !no_delete; }
};

}  // namespace capstan::watch
