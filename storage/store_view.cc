#include "storage/store_view.h"

#include "storage/meta_keys.h"
#include "storage/revision.h"

namespace capstan {
namespace {

Status ReadMeta(const LmdbTxn& txn, MDB_dbi dbi, std::string_view key, uint64_t* out) {
  std::string_view v;
  Status s = txn.Get(dbi, key, &v);
  *out = s.ok() && v.size() == 8 ? GetBigEndian64(v.data()) : 0;
  return s.IsNotFound() ? Status::OK() : s;
}

}  // namespace

StoreView::StoreView(const LmdbTxn& txn, const Tables& tables) : txn_(txn), tables_(tables) {
  uint64_t scheduled = 0, finished = 0;
  status_ = ReadMeta(txn, tables.meta, kAppliedIndexKey, &applied_index_);
  if (status_.ok()) status_ = ReadMeta(txn, tables.meta, kAppliedTermKey, &applied_term_);
  if (status_.ok()) status_ = ReadMeta(txn, tables.meta, kScheduledCompactKey, &scheduled);
  if (status_.ok()) status_ = ReadMeta(txn, tables.meta, kFinishedCompactKey, &finished);
  scheduled_compact_rev_ = static_cast<int64_t>(scheduled);
  finished_compact_rev_ = static_cast<int64_t>(finished);
}

Status StoreView::Scan(MDB_dbi dbi, const RowFn& fn) const {
  LmdbCursor c(txn_, dbi);
  for (bool ok = c.First(); ok; ok = c.Next()) {
    Status s = fn(c.key(), c.value());
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status StoreView::ScanRevisions(const RowFn& fn) const { return Scan(tables_.key, fn); }

Status StoreView::ScanAux(Table table, const RowFn& fn) const {
  switch (table) {
    case Table::kMeta:
      return Scan(tables_.meta, fn);
    case Table::kLease:
      return Scan(tables_.lease, fn);
    case Table::kAlarm:
      return Scan(tables_.alarm, fn);
    case Table::kMember:
      return Scan(tables_.member, fn);
  }
  return Status::InvalidArgument("unknown table");
}

}  // namespace capstan
