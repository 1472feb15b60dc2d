// EtcdDataDir: what a data dir holds before the store is opened, and the
// migration from etcd that follows from it:
//
//   <data-dir>/member/db/          Capstan's store (LMDB)     -> start as is
//   <data-dir>/member/snap/db      etcd's backend (bbolt)     -> import it
//   --initial-snapshot FILE        an etcd snapshot           -> import it
//
// An etcd data dir is imported in place: its backend becomes the store, and
// etcd's member/snap and member/wal move to <data-dir>/etcd-backup/member/,
// so that `etcd --data-dir <data-dir>/etcd-backup` still starts the
// original. etcd's WAL is not replayed: entries it holds beyond the backend
// (writes of the last ~100 ms before an unclean stop) are not imported, so
// stop etcd cleanly first. The steps are ordered so that a crash at any
// point leaves a data dir that the next start resumes or starts from.
#pragma once

#include <string>

#include "storage/etcd_snapshot_reader.h"
#include "storage/mvcc_store.h"
#include "storage/status.h"

namespace capstan {

class EtcdDataDir {
 public:
  struct Result {
    bool imported = false;
    bool snapshot_ignored = false;  // a store existed, so --initial-snapshot was not used
    std::string source;             // the file imported
    std::string backup_dir;         // where etcd's files went (data dir imports)
    EtcdImportInfo info;
  };

  // Prepares <data_dir>/member/db for MvccStore::Open as above.
  // `initial_snapshot` may be empty. Refuses (FailedPrecondition) a snapshot
  // given for a data dir that holds etcd's data.
  static Status PrepareStore(const std::string& data_dir, const std::string& initial_snapshot,
                             const StoreOptions& options, Result* result);

  static std::string StoreDir(const std::string& data_dir) { return data_dir + "/member/db"; }
};

}  // namespace capstan
