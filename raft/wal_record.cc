#include "raft/wal_record.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace capstan::raft {

using namespace walio;  // the WAL's own helpers

namespace {

constexpr uint32_t kSegmentMagic = 0x4c415743;  // "CWAL"
constexpr uint32_t kFormatVersion = 2;          // 2: kWalAfterSyncFlag
constexpr uint32_t kOldestFormatVersion = 1;
constexpr size_t kSegmentHeaderSize = 4 + 4 + 8 + 8 + 4;
constexpr size_t kSnapshotMarkerSize = 16;

// Whether `t` (the type byte, flag included) names a record type.
bool KnownType(uint8_t t) {
  t &= static_cast<uint8_t>(~kWalAfterSyncFlag);
  return t >= static_cast<uint8_t>(WalRecordType::kSegmentHeader) &&
         t <= static_cast<uint8_t>(WalRecordType::kSnapshot);
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Whether data[pos] could start a record (known type, length within the
// data), without looking at the checksum. Sets *len.
bool PlausibleHeader(std::string_view data, size_t pos, uint32_t* len) {
  if (data.size() - pos < kWalRecordHeaderSize) return false;
  const char* p = data.data() + pos;
  if (!KnownType(static_cast<uint8_t>(p[8]))) return false;
  *len = GetFixed32(p);
  return *len <= data.size() - pos - kWalRecordHeaderSize;
}

}  // namespace

namespace walio {

void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}

void PutFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace walio

uint32_t WalChecksum(uint32_t seed, const char* type_and_payload, size_t n) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(type_and_payload, n, seed));
}

uint32_t AppendWalRecord(std::string* dst, WalRecordType type, uint32_t seed,
                         std::string_view payload) {
  return AppendWalRecord(dst, type, seed, payload.size(), [&](uint8_t* p) {
    if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  });
}

WalParse ParseWalRecord(std::string_view data, size_t offset, uint32_t seed, WalRecord* rec,
                        std::string* why) {
  if (offset >= data.size()) return WalParse::kEnd;
  const char* p = data.data() + offset;
  size_t remaining = data.size() - offset;
  if (remaining < kWalRecordHeaderSize) {
    if (AllZero(p, remaining)) return WalParse::kEnd;
    *why = "truncated record header";
    return WalParse::kBad;
  }
  if (AllZero(p, kWalRecordHeaderSize)) return WalParse::kEnd;
  uint32_t len = GetFixed32(p);
  uint32_t crc = GetFixed32(p + 4);
  uint8_t type = static_cast<uint8_t>(p[8]);
  if (!KnownType(type)) {
    *why = "unknown record type " + std::to_string(type);
    return WalParse::kBad;
  }
  if (len > remaining - kWalRecordHeaderSize) {
    *why = "record length " + std::to_string(len) + " runs past the end of the file";
    return WalParse::kBad;
  }
  if (WalChecksum(seed, p + 8, 1 + size_t{len}) != crc) {
    *why = "checksum mismatch";
    return WalParse::kBad;
  }
  rec->type = static_cast<WalRecordType>(type & ~kWalAfterSyncFlag);
  rec->after_sync = (type & kWalAfterSyncFlag) != 0;
  rec->payload = std::string_view(p + kWalRecordHeaderSize, len);
  rec->checksum = crc;
  rec->size = kWalRecordHeaderSize + len;
  return WalParse::kOk;
}

bool FindWalRecordAfter(std::string_view data, size_t bad, size_t limit, uint32_t prev,
                        size_t* found) {
  limit = std::min(limit, data.size());
  // Seeds a record starting at a given offset may be chained to.
  std::unordered_map<size_t, std::vector<uint32_t>> seeds_at;
  std::vector<uint32_t> any_seeds = {prev};
  if (data.size() - bad >= kWalRecordHeaderSize) {
    const char* p = data.data() + bad;
    any_seeds.push_back(GetFixed32(p + 4));  // its length field may be what is damaged
    uint32_t len;
    if (PlausibleHeader(data, bad, &len)) {
      // Its checksum field may be what is damaged.
      seeds_at[bad + kWalRecordHeaderSize + len].push_back(
          WalChecksum(prev, p + 8, 1 + size_t{len}));
    }
  }
  for (size_t pos = bad; pos < limit; pos++) {
    uint32_t len;
    if (!PlausibleHeader(data, pos, &len)) continue;
    const char* p = data.data() + pos;
    uint32_t stored = GetFixed32(p + 4);
    if (pos > bad) {
      auto check = [&](uint32_t seed) {
        return WalChecksum(seed, p + 8, 1 + size_t{len}) == stored;
      };
      bool ok = false;
      for (uint32_t s : any_seeds) ok = ok || check(s);
      if (auto it = seeds_at.find(pos); it != seeds_at.end()) {
        for (uint32_t s : it->second) ok = ok || check(s);
        seeds_at.erase(it);
      }
      if (ok) {
        *found = pos;
        return true;
      }
    }
    seeds_at[pos + kWalRecordHeaderSize + len].push_back(stored);
  }
  return false;
}

std::string EncodeWalSegmentHeader(const WalSegmentHeader& h) {
  std::string s(kSegmentHeaderSize, '\0');
  PutFixed32(s.data(), kSegmentMagic);
  PutFixed32(s.data() + 4, kFormatVersion);
  PutFixed64(s.data() + 8, h.seq);
  PutFixed64(s.data() + 16, h.first_index);
  PutFixed32(s.data() + 24, h.prev_checksum);
  return s;
}

bool DecodeWalSegmentHeader(std::string_view payload, WalSegmentHeader* h) {
  if (payload.size() != kSegmentHeaderSize) return false;
  const char* p = payload.data();
  const uint32_t version = GetFixed32(p + 4);
  if (GetFixed32(p) != kSegmentMagic || version < kOldestFormatVersion ||
      version > kFormatVersion) {
    return false;
  }
  h->version = version;
  h->seq = GetFixed64(p + 8);
  h->first_index = GetFixed64(p + 16);
  h->prev_checksum = GetFixed32(p + 24);
  return true;
}

std::string EncodeWalSnapshotMarker(uint64_t index, uint64_t term, std::string_view conf_state) {
  std::string s(kSnapshotMarkerSize, '\0');
  PutFixed64(s.data(), index);
  PutFixed64(s.data() + 8, term);
  s.append(conf_state);
  return s;
}

bool DecodeWalSnapshotMarker(std::string_view payload, uint64_t* index, uint64_t* term,
                             std::string_view* conf_state) {
  if (payload.size() < kSnapshotMarkerSize) return false;
  *index = GetFixed64(payload.data());
  *term = GetFixed64(payload.data() + 8);
  *conf_state = payload.substr(kSnapshotMarkerSize);
  return true;
}

}  // namespace capstan::raft
