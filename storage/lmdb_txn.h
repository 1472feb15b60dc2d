// LmdbTxn: an RAII LMDB transaction (aborted unless committed) plus the few
// typed helpers the store needs. Errors become Status with LMDB's own text.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>

#include "storage/status.h"

namespace capstan {

Status LmdbStatus(int rc, std::string_view what);

inline MDB_val ToVal(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class LmdbTxn {
 public:
  LmdbTxn() = default;
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  LmdbTxn(LmdbTxn&& o) noexcept : txn_(o.txn_) { o.txn_ = nullptr; }
  LmdbTxn& operator=(LmdbTxn&& o) noexcept {
    if (this != &o) {
      Abort();
      txn_ = o.txn_;
      o.txn_ = nullptr;
    }
    return *this;
  }
  ~LmdbTxn() { Abort(); }

  Status Begin(MDB_env* env, bool read_only);
  Status Commit();
  void Abort() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }

  // NotFound when absent. The view stays valid until the txn ends or writes.
  Status Get(MDB_dbi dbi, std::string_view key, std::string_view* value) const;
  Status Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  Status Delete(MDB_dbi dbi, std::string_view key);

 private:
  MDB_txn* txn_ = nullptr;
};

// RAII cursor.
class LmdbCursor {
 public:
  LmdbCursor(const LmdbTxn& txn, MDB_dbi dbi) { mdb_cursor_open(txn.get(), dbi, &cursor_); }
  ~LmdbCursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  LmdbCursor(const LmdbCursor&) = delete;
  LmdbCursor& operator=(const LmdbCursor&) = delete;

  // Positions at the first key >= `key` (or the first key when empty).
  bool Seek(std::string_view key);
  bool First();
  bool Last();
  bool Next();
  std::string_view key() const { return FromVal(key_); }
  std::string_view value() const { return FromVal(value_); }
  Status Delete() { return LmdbStatus(mdb_cursor_del(cursor_, 0), "cursor delete"); }

 private:
  bool Op(MDB_cursor_op op);
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
};

}  // namespace capstan
