// The on-disk format of a bbolt (go.etcd.io/bbolt 1.3.x) database file, as
// far as BboltWriter and BboltReader need it. Everything is little-endian,
// as bbolt writes its structs straight from memory on the platforms etcd runs
// on.
//
// A file is a sequence of pages of one size (kept in the meta pages):
//   page 0, 1   meta: two copies; the valid one with the higher txid wins
//   page 2..    branch, leaf and freelist pages; a node bigger than a page
//               spans consecutive pages ("overflow")
// Every page starts with a 16-byte header: id u64, flags u16, count u16,
// overflow u32. Branch elements (16 bytes: pos u32, ksize u32, pgid u64) and
// leaf elements (16 bytes: flags u32, pos u32, ksize u32, vsize u32) follow
// the header; `pos` is the distance from the element to its key, the value
// follows the key. A bucket is a B+tree; its value in the parent bucket is a
// 16-byte header (root pgid u64, sequence u64), followed, for an inline
// bucket (root 0), by its single leaf page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace capstan::bbolt {

inline constexpr uint32_t kMagic = 0xED0CDAED;
inline constexpr uint32_t kVersion = 2;
inline constexpr size_t kDefaultPageSize = 4096;

inline constexpr size_t kPageHeaderSize = 16;
inline constexpr size_t kBranchElementSize = 16;
inline constexpr size_t kLeafElementSize = 16;
inline constexpr size_t kBucketHeaderSize = 16;
inline constexpr size_t kMetaSize = 64;  // magic .. checksum
inline constexpr size_t kMetaChecksumOffset = 56;

inline constexpr uint16_t kBranchPageFlag = 0x01;
inline constexpr uint16_t kLeafPageFlag = 0x02;
inline constexpr uint16_t kMetaPageFlag = 0x04;
inline constexpr uint16_t kFreelistPageFlag = 0x10;

inline constexpr uint32_t kBucketLeafFlag = 0x01;  // leaf element holds a bucket

// Meta field offsets, from the end of the page header.
inline constexpr size_t kMetaMagic = 0, kMetaVersion = 4, kMetaPageSize = 8, kMetaFlags = 12,
                        kMetaRoot = 16, kMetaSequence = 24, kMetaFreelist = 32, kMetaPgid = 40,
                        kMetaTxid = 48;

// meta.freelist when the freelist is not stored (bbolt's NoFreelistSync).
inline constexpr uint64_t kNoFreelist = ~uint64_t{0};

// Page-header field offsets.
inline constexpr size_t kPageId = 0, kPageFlags = 8, kPageCount = 10, kPageOverflow = 12;

inline void Put16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint16_t Get16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
inline uint32_t Get32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}
inline uint64_t Get64(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}

// FNV-1a, 64 bit: the meta page checksum covers the meta fields before it.
inline uint64_t Fnv64a(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace capstan::bbolt
