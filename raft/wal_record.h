// The on-disk record format of the WAL.
//
// A segment file is a sequence of records, then zeros up to its preallocated
// size. A record is
//
//   [u32 length][u32 checksum][u8 type][payload: length bytes]
//
// little-endian, where checksum is the low 32 bits of XXH3-64 over type and
// payload, seeded with the previous record's checksum. The chaining means a
// record copied from another place (another log, an older position of this
// one) fails its check even though its own bytes are intact. The first
// record of every segment is a segment header that carries the checksum the
// previous segment ended with, so a segment can be checked on its own after
// older ones were released, and the chain continues across files.
//
// Type 0 is never used, so an all-zero record header can only be the
// preallocated space after the last record: that is how readers tell unused
// space from data.
//
// The type byte's high bit (kWalAfterSyncFlag, format version 2) says that
// the record was written when everything before it in the segment had been
// fdatasync'd. Recovery needs it to tell a lost unsynced tail from damage:
// bytes before a record so flagged were durable before it was written, so
// damage there is damage to durable data, while damage followed only by
// unflagged records may be writes that never reached the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace capstan::raft {

enum class WalRecordType : uint8_t {
  kSegmentHeader = 1,  // WalSegmentHeader; first in every segment
  kMetadata = 2,       // opaque bytes given at creation, repeated in every segment
  kEntry = 3,          // raftpb::Entry
  kHardState = 4,      // raftpb::HardState
  kSnapshot = 5,       // WalSnapshotMarker: entries up to its index are in a snapshot
};

inline constexpr size_t kWalRecordHeaderSize = 9;
inline constexpr uint8_t kWalAfterSyncFlag = 0x80;

// `type` with kWalAfterSyncFlag set, for AppendWalRecord.
constexpr WalRecordType WithAfterSyncFlag(WalRecordType type) {
  return static_cast<WalRecordType>(static_cast<uint8_t>(type) | kWalAfterSyncFlag);
}

// Checksum of one record's type byte and payload (contiguous in the record,
// starting at `type_and_payload`), chained to `seed`.
uint32_t WalChecksum(uint32_t seed, const char* type_and_payload, size_t n);

// Appends a record to *dst whose `payload_size` bytes of payload are written
// by fill(uint8_t*). Returns the record's checksum: the next record's seed.
template <typename Fill>
uint32_t AppendWalRecord(std::string* dst, WalRecordType type, uint32_t seed, size_t payload_size,
                         Fill&& fill);
uint32_t AppendWalRecord(std::string* dst, WalRecordType type, uint32_t seed,
                         std::string_view payload);

struct WalRecord {
  WalRecordType type;  // without the flag
  bool after_sync;     // kWalAfterSyncFlag was set
  std::string_view payload;
  uint32_t checksum;
  size_t size;  // header + payload
};

enum class WalParse {
  kOk,
  kEnd,  // only zeros from here: the unused, preallocated part of the segment
  kBad,  // anything else that is not a valid record
};

// Parses the record at data[offset], chained to `seed`. On kBad, *why says
// what is wrong with it.
WalParse ParseWalRecord(std::string_view data, size_t offset, uint32_t seed, WalRecord* rec,
                        std::string* why);

// After a bad record at data[bad]: whether a valid record starts somewhere in
// (bad, limit), meaning the bad one is damage in the middle of the log rather
// than a torn last write. The checksum chain needs the predecessor's checksum,
// which the damage may have destroyed, so a candidate counts as valid if it
// checks out against the stored checksum of a plausible record ending right
// where it starts, or against `prev` (the last good checksum) or the bad
// record's own stored or recomputed checksum. That catches damage to any
// header field of the bad record too. Recovery path only: it may hash a lot.
bool FindWalRecordAfter(std::string_view data, size_t bad, size_t limit, uint32_t prev,
                        size_t* found);

struct WalSegmentHeader {
  uint64_t seq = 0;
  uint64_t first_index = 0;  // first log index the segment was started for
  uint32_t prev_checksum = 0;
  // Format version: 1 before kWalAfterSyncFlag existed, 2 since. Decode
  // sets it; Encode always writes the current one.
  uint32_t version = 0;
};

std::string EncodeWalSegmentHeader(const WalSegmentHeader& h);
// False unless the payload has the WAL's magic and a version this code reads.
bool DecodeWalSegmentHeader(std::string_view payload, WalSegmentHeader* h);

// A snapshot marker: index and term, then the membership as of the snapshot
// (a serialized ConfState; absent in markers of logs without one).
std::string EncodeWalSnapshotMarker(uint64_t index, uint64_t term, std::string_view conf_state);
bool DecodeWalSnapshotMarker(std::string_view payload, uint64_t* index, uint64_t* term,
                             std::string_view* conf_state);

namespace walio {
// Little-endian fixed-width encoding.
void PutFixed32(char* p, uint32_t v);
void PutFixed64(char* p, uint64_t v);
uint32_t GetFixed32(const char* p);
uint64_t GetFixed64(const char* p);
}  // namespace walio

template <typename Fill>
uint32_t AppendWalRecord(std::string* dst, WalRecordType type, uint32_t seed, size_t payload_size,
                         Fill&& fill) {
  size_t start = dst->size();
  dst->resize(start + kWalRecordHeaderSize + payload_size);
  char* rec = dst->data() + start;
  walio::PutFixed32(rec, static_cast<uint32_t>(payload_size));
  rec[8] = static_cast<char>(type);
  fill(reinterpret_cast<uint8_t*>(rec + kWalRecordHeaderSize));
  uint32_t crc = WalChecksum(seed, rec + 8, 1 + payload_size);
  walio::PutFixed32(rec + 4, crc);
  return crc;
}

}  // namespace capstan::raft
