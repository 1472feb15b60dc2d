// KeyInterval: the keys one watcher covers, normalized the way etcd's watch
// server does before it registers a watcher.
//
// A create request names (key, range_end): an empty key means "\0" (the
// smallest key), an empty range_end a single key, a range_end of "\0" every
// key >= key, anything else the half-open range [key, range_end). A range that
// is empty (key >= range_end) is refused, as etcd refuses it.
#pragma once

#include <string>
#include <string_view>

namespace capstan::watch {

struct KeyInterval {
  std::string low;
  std::string high;        // exclusive; unused when single or unbounded
  bool single = false;     // exactly `low`
  bool unbounded = false;  // every key >= low

  // Returns false (and leaves *out alone) for an empty range.
  static bool FromRequest(std::string_view key, std::string_view range_end, KeyInterval* out) {
    KeyInterval iv;
    iv.low = key.empty() ? std::string(1, '\0') : std::string(key);
    if (range_end.empty()) {
      iv.single = true;
    } else if (range_end.size() == 1 && range_end[0] == '\0') {
      iv.unbounded = true;
    } else {
      if (iv.low >= range_end) return false;
      iv.high = std::string(range_end);
    }
    *out = std::move(iv);
    return true;
  }

  bool Contains(std::string_view k) const {
    if (single) return k == low;
    if (k < low) return false;
    return unbounded || k < high;
  }
};

}  // namespace capstan::watch
