// The WAL's record layer (raft/wal_record.h) on arbitrary bytes: walks a
// buffer record by record as Wal::Open does, runs the damage scan after a bad
// record, and decodes segment headers and snapshot markers.
//
// Properties: no crash or undefined behaviour; a parsed record lies inside the
// buffer; FindWalRecordAfter reports a position inside the range it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "raft/wal_record.h"

using capstan::fuzz::Fail;
namespace raft = capstan::raft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  std::string built;
  std::string_view buf;
  if (mode % 4 == 3) {
    // Valid records built from (type, payload) pieces, then damaged: one
    // byte xored and the buffer cut, as a torn write or bit rot would.
    uint32_t seed = 0;
    const uint16_t damage_at = in.U16();
    const uint8_t damage = in.Byte();
    const uint16_t cut = in.U16();
    while (!in.empty()) {
      const auto type = static_cast<raft::WalRecordType>(in.Byte() % 6);
      seed = raft::AppendWalRecord(&built, type, seed, in.LengthPrefixed());
    }
    if (!built.empty()) built[damage_at % built.size()] ^= static_cast<char>(damage);
    if (cut != 0 && cut < built.size()) built.resize(cut);
    buf = built;
  } else {
    buf = in.Rest();
  }

  if (mode % 4 == 1) {
    raft::WalSegmentHeader h;
    (void)raft::DecodeWalSegmentHeader(buf, &h);
    return 0;
  }
  if (mode % 4 == 2) {
    uint64_t index, term;
    std::string_view conf_state;
    if (raft::DecodeWalSnapshotMarker(buf, &index, &term, &conf_state)) {
      if (conf_state.data() < buf.data() ||
          conf_state.data() + conf_state.size() > buf.data() + buf.size()) {
        Fail("snapshot marker's conf state outside the payload");
      }
    }
    return 0;
  }

  // A chain of records. The seed is the checksum of an empty record chain
  // start (0), as a segment's header begins.
  uint32_t seed = 0;
  size_t off = 0;
  while (off <= buf.size()) {
    raft::WalRecord rec;
    std::string why;
    raft::WalParse r = raft::ParseWalRecord(buf, off, seed, &rec, &why);
    if (r == raft::WalParse::kOk) {
      if (rec.size < raft::kWalRecordHeaderSize || off + rec.size > buf.size() ||
          rec.payload.data() < buf.data() ||
          rec.payload.data() + rec.payload.size() > buf.data() + buf.size()) {
        Fail("a parsed record lies outside the buffer");
      }
      seed = rec.checksum;
      off += rec.size;
      continue;
    }
    if (r == raft::WalParse::kBad) {
      size_t found = 0;
      if (raft::FindWalRecordAfter(buf, off, buf.size(), seed, &found) &&
          (found <= off || found >= buf.size())) {
        Fail("FindWalRecordAfter found a record outside (bad, limit)");
      }
    }
    break;
  }
  return 0;
}
