// StoreView: a consistent read of every table of an MvccStore, as of one
// applied log index: one LMDB read transaction, taken by MvccStore::View
// while writers continue. For exporters (etcd snapshots) that need the raw
// rows: revision keys as in storage/revision.h, values as stored.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "storage/lmdb_txn.h"
#include "storage/mvcc_store.h"
#include "storage/status.h"

namespace capstan {

class StoreView {
 public:
  // Visits one row; a non-OK status stops the scan and is returned.
  using RowFn = std::function<Status(std::string_view key, std::string_view value)>;

  struct Tables {
    MDB_dbi key, meta, lease, alarm, member;
  };

  // Reads the meta values at once; check status() before using the view.
  StoreView(const LmdbTxn& txn, const Tables& tables);

  Status status() const { return status_; }
  uint64_t applied_index() const { return applied_index_; }
  uint64_t applied_term() const { return applied_term_; }
  // The compaction the key index is at, and the one physically finished (<=).
  int64_t scheduled_compact_rev() const { return scheduled_compact_rev_; }
  int64_t finished_compact_rev() const { return finished_compact_rev_; }

  // Revision key -> serialized mvccpb.KeyValue, in revision order.
  Status ScanRevisions(const RowFn& fn) const;
  Status ScanAux(Table table, const RowFn& fn) const;

 private:
  Status Scan(MDB_dbi dbi, const RowFn& fn) const;

  const LmdbTxn& txn_;
  Tables tables_;
  Status status_;
  uint64_t applied_index_ = 0, applied_term_ = 0;
  int64_t scheduled_compact_rev_ = 0, finished_compact_rev_ = 0;
};

}  // namespace capstan
