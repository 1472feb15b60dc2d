// Wal::Open (raft/wal.h) on a directory of segment files made from the input,
// then, if the log opened, one more entry appended and the log opened again.
//
// The first input byte picks how the files are made:
//  - raw (even): the rest of the input is one segment file, named after the
//    segment header it starts with (if any), so real segments go deep;
//  - built (1 mod 4): a little program of records (metadata, entries, hard
//    states, snapshot markers, raw records, new segments, damage, torn tail)
//    written with valid checksums, so recovery's decisions are reached;
//  - torn (3 mod 4): a valid log as the WAL writes it (metadata first,
//    contiguous entries, hard states, markers, segment rolls), whose last
//    segment is then cut anywhere after its header and padded with the
//    preallocated zeros: what a power loss leaves of unsynced writes.
//
// Properties: no crash, leak or undefined behaviour; a log that opens has
// contiguous entries after its snapshot index; appending to it and opening it
// again succeeds and returns the new entry last (the torn-tail repair left a
// log that stays readable); a torn log always opens (a lost unsynced tail is
// not corruption: only damage followed by a record written after a completed
// sync is) with every entry written before the cut.
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "raft/wal.h"
#include "raft/wal_record.h"
#include "raftpb.pb.h"
#include "storage/temp_dir.h"

namespace raft = capstan::raft;
using capstan::fuzz::Fail;
using capstan::fuzz::FuzzInput;

namespace {

std::string SegmentName(uint64_t seq, uint64_t first_index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first_index);
  return buf;
}

struct Segment {
  uint64_t seq = 0;
  uint64_t first_index = 0;
  std::string data;
};

// Builds segments from a record program; every record's checksum chains to
// the one before it, across segments, as the WAL writes them.
std::vector<Segment> BuildSegments(FuzzInput* in) {
  std::vector<Segment> segs;
  uint32_t crc = 0;
  auto start_segment = [&](uint64_t first_index) {
    Segment s;
    s.seq = segs.size();
    s.first_index = first_index;
    raft::WalSegmentHeader h;
    h.seq = s.seq;
    h.first_index = first_index;
    h.prev_checksum = crc;
    crc = raft::AppendWalRecord(&s.data, raft::WalRecordType::kSegmentHeader, crc,
                                raft::EncodeWalSegmentHeader(h));
    segs.push_back(std::move(s));
  };
  start_segment(in->Byte());
  while (!in->empty() && segs.size() < 4) {
    std::string* d = &segs.back().data;
    const uint8_t op = in->Byte();
    switch (op % 9) {
      case 0:
        crc = raft::AppendWalRecord(d, raft::WalRecordType::kMetadata, crc, in->Bytes(in->Byte()));
        break;
      case 1: {
        capstan::raftpb::Entry e;
        e.set_index(in->Byte());
        e.set_term(in->Byte() % 4);
        e.set_data(std::string(in->Bytes(in->Byte())));
        crc = raft::AppendWalRecord(d, raft::WalRecordType::kEntry, crc, e.SerializeAsString());
        break;
      }
      case 2: {
        capstan::raftpb::HardState hs;
        hs.set_term(in->Byte());
        hs.set_vote(in->Byte() % 4);
        hs.set_commit(in->Byte());
        crc =
            raft::AppendWalRecord(d, raft::WalRecordType::kHardState, crc, hs.SerializeAsString());
        break;
      }
      case 3: {
        capstan::raftpb::ConfState cs;
        for (uint8_t n = in->Byte() % 4; n > 0; n--) cs.add_voters(in->Byte());
        const uint64_t index = in->Byte(), term = in->Byte() % 4;
        crc = raft::AppendWalRecord(
            d, raft::WalRecordType::kSnapshot, crc,
            raft::EncodeWalSnapshotMarker(index, term, cs.SerializeAsString()));
        break;
      }
      case 4: {  // any type, any payload
        const auto type = static_cast<raft::WalRecordType>(in->Byte());
        crc = raft::AppendWalRecord(d, type, crc, in->Bytes(in->Byte()));
        break;
      }
      case 5:
        start_segment(in->Byte());
        break;
      case 6:  // a flipped byte somewhere in this segment
        if (!d->empty()) (*d)[in->U16() % d->size()] ^= static_cast<char>(in->Byte() | 1);
        break;
      case 7:  // preallocated zeros
        d->append(in->Byte(), '\0');
        break;
      default:  // a torn write: raw bytes
        d->append(in->Bytes(in->Byte() % 32));
        break;
    }
  }
  return segs;
}

// A valid log, then a torn last segment. *whole_entries gets the index of
// the last entry whose record lies wholly before the cut.
//
// With `page_loss`, the last segment is not cut but keeps everything up to a
// record boundary (the last fdatasync) and loses an arbitrary subset of the
// 64-byte blocks after it (scaled-down pages: writeback persists unsynced
// pages in any order), which read back as the preallocated zeros.
std::vector<Segment> BuildTornLog(FuzzInput* in, bool page_loss, uint64_t* whole_entries) {
  std::vector<Segment> segs;
  uint32_t crc = 0;
  uint64_t last_index = 0;
  std::vector<std::pair<size_t, uint64_t>> entry_ends;  // in the last segment: end offset, index
  size_t keep = 0;  // the last segment's bytes that no cut may remove (header, metadata)
  auto start_segment = [&]() {
    Segment s;
    s.seq = segs.size();
    s.first_index = last_index + 1;
    raft::WalSegmentHeader h;
    h.seq = s.seq;
    h.first_index = s.first_index;
    h.prev_checksum = crc;
    crc = raft::AppendWalRecord(&s.data, raft::WalRecordType::kSegmentHeader, crc,
                                raft::EncodeWalSegmentHeader(h));
    // Every segment repeats the metadata, synced with the header.
    crc = raft::AppendWalRecord(&s.data, raft::WalRecordType::kMetadata, crc, "metadata");
    keep = s.data.size();
    entry_ends.clear();
    segs.push_back(std::move(s));
  };
  // Where the tear is, read first: the record program takes the rest.
  const uint16_t cut_at = in->U16();
  const uint8_t sync_pick = in->Byte();
  const uint64_t lost_blocks = in->U64();
  start_segment();
  while (!in->empty() && segs.size() < 4) {
    std::string* d = &segs.back().data;
    switch (in->Byte() % 4) {
      case 0: {
        capstan::raftpb::Entry e;
        e.set_index(++last_index);
        e.set_term(1);
        e.set_data(std::string(in->Bytes(in->Byte() % 64)));
        crc = raft::AppendWalRecord(d, raft::WalRecordType::kEntry, crc, e.SerializeAsString());
        entry_ends.emplace_back(d->size(), last_index);
        break;
      }
      case 1: {
        capstan::raftpb::HardState hs;
        hs.set_term(1);
        hs.set_commit(last_index);
        crc =
            raft::AppendWalRecord(d, raft::WalRecordType::kHardState, crc, hs.SerializeAsString());
        break;
      }
      case 2:
        crc = raft::AppendWalRecord(d, raft::WalRecordType::kSnapshot, crc,
                                    raft::EncodeWalSnapshotMarker(last_index / 2, 1, ""));
        break;
      default:
        start_segment();
        break;
    }
  }
  Segment& tail = segs.back();
  size_t cut = keep + cut_at % (tail.data.size() - keep + 1);
  if (page_loss) {
    // The sync point: the end of a record of this segment.
    cut = keep;
    const size_t n = entry_ends.size();
    if (n > 0) {
      const size_t pick = sync_pick % (n + 1);
      if (pick > 0) cut = entry_ends[pick - 1].first;
    }
    constexpr size_t kBlock = 64;
    for (size_t b = cut / kBlock * kBlock; b < tail.data.size(); b += kBlock) {
      if (((lost_blocks >> (b / kBlock % 64)) & 1) == 0) continue;  // reached the disk
      for (size_t i = std::max(b, cut); i < std::min(b + kBlock, tail.data.size()); i++) {
        tail.data[i] = '\0';
      }
    }
  } else {
    tail.data.resize(cut);
  }
  tail.data.append(512, '\0');
  *whole_entries = segs.size() > 1 ? segs[segs.size() - 1].first_index - 1 : 0;
  for (const auto& [end, index] : entry_ends) {
    if (end <= cut) *whole_entries = index;
  }
  return segs;
}

void CheckContents(const raft::WalContents& c) {
  for (size_t i = 0; i < c.entries.size(); i++) {
    if (c.entries[i].index() <= c.snapshot_index) Fail("an entry at or below the snapshot index");
    if (i > 0 && c.entries[i].index() != c.entries[i - 1].index() + 1) {
      Fail("entries are not contiguous");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  // Torn modes: 3 mod 8 cuts the last segment, 7 mod 8 loses unsynced
  // blocks of it. Either way the log must open.
  const bool torn = mode % 4 == 3;
  const bool page_loss = mode % 8 == 7;
  uint64_t whole_entries = 0;  // entries that must survive
  capstan::TempDir tmp("wal-fuzz-");
  const std::string dir = tmp.Sub("wal");
  if (::mkdir(dir.c_str(), 0700) != 0) abort();

  if (mode % 2 == 0) {
    std::string_view file = in.Rest();
    raft::WalSegmentHeader h;
    if (file.size() > raft::kWalRecordHeaderSize) {
      const uint32_t len = raft::walio::GetFixed32(file.data());
      (void)raft::DecodeWalSegmentHeader(file.substr(raft::kWalRecordHeaderSize, len), &h);
    }
    capstan::fuzz::WriteFileOrDie(dir + "/" + SegmentName(h.seq, h.first_index), file);
  } else {
    const std::vector<Segment> segs =
        torn ? BuildTornLog(&in, page_loss, &whole_entries) : BuildSegments(&in);
    for (const Segment& s : segs) {
      capstan::fuzz::WriteFileOrDie(dir + "/" + SegmentName(s.seq, s.first_index), s.data);
    }
  }

  raft::WalOptions options;
  options.segment_size = 512;
  options.zero_fill = false;
  raft::WalContents contents;
  uint64_t next = 0;
  {
    std::unique_ptr<raft::Wal> wal;
    capstan::Status s = raft::Wal::Open(dir, options, &wal, &contents);
    if (!s.ok() && torn) {
      fprintf(stderr, "open: %s\n", s.ToString().c_str());
      Fail("a valid log with a torn tail does not open");
    }
    if (!s.ok()) return 0;
    CheckContents(contents);
    if (torn && wal->last_index() < whole_entries) {
      Fail("an entry written wholly before the tear is lost");
    }
    next = wal->last_index() + 1;
    capstan::raftpb::Entry e;
    e.set_index(next);
    e.set_term(contents.hard_state.term());
    e.set_data("appended after recovery");
    if (!wal->Save(nullptr, {&e, 1}, /*sync=*/true).ok()) Fail("append after a clean open failed");
  }
  std::unique_ptr<raft::Wal> wal;
  raft::WalContents again;
  capstan::Status s = raft::Wal::Open(dir, options, &wal, &again);
  if (!s.ok()) {
    fprintf(stderr, "reopen: %s\n", s.ToString().c_str());
    Fail("a log that opened, plus one append, does not open again");
  }
  CheckContents(again);
  if (again.entries.empty() || again.entries.back().index() != next ||
      again.entries.back().data() != "appended after recovery") {
    Fail("the appended entry is not the last one after reopening");
  }
  if (again.metadata != contents.metadata || again.snapshot_index != contents.snapshot_index) {
    Fail("reopening changed the metadata or the snapshot index");
  }
  return 0;
}
