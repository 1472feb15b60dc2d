// Protobuf's base-128 varints, for the few places that frame protobuf bytes
// by hand instead of going through a generated message: the store's record
// of a put (key_value_encoding.h), watch responses assembled from encoded
// events, etcd's lease and alarm records, and a peek at a request's id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace capstan {

// Longest encoding of a uint64_t.
inline constexpr size_t kMaxVarintBytes = 10;

// Writes `v` at `p` (room for kMaxVarintBytes) and returns the end.
inline char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void AppendVarint(std::string* out, uint64_t v) {
  char buf[kMaxVarintBytes];
  out->append(buf, PutVarint(buf, v));
}

// Reads a varint from the front of *in and drops it from *in. False if *in
// ends inside it or it is longer than a uint64_t.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace capstan
