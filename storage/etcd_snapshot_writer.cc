#include "storage/etcd_snapshot_writer.h"

#include <algorithm>
#include <map>

#include "storage/bbolt_writer.h"
#include "storage/revision.h"
#include "storage/store_view.h"

namespace capstan {
namespace {

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  PutBigEndian64(s.data(), v);
  return s;
}

// Writes a small bucket from a sorted map.
Status WriteBucket(BboltWriter* w, std::string_view name,
                   const std::map<std::string, std::string>& rows) {
  Status s = w->BeginBucket(name);
  for (auto it = rows.begin(); s.ok() && it != rows.end(); ++it) s = w->Put(it->first, it->second);
  return s.ok() ? w->EndBucket() : s;
}

Status WriteView(const StoreView& view, const EtcdSnapshotOptions& options, BboltWriter* w,
                 EtcdSnapshotInfo* info) {
  info->applied_index = view.applied_index();
  info->compact_revision = view.scheduled_compact_rev();

  // Capstan's alarm rows: member id (8-byte BE), then the alarm type (1 byte).
  std::map<std::string, std::string> alarms;
  Status s = view.ScanAux(Table::kAlarm, [&](std::string_view k, std::string_view) {
    if (k.size() != 9) return Status::Corruption("bad alarm row");
    alarms[etcd::EncodeAlarmMember(GetBigEndian64(k.data()), static_cast<unsigned char>(k[8]))];
    return Status::OK();
  });
  if (s.ok()) s = WriteBucket(w, etcd::kAlarmBucket, alarms);
  // A fresh etcd's auth store: disabled, at revision 1.
  if (s.ok())
    s = WriteBucket(w, etcd::kAuthBucket, {{std::string(etcd::kAuthRevisionKey), EncodeU64(1)}});
  if (s.ok()) s = WriteBucket(w, etcd::kAuthRolesBucket, {});
  if (s.ok()) s = WriteBucket(w, etcd::kAuthUsersBucket, {});
  if (s.ok()) {
    s = WriteBucket(w, etcd::kClusterBucket,
                    {{std::string(etcd::kClusterVersionKey), options.cluster_version}});
  }

  // The revisions, as stored: Capstan's values are etcd's mvccpb.KeyValue
  // records under etcd's revision keys.
  if (s.ok()) s = w->BeginBucket(etcd::kKeyBucket);
  if (s.ok()) {
    s = view.ScanRevisions([&](std::string_view k, std::string_view v) {
      Revision rev;
      bool tombstone;
      if (!DecodeRevisionKey(k, &rev, &tombstone)) return Status::Corruption("bad revision key");
      info->revision = rev.main;
      info->revisions++;
      return w->Put(k, v);
    });
  }
  if (s.ok()) s = w->EndBucket();

  // Capstan's lease rows: granted TTL, persisted remaining TTL (8-byte BE
  // each). etcd sets RemainingTTL only for checkpointed leases.
  if (s.ok()) s = w->BeginBucket(etcd::kLeaseBucket);
  if (s.ok()) {
    s = view.ScanAux(Table::kLease, [&](std::string_view k, std::string_view v) {
      if (k.size() != 8 || v.size() < 16) return Status::Corruption("bad lease row");
      etcd::Lease l;
      l.id = static_cast<int64_t>(GetBigEndian64(k.data()));
      l.ttl = static_cast<int64_t>(GetBigEndian64(v.data()));
      const auto remaining = static_cast<int64_t>(GetBigEndian64(v.data() + 8));
      l.remaining_ttl = remaining > 0 && remaining < l.ttl ? remaining : 0;
      info->leases++;
      return w->Put(k, etcd::EncodeLease(l));
    });
  }
  if (s.ok()) s = w->EndBucket();

  std::map<std::string, std::string> members;
  std::vector<uint64_t> voters;
  for (const etcd::Member& m : options.members) {
    members[etcd::MemberKey(m.id)] = etcd::EncodeMember(m);
    if (!m.is_learner) voters.push_back(m.id);
  }
  std::sort(voters.begin(), voters.end());
  if (s.ok()) s = WriteBucket(w, etcd::kMembersBucket, members);
  if (s.ok()) s = WriteBucket(w, etcd::kMembersRemovedBucket, {});

  std::map<std::string, std::string> meta;
  meta[std::string(etcd::kConsistentIndexKey)] = EncodeU64(view.applied_index());
  // etcd 3.6 takes a backend with a non-zero term and a confState for 3.5
  // data (and refuses 3.4 data): a store that never applied an entry still says 1.
  meta[std::string(etcd::kTermKey)] = EncodeU64(std::max<uint64_t>(view.applied_term(), 1));
  if (!voters.empty()) meta[std::string(etcd::kConfStateKey)] = etcd::EncodeConfState(voters);
  if (view.scheduled_compact_rev() > 0) {
    meta[std::string(etcd::kScheduledCompactKey)] =
        etcd::EncodeCompactRev(view.scheduled_compact_rev());
  }
  if (view.finished_compact_rev() > 0) {
    meta[std::string(etcd::kFinishedCompactKey)] =
        etcd::EncodeCompactRev(view.finished_compact_rev());
  }
  if (s.ok()) s = WriteBucket(w, etcd::kMetaBucket, meta);
  return s;
}

Status WriteAll(const MvccStore& store, const EtcdSnapshotOptions& options,
                std::unique_ptr<BboltWriter> w, EtcdSnapshotInfo* info) {
  *info = EtcdSnapshotInfo();
  Status s =
      store.View([&](const StoreView& view) { return WriteView(view, options, w.get(), info); });
  if (s.ok()) s = w->Finish();
  if (s.ok()) info->size = w->file_size();
  return s;
}

}  // namespace

Status EtcdSnapshotWriter::Write(const MvccStore& store, const EtcdSnapshotOptions& options,
                                 const std::string& path, EtcdSnapshotInfo* info) {
  std::unique_ptr<BboltWriter> w;
  Status s = BboltWriter::Create(path, options.page_size, &w);
  return s.ok() ? WriteAll(store, options, std::move(w), info) : s;
}

Status EtcdSnapshotWriter::Write(const MvccStore& store, const EtcdSnapshotOptions& options, int fd,
                                 EtcdSnapshotInfo* info) {
  std::unique_ptr<BboltWriter> w;
  Status s = BboltWriter::Create(fd, options.page_size, &w);
  return s.ok() ? WriteAll(store, options, std::move(w), info) : s;
}

}  // namespace capstan
