// The stored form of a put: an mvccpb.KeyValue in protobuf's wire format,
// written by hand into a reused buffer.
//
// The apply loop writes one per put, and protobuf's generic path (a size pass,
// then a write pass through an output stream, into a message built field by
// field first) cost more per put than building the bytes directly. The output
// is byte for byte what KeyValue::SerializeToString gives: fields in number
// order, zero values omitted (proto3), negative integers as 10-byte varints;
// key_value_encoding_test checks it against protobuf. Decoding stays with
// protobuf's parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/varint.h"

namespace capstan {

struct KeyValueFields {
  std::string_view key{};
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  std::string_view value{};
  int64_t lease = 0;
};

namespace key_value_encoding_internal {

// Field numbers of mvccpb.KeyValue, with their wire types (0 varint, 2 bytes).
inline char* PutInt64(char* p, uint32_t field, int64_t v) {
  if (v == 0) return p;
  *p++ = static_cast<char>(field << 3);
  return PutVarint(p, static_cast<uint64_t>(v));
}

inline char* PutBytes(char* p, uint32_t field, std::string_view s) {
  if (s.empty()) return p;
  *p++ = static_cast<char>((field << 3) | 2);
  p = PutVarint(p, s.size());
  return s.copy(p, s.size()) + p;
}

}  // namespace key_value_encoding_internal

// Replaces `*out` with the encoding of `kv`.
inline void EncodeKeyValue(const KeyValueFields& kv, std::string* out) {
  using namespace key_value_encoding_internal;
  // Six tags, two length varints and four integer varints at most.
  constexpr size_t kOverhead = 6 + 6 * kMaxVarintBytes;
  out->resize(kv.key.size() + kv.value.size() + kOverhead);
  char* const begin = out->data();
  char* p = begin;
  p = PutBytes(p, 1, kv.key);
  p = PutInt64(p, 2, kv.create_revision);
  p = PutInt64(p, 3, kv.mod_revision);
  p = PutInt64(p, 4, kv.version);
  p = PutBytes(p, 5, kv.value);
  p = PutInt64(p, 6, kv.lease);
  out->resize(static_cast<size_t>(p - begin));
}

}  // namespace capstan
