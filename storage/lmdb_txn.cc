#include "storage/lmdb_txn.h"

namespace capstan {

Status LmdbStatus(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string msg = std::string(what) + ": " + mdb_strerror(rc);
  if (rc == MDB_NOTFOUND) return Status::NotFound(msg);
  if (rc == MDB_MAP_FULL) return Status::ResourceExhausted(msg);
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID) {
    return Status::Corruption(msg);
  }
  return Status::IOError(msg);
}

Status LmdbTxn::Begin(MDB_env* env, bool read_only) {
  Abort();
  return LmdbStatus(mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_), "txn begin");
}

Status LmdbTxn::Commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;  // committed or not, the handle is freed
  return LmdbStatus(rc, "txn commit");
}

Status LmdbTxn::Get(MDB_dbi dbi, std::string_view key, std::string_view* value) const {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_SUCCESS) *value = FromVal(v);
  return LmdbStatus(rc, "get");
}

Status LmdbTxn::Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = ToVal(key), v = ToVal(value);
  return LmdbStatus(mdb_put(txn_, dbi, &k, &v, flags), "put");
}

Status LmdbTxn::Delete(MDB_dbi dbi, std::string_view key) {
  MDB_val k = ToVal(key);
  return LmdbStatus(mdb_del(txn_, dbi, &k, nullptr), "delete");
}

bool LmdbCursor::Op(MDB_cursor_op op) {
  return cursor_ != nullptr && mdb_cursor_get(cursor_, &key_, &value_, op) == MDB_SUCCESS;
}

bool LmdbCursor::Seek(std::string_view key) {
  if (key.empty()) return First();
  key_ = ToVal(key);
  return Op(MDB_SET_RANGE);
}
bool LmdbCursor::First() { return Op(MDB_FIRST); }
bool LmdbCursor::Last() { return Op(MDB_LAST); }
bool LmdbCursor::Next() { return Op(MDB_NEXT); }

}  // namespace capstan
