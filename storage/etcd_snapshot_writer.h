// EtcdSnapshotWriter: exports the store as etcd's backend: a bbolt file with
// etcd 3.5's buckets and keys, which `etcdctl snapshot status/restore` and
// etcd 3.4 and 3.5 read. Everything comes from one consistent view of the
// store (MvccStore::View), so the file is the state at one applied index.
//
// Layout (top-level buckets, each in key order):
//   alarm            AlarmMember{memberID, alarm} -> ""
//   auth             authRevision -> 1 (8-byte BE); auth is never enabled
//   authRoles        (empty)
//   authUsers        (empty)
//   cluster          clusterVersion -> "3.5.0"
//   key              every stored revision, key and value byte for byte
//   lease            id (8-byte BE) -> leasepb.Lease{ID, TTL, RemainingTTL}
//   members          hex id -> Member JSON, one per given member
//   members_removed  (empty)
//   meta             confState (the members as voters), consistent_index
//                    (= applied index), finishedCompactRev,
//                    scheduledCompactRev, term (applied term, at least 1)
//
// etcd 3.4 ignores the keys it does not know (term, confState, a 3.5
// clusterVersion); etcd 3.6 needs term and confState to take the file for
// 3.5 data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/etcd_schema.h"
#include "storage/mvcc_store.h"
#include "storage/status.h"

namespace capstan {

struct EtcdSnapshotOptions {
  std::vector<etcd::Member> members;
  std::string cluster_version = "3.5.0";
  size_t page_size = 4096;
};

// What a snapshot holds, for logs and tests.
struct EtcdSnapshotInfo {
  uint64_t size = 0;     // bytes (without any sha256 trailer)
  int64_t revision = 0;  // the last revision in the key bucket
  int64_t compact_revision = 0;
  uint64_t applied_index = 0;
  uint64_t revisions = 0;  // rows of the key bucket
  uint64_t leases = 0;
};

class EtcdSnapshotWriter {
 public:
  // Writes the snapshot to `path` (created or truncated), synced.
  static Status Write(const MvccStore& store, const EtcdSnapshotOptions& options,
                      const std::string& path, EtcdSnapshotInfo* info);
  // Writes it to `fd` (an empty file), which is closed afterwards.
  static Status Write(const MvccStore& store, const EtcdSnapshotOptions& options, int fd,
                      EtcdSnapshotInfo* info);
};

}  // namespace capstan
