#include "storage/etcd_snapshot_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kv.pb.h"
#include "storage/bbolt_reader.h"
#include "storage/bulk_loader.h"
#include "storage/etcd_schema.h"
#include "storage/revision.h"
#include "storage/sha256.h"

namespace capstan {
namespace {

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

std::string Bucket(std::string_view name) { return std::string(name); }

// Capstan's lease row: granted TTL, remaining TTL (8-byte BE each).
std::string LeaseRow(int64_t ttl, int64_t remaining) {
  std::string v(16, '\0');
  PutBigEndian64(v.data(), static_cast<uint64_t>(ttl));
  PutBigEndian64(v.data() + 8, static_cast<uint64_t>(remaining));
  return v;
}

// Capstan's alarm row key: member id (8-byte BE), alarm type (1 byte).
std::string AlarmKey(uint64_t member, int type) {
  std::string k(9, '\0');
  PutBigEndian64(k.data(), member);
  k[8] = static_cast<char>(type);
  return k;
}

Status Load(const BboltReader& db, BulkLoader* loader, EtcdImportInfo* info) {
  if (!db.HasBucket({Bucket(etcd::kKeyBucket)})) {
    return Status::Corruption("not an etcd backend: no \"key\" bucket");
  }
  // The store decodes every row when it opens: a row it cannot decode is
  // refused here, not left to make the imported store unopenable.
  mvccpb::KeyValue kv;
  Status s = db.ForEach({Bucket(etcd::kKeyBucket)},
                        [&](std::string_view k, std::string_view v, bool is_bucket) {
                          Revision rev;
                          bool tombstone;
                          if (is_bucket || !DecodeRevisionKey(k, &rev, &tombstone)) {
                            return Status::Corruption("etcd key bucket: bad revision key");
                          }
                          if (!kv.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                            return Status::Corruption("etcd key bucket: bad value at revision " +
                                                      std::to_string(rev.main));
                          }
                          info->revision = rev.main;
                          info->revisions++;
                          return loader->PutRevision(k, v);
                        });
  if (!s.ok()) return s;

  if (db.HasBucket({Bucket(etcd::kLeaseBucket)})) {
    s = db.ForEach({Bucket(etcd::kLeaseBucket)},
                   [&](std::string_view k, std::string_view v, bool is_bucket) {
                     etcd::Lease l;
                     if (is_bucket || k.size() != 8 || !etcd::DecodeLease(v, &l)) {
                       return Status::Corruption("etcd lease bucket: bad lease");
                     }
                     // A lease that was never checkpointed has its full TTL left.
                     const int64_t remaining = l.remaining_ttl > 0 ? l.remaining_ttl : l.ttl;
                     info->leases++;
                     return loader->PutAux(Table::kLease, k, LeaseRow(l.ttl, remaining));
                   });
    if (!s.ok()) return s;
  }

  if (db.HasBucket({Bucket(etcd::kAlarmBucket)})) {
    s = db.ForEach(
        {Bucket(etcd::kAlarmBucket)}, [&](std::string_view k, std::string_view, bool is_bucket) {
          uint64_t member;
          int type;
          if (is_bucket || !etcd::DecodeAlarmMember(k, &member, &type) || type < 0 || type > 255) {
            return Status::Corruption("etcd alarm bucket: bad alarm");
          }
          if (type == 0) return Status::OK();  // NONE
          info->alarms++;
          return loader->PutAux(Table::kAlarm, AlarmKey(member, type), "");
        });
    if (!s.ok()) return s;
  }

  const std::vector<std::string> meta = {Bucket(etcd::kMetaBucket)};
  std::string v;
  uint64_t index = 0, term = 0;
  if (db.Get(meta, etcd::kConsistentIndexKey, &v).ok() && v.size() == 8) {
    index = GetBigEndian64(v.data());
  }
  if (db.Get(meta, etcd::kTermKey, &v).ok() && v.size() == 8) term = GetBigEndian64(v.data());
  loader->SetApplied(index, term);
  info->applied_index = index;

  // etcd: the finished compaction is the compaction point; a scheduled one
  // beyond it is resumed at start-up. Capstan's store keeps the same pair.
  int64_t scheduled = 0, finished = 0;
  if (db.Get(meta, etcd::kScheduledCompactKey, &v).ok() && !etcd::DecodeCompactRev(v, &scheduled)) {
    return Status::Corruption("etcd meta bucket: bad scheduledCompactRev");
  }
  if (db.Get(meta, etcd::kFinishedCompactKey, &v).ok() && !etcd::DecodeCompactRev(v, &finished)) {
    return Status::Corruption("etcd meta bucket: bad finishedCompactRev");
  }
  scheduled = std::max(scheduled, finished);
  loader->SetCompacted(scheduled, finished);
  info->compact_revision = scheduled;

  const std::vector<std::string> auth = {Bucket(etcd::kAuthBucket)};
  info->auth_enabled = db.Get(auth, etcd::kAuthEnabledKey, &v).ok() && v == std::string(1, '\1');
  if (db.HasBucket({Bucket(etcd::kAuthUsersBucket)})) {
    s = db.ForEach({Bucket(etcd::kAuthUsersBucket)}, [&](std::string_view, std::string_view, bool) {
      info->auth_users++;
      return Status::OK();
    });
  }
  return s;
}

}  // namespace

Status EtcdSnapshotReader::CheckHash(const std::string& path, bool* had_hash) {
  *had_hash = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  struct stat st {};
  Status s;
  if (::fstat(fd, &st) != 0) s = Errno("stat " + path);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (s.ok() && size % 512 == Sha256::kDigestSize) {
    *had_hash = true;
    Sha256 h;
    std::string buf(size_t{1} << 20, '\0');
    uint64_t off = 0;
    const uint64_t end = size - Sha256::kDigestSize;
    while (s.ok() && off < end) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - off));
      const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        s = n < 0 ? Errno("read " + path) : Status::IOError("short read of " + path);
        break;
      }
      h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
      off += static_cast<uint64_t>(n);
    }
    std::string trailer(Sha256::kDigestSize, '\0');
    if (s.ok() && ::pread(fd, trailer.data(), trailer.size(), static_cast<off_t>(end)) !=
                      static_cast<ssize_t>(trailer.size())) {
      s = Errno("read " + path);
    }
    if (s.ok() && h.Finish() != trailer) {
      s = Status::Corruption("snapshot " + path + ": sha256 mismatch (damaged or truncated)");
    }
  }
  ::close(fd);
  return s;
}

Status EtcdSnapshotReader::Import(const std::string& path, const std::string& store_dir,
                                  const StoreOptions& options, EtcdImportInfo* info) {
  *info = EtcdImportInfo();
  Status s = CheckHash(path, &info->had_hash);
  if (!s.ok()) return s;
  std::unique_ptr<BboltReader> db;
  if (!(s = BboltReader::Open(path, &db)).ok()) return s;
  return MvccStore::BulkLoad(store_dir, options,
                             [&](BulkLoader* loader) { return Load(*db, loader, info); });
}

}  // namespace capstan
