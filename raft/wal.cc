#include "raft/wal.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "raft/wal_file_pipeline.h"
#include "raft/wal_record.h"

namespace capstan::raft {

using namespace walio;  // the WAL's own helpers (wal_io.h)

namespace {

constexpr uint64_t kMinSegmentSize = 512;
constexpr uint64_t kMaxPayload = uint64_t{1} << 31;
constexpr std::string_view kSegmentSuffix = ".wal";
constexpr std::string_view kTempSuffix = ".tmp";

std::string SegmentName(uint64_t seq, uint64_t first_index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first_index);
  return buf;
}

bool ParseHex16(std::string_view s, uint64_t* v) {
  if (s.size() != 16) return false;
  *v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    *v = (*v << 4) | static_cast<uint64_t>(d);
  }
  return true;
}

bool ParseSegmentName(std::string_view name, uint64_t* seq, uint64_t* first_index) {
  if (name.size() != 16 + 1 + 16 + kSegmentSuffix.size() || name[16] != '-' ||
      !name.ends_with(kSegmentSuffix)) {
    return false;
  }
  return ParseHex16(name.substr(0, 16), seq) && ParseHex16(name.substr(17, 16), first_index);
}

// One past the last non-zero byte of data[from, end), or `from` if there is none.
size_t NonZeroEnd(std::string_view data, size_t from) {
  size_t end = data.size();
  while (end > from && end % 8 != 0 && data[end - 1] == 0) end--;
  while (end >= from + 8 && end % 8 == 0) {
    uint64_t w;
    std::memcpy(&w, data.data() + end - 8, 8);
    if (w != 0) break;
    end -= 8;
  }
  while (end > from && data[end - 1] == 0) end--;
  return end;
}

// Decodes the segment header at the start of `data` without checking its
// checksum, which needs the seed the header itself carries for the first segment.
bool PeekSegmentHeader(std::string_view data, WalSegmentHeader* h) {
  if (data.size() < kWalRecordHeaderSize ||
      data[8] != static_cast<char>(WalRecordType::kSegmentHeader)) {
    return false;
  }
  return DecodeWalSegmentHeader(data.substr(kWalRecordHeaderSize, GetFixed32(data.data())), h);
}

// After damage at data[bad] in the last segment: whether a valid record in
// (bad, limit) was written when everything before it had been synced
// (kWalAfterSyncFlag). Then the damaged bytes were durable before that
// record was written, and the damage is not a lost or torn unsynced write.
// Follows every stretch of valid records after the damage, since the first
// one found may be an unsynced write that survived while an earlier one
// did not. *found is that record's offset.
bool FindRecordWrittenAfterSync(std::string_view data, size_t bad, size_t limit, uint32_t prev,
                                size_t* found) {
  size_t pos = bad;
  uint32_t seed = prev;
  size_t at;
  while (FindWalRecordAfter(data, pos, limit, seed, &at)) {
    if ((static_cast<uint8_t>(data[at + 8]) & kWalAfterSyncFlag) != 0) {
      *found = at;
      return true;
    }
    // The records chained to it.
    size_t off = at + kWalRecordHeaderSize + GetFixed32(data.data() + at);
    uint32_t crc = GetFixed32(data.data() + at + 4);
    WalRecord rec;
    std::string why;
    while (off < limit && ParseWalRecord(data, off, crc, &rec, &why) == WalParse::kOk) {
      if (rec.after_sync) {
        *found = off;
        return true;
      }
      crc = rec.checksum;
      off += rec.size;
    }
    pos = off;
    seed = crc;
  }
  return false;
}

Status ListSegments(const std::string& dir, std::vector<std::string>* names) {
  std::vector<std::string> all;
  Status s = ListDir(dir, &all);
  if (!s.ok()) return s;
  names->clear();
  uint64_t seq, first;
  for (auto& n : all) {
    if (ParseSegmentName(n, &seq, &first)) names->push_back(std::move(n));
  }
  return Status::OK();
}

// Spare files left by a process that stopped before using them.
void RemoveTempFiles(const std::string& dir) {
  std::vector<std::string> all;
  if (!ListDir(dir, &all).ok()) return;
  for (const auto& n : all) {
    if (n.ends_with(kTempSuffix)) RemoveFile(dir + "/" + n);
  }
}

}  // namespace

Wal::Wal(Passkey, std::string dir, const WalOptions& options)
    : dir_(std::move(dir)), options_(options) {}

Wal::~Wal() = default;

bool Wal::Exists(const std::string& dir) {
  std::vector<std::string> names;
  return ListSegments(dir, &names).ok() && !names.empty();
}

std::string Wal::SegmentPath(const Segment& seg) const {
  return dir_ + "/" + SegmentName(seg.seq, seg.first_index);
}

Status Wal::Lock() {
  std::string path = dir_ + "/LOCK";
  Status s = OpenFile(path, O_RDWR | O_CREAT, &lock_);
  if (!s.ok()) return s;
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Status::Unavailable("WAL " + dir_ + " is already open");
    return PosixError("flock", path, errno);
  }
  return Status::OK();
}

Status Wal::Create(const std::string& dir, std::string_view metadata, const WalOptions& options,
                   std::unique_ptr<Wal>* wal) {
  if (options.segment_size < kMinSegmentSize) {
    return Status::InvalidArgument("WAL segment size below " + std::to_string(kMinSegmentSize));
  }
  Status s = CreateDir(dir);
  if (!s.ok()) return s;
  auto w = std::make_unique<Wal>(Passkey{}, dir, options);
  s = w->Lock();
  if (!s.ok()) return s;
  if (Exists(dir)) return Status::FailedPrecondition("a WAL already exists in " + dir);
  RemoveTempFiles(dir);
  w->metadata_ = std::string(metadata);
  w->pipeline_ = std::make_unique<WalFilePipeline>(dir, options.segment_size, options.zero_fill);
  s = w->Roll(0);
  // The directory itself may be new.
  if (s.ok()) s = SyncDir(ParentDir(dir));
  if (!s.ok()) return s;
  *wal = std::move(w);
  return Status::OK();
}

Status Wal::Open(const std::string& dir, const WalOptions& options, std::unique_ptr<Wal>* wal,
                 WalContents* contents) {
  if (options.segment_size < kMinSegmentSize) {
    return Status::InvalidArgument("WAL segment size below " + std::to_string(kMinSegmentSize));
  }
  *contents = WalContents();
  std::vector<std::string> names;
  Status s = ListSegments(dir, &names);
  if (!s.ok() || names.empty()) return Status::NotFound("no WAL in " + dir);
  auto w = std::make_unique<Wal>(Passkey{}, dir, options);
  s = w->Lock();
  if (s.ok()) s = ListSegments(dir, &names);  // again, now that nobody else can change it
  if (!s.ok()) return s;
  RemoveTempFiles(dir);

  std::vector<Segment> segments;
  for (const auto& n : names) {
    Segment seg;
    ParseSegmentName(n, &seg.seq, &seg.first_index);
    if (!segments.empty() && seg.seq != segments.back().seq + 1) {
      return Status::Corruption("WAL " + dir + ": segment " + n + " does not follow " +
                                SegmentName(segments.back().seq, segments.back().first_index));
    }
    segments.push_back(seg);
  }
  s = w->ReadAll(std::move(segments), contents);
  if (!s.ok()) return s;
  w->pipeline_ = std::make_unique<WalFilePipeline>(dir, options.segment_size, options.zero_fill);
  *wal = std::move(w);
  return Status::OK();
}

// Reads every segment in order, applying each record to *contents, checks
// the checksum chain, repairs a torn tail, and sets up appending.
Status Wal::ReadAll(std::vector<Segment> segments, WalContents* contents) {
  std::vector<raftpb::Entry>& ents = contents->entries;
  bool have_metadata = false;
  uint32_t crc = 0;
  std::string data;
  std::string path;
  size_t tail = 0;      // end of the last good record of the last segment
  size_t tail_end = 0;  // end of the torn data after it

  for (size_t i = 0; i < segments.size(); i++) {
    const Segment& seg = segments[i];
    const bool last = i + 1 == segments.size();
    path = SegmentPath(seg);
    Status s = ReadFile(path, &data);
    if (!s.ok()) return s;
    auto corrupt = [&](size_t off, const std::string& what) {
      return Status::Corruption("WAL segment " + path + " at offset " + std::to_string(off) + ": " +
                                what);
    };

    WalSegmentHeader h;
    WalRecord rec;
    std::string why;
    // The first segment's chain starts from what the (released) segment
    // before it ended with, as its header records.
    const bool peeked = PeekSegmentHeader(data, &h);
    const uint32_t seed = i == 0 && peeked ? h.prev_checksum : crc;
    if (ParseWalRecord(data, 0, seed, &rec, &why) != WalParse::kOk ||
        rec.type != WalRecordType::kSegmentHeader || !DecodeWalSegmentHeader(rec.payload, &h)) {
      if (i > 0 && peeked && h.prev_checksum != crc) {
        return corrupt(0, "checksum chain broken: the previous segment ended with " +
                              std::to_string(crc) + ", this one continues from " +
                              std::to_string(h.prev_checksum));
      }
      return corrupt(0, "no valid segment header" + (why.empty() ? "" : ": " + why));
    }
    if (h.seq != seg.seq || h.first_index != seg.first_index) {
      return corrupt(0, "segment header says seq " + std::to_string(h.seq) + ", first index " +
                            std::to_string(h.first_index) + ", unlike the file name");
    }
    crc = rec.checksum;
    size_t off = rec.size;

    while (true) {
      why.clear();
      WalParse r = ParseWalRecord(data, off, crc, &rec, &why);
      if (r == WalParse::kOk) {
        std::string err;
        switch (rec.type) {
          case WalRecordType::kSegmentHeader:
            err = "segment header inside a segment";
            break;
          case WalRecordType::kMetadata:
            if (!have_metadata) {
              contents->metadata = std::string(rec.payload);
              have_metadata = true;
            } else if (rec.payload != contents->metadata) {
              err = "metadata differs from the earlier segments'";
            }
            break;
          case WalRecordType::kHardState:
            if (!contents->hard_state.ParseFromArray(rec.payload.data(),
                                                     static_cast<int>(rec.payload.size()))) {
              err = "undecodable hard state";
            }
            has_hard_state_ = true;
            break;
          case WalRecordType::kSnapshot: {
            uint64_t index, term;
            std::string_view conf_state;
            if (!DecodeWalSnapshotMarker(rec.payload, &index, &term, &conf_state) ||
                !contents->snapshot_conf_state.ParseFromArray(
                    conf_state.data(), static_cast<int>(conf_state.size()))) {
              err = "undecodable snapshot marker";
              break;
            }
            contents->snapshot_index = index;
            contents->snapshot_term = term;
            // Entries are contiguous, so those now in the snapshot are a prefix.
            if (!ents.empty() && index >= ents.front().index()) {
              size_t n = std::min<uint64_t>(ents.size(), index - ents.front().index() + 1);
              ents.erase(ents.begin(), ents.begin() + static_cast<ptrdiff_t>(n));
            }
            break;
          }
          case WalRecordType::kEntry: {
            raftpb::Entry e;
            if (!e.ParseFromArray(rec.payload.data(), static_cast<int>(rec.payload.size()))) {
              err = "undecodable entry";
              break;
            }
            last_entry_seq_ = seg.seq;
            const uint64_t idx = e.index();
            if (idx <= contents->snapshot_index) break;  // already in the snapshot
            if (!ents.empty()) {
              const uint64_t front = ents.front().index(), back = ents.back().index();
              if (idx <= back) {
                // Raft's overwrite rule: a new leader replaced this entry and
                // everything after it.
                ents.resize(idx < front ? 0 : idx - front);
              } else if (idx != back + 1) {
                err = "entry " + std::to_string(idx) + " leaves a gap after entry " +
                      std::to_string(back);
                break;
              }
            }
            ents.push_back(std::move(e));
            break;
          }
        }
        if (!err.empty()) return corrupt(off, err);
        crc = rec.checksum;
        off += rec.size;
        continue;
      }

      // No record at `off`: the end of this segment's data, if only zeros
      // follow; else a torn last write or damage.
      const size_t nz_end = NonZeroEnd(data, off);
      if (r == WalParse::kEnd && nz_end <= off) break;
      if (r == WalParse::kEnd) why = "zeroed record header before further data";
      if (!last) return corrupt(off, why + ", in a segment that is not the last");
      size_t found;
      if (h.version < 2) {
        // Written before records said whether they followed a sync: any
        // valid record after the damage makes it damage.
        if (FindWalRecordAfter(data, off, nz_end, crc, &found)) {
          return corrupt(off,
                         why + ", followed by a valid record at offset " + std::to_string(found));
        }
      } else if (FindRecordWrittenAfterSync(data, off, nz_end, crc, &found)) {
        return corrupt(off, why + ", followed by a valid record at offset " +
                                std::to_string(found) + " written after this data had been synced");
      }
      // Writes that never completed their fdatasync (a torn last write, or
      // unsynced records of which some reached the disk and some did not):
      // nothing acknowledged as durable is lost by cutting them off.
      tail_end = nz_end;
      break;
    }
    if (last) tail = off;
  }
  if (!have_metadata) return Status::Corruption("WAL " + dir_ + ": no metadata record");

  // Set up appending after the last good record.
  metadata_ = contents->metadata;
  segments_ = std::move(segments);
  crc_ = crc;
  snapshot_index_ = contents->snapshot_index;
  snapshot_term_ = contents->snapshot_term;
  snapshot_conf_state_ = contents->snapshot_conf_state.SerializeAsString();
  hard_state_ = contents->hard_state;
  last_index_ = snapshot_index_;
  if (!ents.empty()) last_index_ = std::max(last_index_, ents.back().index());
  file_path_ = path;
  Status s = OpenFile(path, O_RDWR, &file_);
  if (s.ok()) s = FileSize(file_.get(), path, &file_size_);
  if (!s.ok()) return s;
  offset_ = tail;
  if (tail_end > tail) {
    // Zero the torn bytes so that a later, shorter write cannot leave them
    // looking like data after its end.
    contents->discarded_bytes = tail_end - tail;
    s = ZeroRange(file_.get(), path, tail, tail_end);
  }
  if (s.ok() && file_size_ < options_.segment_size) {
    // Cut short (e.g. by a copy tool): preallocate again, so writes overwrite.
    s = Preallocate(file_.get(), path, file_size_, options_.segment_size, options_.zero_fill);
    file_size_ = options_.segment_size;
  }
  // What was read may not be durable yet (a process that died before its
  // fdatasync, the machine still up): make it so, since the next record is
  // marked as written after a sync (kWalAfterSyncFlag).
  if (s.ok()) s = SyncData(file_.get(), path);
  return s;
}

Status Wal::CheckEntries(std::span<const raftpb::Entry> entries) const {
  uint64_t last = last_index_;
  for (const raftpb::Entry& e : entries) {
    const uint64_t idx = e.index();
    if (e.ByteSizeLong() >= kMaxPayload) {
      return Status::InvalidArgument("WAL entry " + std::to_string(idx) + " is too big");
    }
    if (idx == 0) return Status::InvalidArgument("WAL entry with index 0");
    if (idx <= snapshot_index_) {
      return Status::InvalidArgument("WAL entry " + std::to_string(idx) +
                                     " is at or below the snapshot at " +
                                     std::to_string(snapshot_index_));
    }
    // An empty log may start anywhere; after that, no gaps.
    if (last != 0 && idx > last + 1) {
      return Status::InvalidArgument("WAL entry " + std::to_string(idx) + " leaves a gap after " +
                                     std::to_string(last));
    }
    last = idx;
  }
  return Status::OK();
}

Status Wal::Save(const raftpb::HardState* hard_state, std::span<const raftpb::Entry> entries,
                 bool sync) {
  if (!error_.ok()) return error_;
  Status s = CheckEntries(entries);  // also caches each entry's size
  if (!s.ok()) return s;
  for (const raftpb::Entry& e : entries) {
    const size_t n = static_cast<size_t>(e.GetCachedSize());
    s = Reserve(kWalRecordHeaderSize + n);
    if (!s.ok()) return s;
    crc_ = AppendWalRecord(&buf_, NextRecordType(WalRecordType::kEntry), crc_, n,
                           [&](uint8_t* p) { e.SerializeWithCachedSizesToArray(p); });
    last_index_ = e.index();
    last_entry_seq_ = segments_.back().seq;
  }
  if (hard_state != nullptr) {
    const size_t n = hard_state->ByteSizeLong();
    s = Reserve(kWalRecordHeaderSize + n);
    if (!s.ok()) return s;
    AppendHardState(*hard_state, n);
  }
  s = Flush();
  if (s.ok() && sync) s = SyncCurrent();
  return s;
}

void Wal::AppendHardState(const raftpb::HardState& hs, size_t size) {
  crc_ = AppendWalRecord(&buf_, NextRecordType(WalRecordType::kHardState), crc_, size,
                         [&](uint8_t* p) { hs.SerializeWithCachedSizesToArray(p); });
  hard_state_ = hs;
  has_hard_state_ = true;
}

Status Wal::SaveSnapshotMarker(uint64_t index, uint64_t term, const raftpb::ConfState& conf_state) {
  if (!error_.ok()) return error_;
  if (index < snapshot_index_) {
    return Status::InvalidArgument("WAL snapshot marker " + std::to_string(index) +
                                   " is below the last one, " + std::to_string(snapshot_index_));
  }
  std::string cs = conf_state.SerializeAsString();
  const std::string payload = EncodeWalSnapshotMarker(index, term, cs);
  Status s = Reserve(kWalRecordHeaderSize + payload.size());
  if (!s.ok()) return s;
  crc_ = AppendWalRecord(&buf_, NextRecordType(WalRecordType::kSnapshot), crc_, payload);
  snapshot_index_ = index;
  snapshot_term_ = term;
  snapshot_conf_state_ = std::move(cs);
  last_index_ = std::max(last_index_, index);
  s = Flush();
  // Durable before returning: the caller may release segments next, and
  // without the marker the log would then start after a gap.
  if (s.ok()) s = SyncCurrent();
  return s;
}

WalRecordType Wal::NextRecordType(WalRecordType type) const {
  return !unsynced_ && buf_.empty() ? WithAfterSyncFlag(type) : type;
}

Status Wal::Sync() {
  if (!error_.ok()) return error_;
  Status s = Flush();
  if (s.ok()) s = SyncCurrent();
  return s;
}

Status Wal::ReleaseBefore(uint64_t index) {
  // Every entry of segment i that is still part of the log is below the
  // first index of each later segment: a segment starts at the last index
  // plus one, and an entry written before that is either below it or was
  // since overwritten by a shorter log. So segment i can go if the smallest
  // first index after it is <= index. That makes the deletable segments a
  // prefix. The segment being written, and the one holding the last entry,
  // always stay, so reopening still knows where the log ends.
  size_t n = segments_.size();
  std::vector<uint64_t> min_first_after(n, UINT64_MAX);
  for (size_t i = n - 1; i > 0; i--) {
    min_first_after[i - 1] = std::min(min_first_after[i], segments_[i].first_index);
  }
  size_t k = 0;
  while (k + 1 < n && min_first_after[k] <= index && segments_[k].seq < last_entry_seq_) k++;
  if (k == 0) return Status::OK();
  // Oldest first, so that a crash part way leaves a contiguous suffix.
  size_t removed = 0;
  Status s;
  for (; removed < k; removed++) {
    s = RemoveFile(SegmentPath(segments_[removed]));
    if (!s.ok()) break;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(removed));
  if (s.ok()) s = SyncDir(dir_);
  return s;
}

Status Wal::Flush() {
  if (buf_.empty()) return Status::OK();
  Status s = WriteAt(file_.get(), file_path_, buf_, offset_);
  if (!s.ok()) {
    error_ = s;
    return s;
  }
  offset_ += buf_.size();
  buf_.clear();
  unsynced_ = true;
  return Status::OK();
}

Status Wal::SyncCurrent() {
  if (!unsynced_) return Status::OK();
  Status s = SyncData(file_.get(), file_path_);
  sync_count_.fetch_add(1, std::memory_order_relaxed);
  if (!s.ok()) {
    error_ = s;
    return s;
  }
  unsynced_ = false;
  return Status::OK();
}

Status Wal::Reserve(size_t record_size) {
  if (offset_ + buf_.size() + record_size <= file_size_) return Status::OK();
  Status s = Flush();
  if (s.ok()) s = Roll(record_size);
  return s;
}

Status Wal::Roll(size_t min_free) {
  Status s;
  if (file_.valid()) {
    // The old segment's data must be durable before the new segment is, or
    // a crash could leave a hole in the chain.
    s = SyncCurrent();
    if (!s.ok()) return s;
  }
  UniqueFd fd;
  std::string tmp;
  s = pipeline_->Take(&fd, &tmp);
  if (!s.ok()) {
    error_ = s;
    return s;
  }
  const Segment seg{segments_.empty() ? 1 : segments_.back().seq + 1, last_index_ + 1};
  const std::string path = SegmentPath(seg);

  // Each segment starts with what a reader needs if all older segments were
  // released: the chain seed, the metadata, the snapshot marker, the HardState.
  std::string head;
  uint32_t crc = AppendWalRecord(&head, WalRecordType::kSegmentHeader, crc_,
                                 EncodeWalSegmentHeader({seg.seq, seg.first_index, crc_}));
  crc = AppendWalRecord(&head, WalRecordType::kMetadata, crc, metadata_);
  if (snapshot_index_ > 0) {
    crc = AppendWalRecord(
        &head, WalRecordType::kSnapshot, crc,
        EncodeWalSnapshotMarker(snapshot_index_, snapshot_term_, snapshot_conf_state_));
  }
  if (has_hard_state_) {
    const size_t n = hard_state_.ByteSizeLong();
    crc = AppendWalRecord(&head, WalRecordType::kHardState, crc, n,
                          [&](uint8_t* p) { hard_state_.SerializeWithCachedSizesToArray(p); });
  }

  uint64_t size = 0;
  s = FileSize(fd.get(), tmp, &size);
  const uint64_t need = head.size() + min_free;
  if (s.ok() && need > size) {
    s = Preallocate(fd.get(), tmp, size, need, options_.zero_fill);
    size = need;
  }
  if (s.ok()) s = WriteAt(fd.get(), tmp, head, 0);
  if (s.ok()) {
    s = SyncData(fd.get(), tmp);
    sync_count_.fetch_add(1, std::memory_order_relaxed);
  }
  // Only a complete, synced segment gets a segment's name.
  if (s.ok()) s = RenameFile(tmp, path);
  if (s.ok()) s = SyncDir(dir_);
  if (!s.ok()) {
    fd.Reset();
    RemoveFile(tmp);
    error_ = s;
    return s;
  }
  segments_.push_back(seg);
  file_ = std::move(fd);
  file_path_ = path;
  file_size_ = size;
  offset_ = head.size();
  crc_ = crc;
  unsynced_ = false;
  return Status::OK();
}

}  // namespace capstan::raft
