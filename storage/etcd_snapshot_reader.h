// EtcdSnapshotReader: imports etcd's backend (a snapshot from `etcdctl
// snapshot save`, with or without its sha256 trailer, or the member/snap/db
// of an etcd data dir) into a new store: every revision of the key bucket
// (so history and the compaction point are kept), leases with their
// remaining TTLs, compaction revisions, alarms, and the applied index
// (consistent_index), so the log continues after it. Members are not
// imported: the member's identity comes from its flags, as with
// `etcdctl snapshot restore`.
#pragma once

#include <cstdint>
#include <string>

#include "storage/mvcc_store.h"
#include "storage/status.h"

namespace capstan {

struct EtcdImportInfo {
  bool had_hash = false;  // a sha256 trailer was present (and matched)
  int64_t revision = 0;   // the last revision in the key bucket
  int64_t compact_revision = 0;
  uint64_t applied_index = 0;
  uint64_t revisions = 0;  // rows of the key bucket
  uint64_t leases = 0;
  uint64_t alarms = 0;
  bool auth_enabled = false;  // Capstan does not serve auth: users and roles are dropped
  uint64_t auth_users = 0;
};

class EtcdSnapshotReader {
 public:
  // Checks `path` (the sha256 trailer if there is one, then bbolt's own
  // structure as it is read) and creates the store in `store_dir`, which must
  // not hold one. On error the caller removes `store_dir`.
  static Status Import(const std::string& path, const std::string& store_dir,
                       const StoreOptions& options, EtcdImportInfo* info);

  // Verifies the sha256 trailer of an etcd snapshot, as `etcdctl snapshot
  // restore` does: a file whose size is 32 past a multiple of 512 has one.
  static Status CheckHash(const std::string& path, bool* had_hash);
};

}  // namespace capstan
