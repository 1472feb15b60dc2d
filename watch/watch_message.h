// WatchMessage: one WatchResponse as the hub hands it to a stream, without
// gRPC or the response header's member fields (the API layer adds those).
//
// Events are kept as their encoded mvccpb.Event bytes, shared between every
// stream that receives them, so an event is serialized once however many
// watchers see it; the API layer only frames them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace capstan::watch {

struct WatchMessage {
  int64_t watch_id = 0;
  int64_t revision = 0;  // header.revision
  bool created = false;
  bool canceled = false;
  bool fragment = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<std::shared_ptr<const std::string>> events;  // encoded mvccpb.Event

  size_t EventBytes() const {
    size_t n = 0;
    for (const auto& e : events) n += e->size();
    return n;
  }
};

}  // namespace capstan::watch
