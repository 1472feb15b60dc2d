// BulkLoader: fills an empty store's tables directly, row by row, for
// importing another store's data (an etcd snapshot) with its revisions
// unchanged. Rows go into LMDB transactions of bounded size (a single one
// could not hold a large import). Used through MvccStore::BulkLoad, after
// which the store is opened normally and rebuilds its key index from the rows.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string_view>

#include "storage/lmdb_txn.h"
#include "storage/mvcc_store.h"
#include "storage/status.h"
#include "storage/store_view.h"

namespace capstan {

class BulkLoader {
 public:
  BulkLoader(MDB_env* env, const StoreView::Tables& tables);

  // A revision row: revision key (storage/revision.h) -> serialized
  // mvccpb.KeyValue. Keys must ascend.
  Status PutRevision(std::string_view key, std::string_view value);
  Status PutAux(Table table, std::string_view key, std::string_view value);
  // What the store records beside the rows (see MvccStore).
  void SetApplied(uint64_t index, uint64_t term);
  void SetCompacted(int64_t scheduled, int64_t finished);

  // Commits what is pending and syncs. Called by MvccStore::BulkLoad.
  Status Finish();

 private:
  Status Begin();
  Status Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags);

  MDB_env* env_;
  StoreView::Tables tables_;
  LmdbTxn txn_;
  size_t pending_bytes_ = 0;
  uint64_t applied_index_ = 0, applied_term_ = 0;
  int64_t scheduled_ = 0, finished_ = 0;
};

}  // namespace capstan
