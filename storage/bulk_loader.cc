#include "storage/bulk_loader.h"

#include <algorithm>

#include "storage/meta_keys.h"
#include "storage/revision.h"

namespace capstan {
namespace {

// LMDB keeps a transaction's dirty pages in memory (and caps their number):
// commit after about this many bytes of rows.
constexpr size_t kBytesPerTxn = size_t{64} << 20;

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  PutBigEndian64(s.data(), v);
  return s;
}

}  // namespace

BulkLoader::BulkLoader(MDB_env* env, const StoreView::Tables& tables)
    : env_(env), tables_(tables) {}

Status BulkLoader::Begin() { return txn_ ? Status::OK() : txn_.Begin(env_, false); }

Status BulkLoader::Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  Status s = Begin();
  if (s.ok()) s = txn_.Put(dbi, key, value, flags);
  if (!s.ok()) return s;
  pending_bytes_ += key.size() + value.size();
  if (pending_bytes_ >= kBytesPerTxn) {
    pending_bytes_ = 0;
    return txn_.Commit();
  }
  return Status::OK();
}

Status BulkLoader::PutRevision(std::string_view key, std::string_view value) {
  Revision rev;
  bool tombstone;
  if (!DecodeRevisionKey(key, &rev, &tombstone)) {
    return Status::InvalidArgument("not a revision key");
  }
  // Ascending keys append to the last page, as the store's own writes do.
  return Put(tables_.key, key, value, MDB_APPEND);
}

Status BulkLoader::PutAux(Table table, std::string_view key, std::string_view value) {
  MDB_dbi dbi = tables_.meta;
  switch (table) {
    case Table::kMeta:
      dbi = tables_.meta;
      break;
    case Table::kLease:
      dbi = tables_.lease;
      break;
    case Table::kAlarm:
      dbi = tables_.alarm;
      break;
    case Table::kMember:
      dbi = tables_.member;
      break;
  }
  return Put(dbi, key, value, 0);
}

void BulkLoader::SetApplied(uint64_t index, uint64_t term) {
  applied_index_ = index;
  applied_term_ = term;
}

void BulkLoader::SetCompacted(int64_t scheduled, int64_t finished) {
  scheduled_ = scheduled;
  finished_ = finished;
}

Status BulkLoader::Finish() {
  Status s;
  if (applied_index_ > 0) {
    if (s.ok()) s = Put(tables_.meta, kAppliedIndexKey, EncodeU64(applied_index_), 0);
    if (s.ok()) s = Put(tables_.meta, kAppliedTermKey, EncodeU64(applied_term_), 0);
  }
  if (scheduled_ > 0) {
    const auto scheduled = static_cast<uint64_t>(scheduled_);
    const auto finished = static_cast<uint64_t>(std::min(finished_, scheduled_));
    if (s.ok()) s = Put(tables_.meta, kScheduledCompactKey, EncodeU64(scheduled), 0);
    if (s.ok() && finished > 0) s = Put(tables_.meta, kFinishedCompactKey, EncodeU64(finished), 0);
  }
  if (s.ok() && txn_) s = txn_.Commit();
  if (s.ok()) s = LmdbStatus(mdb_env_sync(env_, 1), "sync");
  return s;
}

}  // namespace capstan
