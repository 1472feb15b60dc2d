// MvccStore: etcd's multi-version key-value model on LMDB.
//
// Values live in LMDB keyed by revision (append-only, so writes are cheap
// page appends); KeyIndex maps user keys to revisions in memory and is rebuilt
// from LMDB at start-up. One WriteBatch (the apply loop's) writes at a time;
// any number of readers run concurrently at the published revision.
//
// Durability: the log in front of the store makes a write durable before it
// is applied; the applied log index is written in the same LMDB transaction
// as the data it covers, so replay after a crash is exact. LMDB commits
// without any fsync (MDB_NOSYNC); Sync() takes a checkpoint (see
// storage/lmdb_checkpoint.h) that makes everything applied so far durable,
// after which the log may be released. After a power loss the store reopens
// at the last checkpoint and the log replays the rest.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kv.pb.h"
#include "storage/key_index.h"
#include "storage/lessor.h"
#include "storage/lmdb_txn.h"
#include "storage/status.h"

namespace capstan {

class WriteBatch;
class StoreView;   // storage/store_view.h
class BulkLoader;  // storage/bulk_loader.h

// The error texts are etcd's (the API layer adds "etcdserver: ").
inline constexpr const char* kErrCompacted = "mvcc: required revision has been compacted";
inline constexpr const char* kErrFutureRev = "mvcc: required revision is a future revision";

struct StoreOptions {
  size_t map_size = size_t{64} << 30;  // address space only; the file grows as used
  size_t compaction_batch = 1000;      // revisions deleted per LMDB transaction
  // Test seam for fault injection, until an Env exists: when set, called
  // before each checkpoint's fsync of the data file, and a non-OK result is
  // that fsync's failure.
  std::function<Status()> sync_fault;
};

struct RangeOptions {
  int64_t limit = 0;  // 0 = no limit
  int64_t rev = 0;    // 0 = current
  bool count_only = false;
  // A bound on what a read may hold in memory: when the KeyValues found
  // would take more than this many bytes as repeated message fields
  // (RangeKvBytes each), the range fails with ResourceExhausted before any
  // value is copied, and RangeResult::bytes says how many bytes were counted
  // when it stopped (more than max_bytes). 0 = no bound.
  int64_t max_bytes = 0;
  // Only count and bytes are wanted: no value is copied.
  bool sizes_only = false;
};

struct RangeResult {
  std::vector<mvccpb::KeyValue> kvs;
  int64_t count = 0;  // keys in the range at `rev`, regardless of limit
  int64_t rev = 0;    // the store's revision (not the one read, as in etcd)
  int64_t bytes = 0;  // the kvs as repeated message fields (RangeKvBytes each)
};

// What a stored KeyValue record of `record_bytes` adds to a message that
// holds it in a repeated field: the record, its tag and its length.
inline int64_t RangeKvBytes(size_t record_bytes) {
  int64_t varint = 1;
  for (size_t n = record_bytes; n >= 0x80; n >>= 7) ++varint;
  return 1 + varint + static_cast<int64_t>(record_bytes);
}

// Tables beside the MVCC data, for state other layers persist through the
// store so that it commits atomically with the data (leases, alarms, members).
enum class Table { kMeta, kLease, kAlarm, kMember };

class MvccStore {
 public:
  static Status Open(const std::string& dir, const StoreOptions& options,
                     std::unique_ptr<MvccStore>* out);
  ~MvccStore();
  MvccStore(const MvccStore&) = delete;
  MvccStore& operator=(const MvccStore&) = delete;

  // Reads at the published revision (or opts.rev), concurrently with writes.
  Status Range(const KeyRange& range, const RangeOptions& opts, RangeResult* out) const;

  // Reads the history for watchers: the events of revisions start_rev ..
  // end_rev (0 = current), oldest first, stopping at a revision boundary once
  // `max_events` are collected (a revision is never split). *next_rev is the
  // first revision not read. OutOfRange (compacted) if start_rev is below the
  // compaction revision, as etcd cancels such watchers. DELETE events carry
  // the key and mod_revision only, as in etcd.
  Status ReadEvents(int64_t start_rev, int64_t end_rev, size_t max_events,
                    std::vector<mvccpb::Event>* events, int64_t* next_rev) const;

  int64_t CurrentRevision() const { return current_rev_.load(std::memory_order_acquire); }
  int64_t CompactRevision() const;
  uint64_t AppliedIndex() const { return applied_index_.load(std::memory_order_acquire); }
  uint64_t AppliedTerm() const { return applied_term_.load(std::memory_order_acquire); }

  // The apply loop's batch. Only one may be open at a time.
  std::unique_ptr<WriteBatch> NewBatch();

  // Waits until physical compaction up to `rev` (or later) has finished.
  void WaitCompacted(int64_t rev);
  // Calls `fn` (on the compactor thread, or now) once it has.
  void OnCompacted(int64_t rev, std::function<void()> fn);

  // A hash of every (revision, key, value) up to `rev` that a member must
  // keep: equal on members with equal histories, whatever their compaction
  // progress. rev 0 = current.
  Status HashKV(int64_t rev, uint32_t* hash, int64_t* compact_rev, int64_t* hash_rev) const;
  // A hash of all data and side tables (Maintenance.Hash).
  Status Hash(uint32_t* hash) const;

  // Bytes of the LMDB file / of the pages in use (free pages are reused).
  int64_t DbSize() const;
  int64_t DbSizeInUse() const;

  // A checkpoint: everything committed so far becomes durable, and the store
  // reopens at least here after any crash. *durable_index (optional) gets the
  // applied log index it covers. Safe on any thread, beside writers.
  // A failed checkpoint fails every later one too: after a failed fsync the
  // kernel may have dropped the dirty pages (marking them clean), so a later
  // fsync could succeed without them on disk ("fsyncgate"); the log, which
  // holds the only other copy, must then never be released. Callers treat
  // a failure as fatal.
  Status Sync(uint64_t* durable_index = nullptr);

  // Reads a side table (committed state).
  Status GetAux(Table table, std::string_view key, std::string* value) const;
  // Visits every row of a side table.
  Status ScanAux(Table table,
                 const std::function<void(std::string_view key, std::string_view value)>& fn) const;

  const std::string& dir() const { return dir_; }

  // Runs `fn` on a consistent view of every table (one LMDB read
  // transaction; writers continue meanwhile), e.g. to export a snapshot.
  Status View(const std::function<Status(const StoreView&)>& fn) const;
  // Creates the store in `dir`, which must not hold one yet, and fills its
  // tables through `fn` (e.g. to import a snapshot). Open it afterwards.
  static Status BulkLoad(const std::string& dir, const StoreOptions& options,
                         const std::function<Status(BulkLoader*)>& fn);

  // Writes a consistent, compacted copy of the whole store (an LMDB file) to
  // `fd`, while writers continue: what a lagging member is sent to catch up.
  // The copy records the log index it covers (AppliedIndex at the time).
  Status CopyTo(int fd) const;
  // Replaces every table with the copy in the file at `path` (made by CopyTo
  // on another member), atomically: one LMDB transaction, synced. The meta
  // keys in `keep_meta` keep this store's values (member-local settings).
  // Readers see the old state or the new one, never a mix. A copy whose
  // applied index is not after this store's changes nothing. Apply thread
  // only, with no batch open.
  Status ReplaceWith(const std::string& path, const std::vector<std::string>& keep_meta);

  // Leases live beside the data they own: puts and deletes attach and detach
  // keys as they are written.
  Lessor* lessor() { return &lessor_; }
  const Lessor* lessor() const { return &lessor_; }

 private:
  friend class WriteBatch;
  MvccStore() = default;

  Status Restore();
  // Rebuilds the key index, leases and counters from LMDB; caller holds the
  // index lock exclusively and compact_mu_ (or is Open, before any thread).
  Status RestoreLocked();
  // Reads values for `revs` through `txn`, within opts.max_bytes (see
  // RangeOptions); out->bytes gets their size.
  Status ReadValues(const LmdbTxn& txn, const std::vector<Revision>& revs, const RangeOptions& opts,
                    RangeResult* out) const;
  // Collects the revisions of `range` visible at `rev`; caller holds the index lock.
  void CollectRevisions(const KeyRange& range, int64_t rev, const RangeOptions& opts,
                        std::vector<Revision>* revs, int64_t* count) const;
  MDB_dbi TableDbi(Table t) const;
  void CompactorLoop();
  Status CompactPhysically(int64_t rev, const std::set<Revision>& keep);
  void ScheduleCompaction(int64_t rev, std::set<Revision> keep);

  // Every LMDB write transaction commits through here, so that a checkpoint
  // can hold commits off while it reads the meta page of the one it pins.
  Status CommitWrite(LmdbTxn* txn);

  std::string dir_;
  StoreOptions options_;
  MDB_env* env_ = nullptr;
  bool opened_ = false;  // restored: a checkpoint at close describes it
  std::mutex commit_mu_;
  std::mutex checkpoint_mu_;  // one checkpoint at a time; guards checkpoint_pin_
  // Pins the last checkpoint's pages: LMDB reuses none of them while it lives.
  LmdbTxn checkpoint_pin_;
  Status checkpoint_error_;        // guarded by checkpoint_mu_: sticky, see Sync
  uint64_t checkpoint_txnid_ = 0;  // guarded by checkpoint_mu_: the last one saved
  MDB_dbi key_dbi_ = 0;  // revision -> mvccpb.KeyValue
  MDB_dbi meta_dbi_ = 0, lease_dbi_ = 0, alarm_dbi_ = 0, member_dbi_ = 0;

  KeyIndex index_;
  Lessor lessor_;
  std::atomic<int64_t> current_rev_{1};
  int64_t compact_rev_ = 0;  // guarded by index_.mutex()
  std::atomic<uint64_t> applied_index_{0};
  std::atomic<uint64_t> applied_term_{0};
  bool batch_open_ = false;

  // Physical compaction runs on its own thread, a batch of revisions per LMDB txn.
  std::mutex compact_mu_;
  std::condition_variable compact_cv_;
  struct CompactJob {
    int64_t rev;
    std::set<Revision> keep;
  };
  std::vector<CompactJob> compact_jobs_;
  std::vector<std::pair<int64_t, std::function<void()>>> compact_watchers_;
  int64_t finished_compact_rev_ = 0;
  bool compacting_ = false;  // the compactor is running a job outside compact_mu_
  bool stopping_ = false;
  std::thread compactor_;
};

// One LMDB write transaction holding any number of etcd transactions, each of
// which takes one main revision if it changes anything.
class WriteBatch {
 public:
  ~WriteBatch();

  // Starts an etcd transaction; reads see its own earlier writes.
  void BeginTxn();
  // Ends it and returns the store revision after it.
  int64_t EndTxn();
  // The revision reads inside the current transaction see.
  int64_t ReadRevision() const { return changes_ > 0 ? begin_rev_ + 1 : begin_rev_; }
  // The store revision before the current transaction.
  int64_t BeginRevision() const { return begin_rev_; }

  Status Range(const KeyRange& range, const RangeOptions& opts, RangeResult* out);
  // Returns the revision of the put.
  Status Put(std::string_view key, std::string_view value, int64_t lease, int64_t* rev);
  // Deletes every live key of `range`; `deleted` (optional) gets their last values.
  Status DeleteRange(const KeyRange& range, std::vector<mvccpb::KeyValue>* deleted, int64_t* count);

  // Validates and applies a compaction at `rev` (OutOfRange with etcd's text
  // when compacted or in the future); the physical deletion follows later.
  Status Compact(int64_t rev);

  Status PutAux(Table table, std::string_view key, std::string_view value);
  Status DeleteAux(Table table, std::string_view key);
  Status GetAux(Table table, std::string_view key, std::string* value);

  void SetApplied(uint64_t index, uint64_t term) {
    applied_index_ = index;
    applied_term_ = term;
  }

  // Changes of this batch, in revision order (for watchers).
  const std::vector<mvccpb::Event>& events() const { return events_; }

  Status Commit();

 private:
  friend class MvccStore;
  explicit WriteBatch(MvccStore* store);

  MvccStore* store_;
  LmdbTxn txn_;
  Status open_status_;
  int64_t begin_rev_;
  int64_t changes_ = 0;  // changes (sub revisions) in the current etcd txn
  uint64_t applied_index_ = 0, applied_term_ = 0;
  std::vector<mvccpb::Event> events_;
  std::string scratch_;
  int64_t pending_compact_ = 0;
  std::set<Revision> pending_keep_;
};

}  // namespace capstan
