// EncodedEvent: one change of the store as the hub matches and ships it: what
// matching needs (key, type, revision) beside the serialized mvccpb.Event.
//
// The bytes are immutable and shared (shared_ptr) by every message that
// carries the event. A prev_kv variant is the same bytes with field 3
// appended: protobuf merges concatenated messages, so it needs no re-encoding
// of the event itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kv.pb.h"

namespace capstan::watch {

struct EncodedEvent {
  bool is_put = true;
  bool is_create = false;  // a PUT that created the key: it has no previous value
  int64_t revision = 0;
  std::string key;
  std::shared_ptr<const std::string> bytes;

  static EncodedEvent Encode(const mvccpb::Event& ev);
  // `bytes` plus prev_kv = `prev`.
  std::shared_ptr<const std::string> WithPrevKv(const mvccpb::KeyValue& prev) const;
};

// The events of one apply batch (possibly none), in revision order, and the
// store revision once the batch was committed.
struct EventBatch {
  int64_t revision = 0;
  std::vector<EncodedEvent> events;
};

}  // namespace capstan::watch
