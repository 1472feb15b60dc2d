// Wal: the Raft write-ahead log.
//
// Everything Raft must not forget across a crash goes here before it is acted
// on: log entries, the HardState (term, vote, commit) and markers saying which
// prefix of the log now lives in a snapshot. The log is a directory of
// segment files named <seq>-<first index>.wal (16 hex digits each), each
// preallocated to WalOptions::segment_size and then overwritten in place,
// because overwrite + fdatasync costs about half of append + fdatasync on our
// disk (no file-size change to journal). The record format is in
// wal_record.h.
//
// Recovery. A crash can leave the last write torn: a partial record, or a
// record whose checksum fails, at the end of the last segment. Writes that
// were not synced (Save with sync=false, e.g. a commit-only HardState) may
// also reach the disk in part: a later one without an earlier one, or pages
// of zeros in between. Open cuts such a tail off at the first bad record
// (reporting how many bytes in WalContents::discarded_bytes) and appends
// continue after the last good record. Damage is told from such a tail by
// what follows it: each record says whether it was written when everything
// before it was synced (see wal_record.h), so a bad record followed by a
// valid record so written, or in a segment that is not the last, is damage to
// data that was once durable, and Open fails with Status::Corruption naming
// the file and offset. (Segments of format version 1, whose records do not
// say, are held to the stricter rule: any valid record after a bad one.)
//
// Not thread-safe: one thread uses a Wal at a time (see WalWriter for group
// commit from many threads). One process at a time may open a directory
// (flock on <dir>/LOCK).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "raft/wal_io.h"
#include "raft/wal_record.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

class WalFilePipeline;

struct WalOptions {
  // Size each segment is preallocated to. A record bigger than this gets a
  // segment of its own, sized to fit.
  uint64_t segment_size = 64 << 20;
  // Write real zeros over each new segment, not just fallocate it: ext4 keeps
  // fallocated blocks as "unwritten" extents, and converting them on the first
  // write makes that write's fdatasync commit the journal, which is the cost
  // preallocation is meant to avoid. Done in the background (WalFilePipeline).
  bool zero_fill = true;
};

struct WalContents {
  std::string metadata;
  raftpb::HardState hard_state;  // the last one saved; all zero if none
  // The last snapshot marker: entries up to snapshot_index are in a snapshot.
  uint64_t snapshot_index = 0;
  uint64_t snapshot_term = 0;
  raftpb::ConfState snapshot_conf_state;  // the membership as of the marker
  // The log after snapshot_index, contiguous, with later writes of an index
  // having replaced earlier ones and everything after them. It starts later
  // than snapshot_index + 1 if ReleaseBefore dropped entries that no
  // snapshot marker covers; it always ends with the last entry saved (unless
  // that is in the snapshot).
  std::vector<raftpb::Entry> entries;
  // Bytes of a torn last write that recovery cut off; worth a log line.
  uint64_t discarded_bytes = 0;
};

class Wal {
  struct Passkey {};

 public:
  // Creates a new log in `dir` (created if missing; must not hold a log yet).
  // `metadata` is stored in every segment and returned by Open.
  static Status Create(const std::string& dir, std::string_view metadata, const WalOptions& options,
                       std::unique_ptr<Wal>* wal);
  // Opens the log in `dir`, reads it all into *contents, repairs a torn tail,
  // and leaves *wal ready to append after the last good record.
  static Status Open(const std::string& dir, const WalOptions& options, std::unique_ptr<Wal>* wal,
                     WalContents* contents);
  // Whether `dir` holds a log (at least one segment file).
  static bool Exists(const std::string& dir);

  Wal(Passkey, std::string dir, const WalOptions& options);
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends `entries` and then `hard_state` (if not null) in one write, and
  // with `sync` makes them durable before returning. An entry at or below the
  // last index replaces that entry and all after it (a new leader truncated
  // the log); otherwise entries must follow the last index without a gap and
  // lie after the snapshot marker. After a failed write or sync, every later
  // write fails too: what reached the disk is unknown.
  Status Save(const raftpb::HardState* hard_state, std::span<const raftpb::Entry> entries,
              bool sync);
  // Records durably that entries up to `index` (of term `term`) are in a
  // snapshot whose membership is `conf_state`.
  Status SaveSnapshotMarker(uint64_t index, uint64_t term,
                            const raftpb::ConfState& conf_state = {});
  // Deletes the oldest segments as long as every entry in them is below
  // `index`. The caller must have everything below `index` elsewhere (a
  // snapshot, or a state machine that is durable up to there); the WAL does
  // not check. Never deletes the segment being written, nor the one holding
  // the last entry, so Open always learns where the log ends. Each segment
  // repeats the metadata, snapshot marker and HardState at its start, so
  // nothing but old entries is lost.
  Status ReleaseBefore(uint64_t index);
  // Makes everything saved so far durable.
  Status Sync();

  // The index of the last entry, or of the snapshot marker if that is later;
  // 0 for an empty log.
  uint64_t last_index() const { return last_index_; }
  uint64_t snapshot_index() const { return snapshot_index_; }
  // fdatasync calls on segments made by Save/SaveSnapshotMarker/Sync (and rolls).
  uint64_t sync_count() const { return sync_count_.load(std::memory_order_relaxed); }
  size_t segment_count() const { return segments_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  struct Segment {
    uint64_t seq;
    uint64_t first_index;
  };

  std::string SegmentPath(const Segment& seg) const;
  Status Lock();
  Status ReadAll(std::vector<Segment> segments, WalContents* contents);
  Status CheckEntries(std::span<const raftpb::Entry> entries) const;
  // Writes buf_ at offset_ and clears it.
  Status Flush();
  // Makes room for a record of `record_size` bytes, rolling to a new segment
  // if the current one cannot take it.
  Status Reserve(size_t record_size);
  // Syncs the current segment and starts the next one from the spare file,
  // big enough for `min_free` bytes after its first records.
  Status Roll(size_t min_free);
  void AppendHardState(const raftpb::HardState& hs, size_t size);
  // `type` for the record appended next, with kWalAfterSyncFlag if
  // everything before it is synced.
  WalRecordType NextRecordType(WalRecordType type) const;
  Status SyncCurrent();

  const std::string dir_;
  const WalOptions options_;
  walio::UniqueFd lock_;
  std::string metadata_;
  std::vector<Segment> segments_;  // oldest first; the last one is being written
  walio::UniqueFd file_;           // the last segment
  std::string file_path_;
  uint64_t file_size_ = 0;
  uint64_t offset_ = 0;  // where in file_ the next record goes (buf_ not yet included)
  uint32_t crc_ = 0;     // checksum of the last record appended: the next one's seed
  uint64_t last_index_ = 0;
  uint64_t last_entry_seq_ = 0;  // segment holding the last entry record; never released
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_term_ = 0;
  std::string snapshot_conf_state_;  // serialized ConfState
  raftpb::HardState hard_state_;
  bool has_hard_state_ = false;
  bool unsynced_ = false;  // something was written since the last fdatasync
  Status error_;           // sticky write error
  std::string buf_;        // records encoded but not yet written
  std::atomic<uint64_t> sync_count_{0};
  std::unique_ptr<WalFilePipeline> pipeline_;
};

}  // namespace capstan::raft
