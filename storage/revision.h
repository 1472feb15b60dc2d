// Revision: the position of one change in the store's history.
//
// `main` is bumped once per write transaction; `sub` numbers the changes inside
// it. On disk a revision is the key of its value record: 8 bytes big-endian main,
// '_', 8 bytes big-endian sub, and a trailing 't' for a deletion (tombstone), so
// that LMDB keeps records in revision order and appends never split pages.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace capstan {

struct Revision {
  int64_t main = 0;
  int64_t sub = 0;

  auto operator<=>(const Revision&) const = default;
};

inline constexpr size_t kRevisionKeyBytes = 17;
inline constexpr size_t kTombstoneKeyBytes = 18;

inline void PutBigEndian64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// Writes the key into `buf` (kTombstoneKeyBytes long) and returns a view of
// it: the apply loop writes one per change and 17 bytes do not fit in a
// std::string's inline buffer, so this saves an allocation each.
inline std::string_view EncodeRevisionKey(Revision rev, bool tombstone,
                                          char (&buf)[kTombstoneKeyBytes]) {
  PutBigEndian64(buf, static_cast<uint64_t>(rev.main));
  buf[8] = '_';
  PutBigEndian64(buf + 9, static_cast<uint64_t>(rev.sub));
  buf[17] = 't';
  return std::string_view(buf, tombstone ? kTombstoneKeyBytes : kRevisionKeyBytes);
}

inline std::string EncodeRevisionKey(Revision rev, bool tombstone = false) {
  char buf[kTombstoneKeyBytes];
  return std::string(EncodeRevisionKey(rev, tombstone, buf));
}

// Returns false if `key` is not a revision key.
inline bool DecodeRevisionKey(std::string_view key, Revision* rev, bool* tombstone) {
  if (key.size() != kRevisionKeyBytes && key.size() != kTombstoneKeyBytes) return false;
  if (key[8] != '_') return false;
  if (key.size() == kTombstoneKeyBytes && key[17] != 't') return false;
  rev->main = static_cast<int64_t>(GetBigEndian64(key.data()));
  rev->sub = static_cast<int64_t>(GetBigEndian64(key.data() + 9));
  *tombstone = key.size() == kTombstoneKeyBytes;
  return true;
}

}  // namespace capstan
