#include "storage/mvcc_store.h"

#include <pthread.h>

#include <sys/stat.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "storage/bulk_loader.h"
#include "storage/key_value_encoding.h"
#include "storage/lmdb_checkpoint.h"
#include "storage/meta_keys.h"
#include "storage/store_view.h"

namespace capstan {
namespace {

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  PutBigEndian64(s.data(), v);
  return s;
}

uint64_t DecodeU64(std::string_view s) { return s.size() == 8 ? GetBigEndian64(s.data()) : 0; }

Status ReadU64(const LmdbTxn& txn, MDB_dbi dbi, std::string_view key, uint64_t* out) {
  std::string_view v;
  Status s = txn.Get(dbi, key, &v);
  if (s.IsNotFound()) {
    *out = 0;
    return Status::OK();
  }
  if (!s.ok()) return s;
  *out = DecodeU64(v);
  return Status::OK();
}

}  // namespace

Status MvccStore::Open(const std::string& dir, const StoreOptions& options,
                       std::unique_ptr<MvccStore>* out) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("mkdir " + dir + ": " + std::strerror(errno));
  }
  std::unique_ptr<MvccStore> store(new MvccStore());
  store->dir_ = dir;
  store->options_ = options;
  int rc = mdb_env_create(&store->env_);
  if (rc != 0) return LmdbStatus(rc, "env create");
  mdb_env_set_maxdbs(store->env_, 8);
  mdb_env_set_maxreaders(store->env_, 4096);
  mdb_env_set_mapsize(store->env_, options.map_size);
  // Unless the store stopped cleanly, commits since the last checkpoint may
  // be half on disk: go back to the checkpoint, which the log replays from.
  uint64_t rolled_back_to = 0;
  Status s = LmdbCheckpoint::Recover(dir, &rolled_back_to);
  if (!s.ok()) return s;
  if (rolled_back_to > 0) {
    fprintf(stderr,
            "capstan: the store was not stopped cleanly: store in %s reopened at its last "
            "checkpoint (LMDB txn %llu); the log replays what followed\n",
            dir.c_str(), static_cast<unsigned long long>(rolled_back_to));
  }
  // NOSYNC: commits are written, never synced; the WAL holds durability and
  // checkpoints (Sync) make the store durable every so often, safely.
  // NOTLS: read transactions are not tied to threads (gRPC callbacks hop).
  rc = mdb_env_open(store->env_, dir.c_str(), MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD, 0600);
  if (rc != 0) return LmdbStatus(rc, "open " + dir);

  LmdbTxn txn;
  s = txn.Begin(store->env_, false);
  if (!s.ok()) return s;
  struct {
    const char* name;
    MDB_dbi* dbi;
  } tables[] = {{"key", &store->key_dbi_},
                {"meta", &store->meta_dbi_},
                {"lease", &store->lease_dbi_},
                {"alarm", &store->alarm_dbi_},
                {"member", &store->member_dbi_}};
  for (auto& t : tables) {
    rc = mdb_dbi_open(txn.get(), t.name, MDB_CREATE, t.dbi);
    if (rc != 0) return LmdbStatus(rc, std::string("open table ") + t.name);
  }
  s = txn.Commit();
  if (!s.ok()) return s;
  s = store->Restore();
  if (!s.ok()) return s;
  store->opened_ = true;
  // From here on a crash of the machine comes back at least to this state.
  s = store->Sync();
  if (!s.ok()) return s;
  store->compactor_ = std::thread([st = store.get()] {
    pthread_setname_np(pthread_self(), "cap-compactor");
    st->CompactorLoop();
  });
  *out = std::move(store);
  return Status::OK();
}

MvccStore::~MvccStore() {
  {
    std::lock_guard l(compact_mu_);
    stopping_ = true;
  }
  compact_cv_.notify_all();
  if (compactor_.joinable()) compactor_.join();
  for (auto& w : compact_watchers_) w.second();
  if (opened_) {
    // A clean stop: a last checkpoint, and a record that nothing follows it,
    // so that the next start keeps everything.
    Status s = Sync();
    if (s.ok()) s = LmdbCheckpoint::RecordCleanStop(dir_, checkpoint_txnid_);
    if (!s.ok()) fprintf(stderr, "capstan: store checkpoint failed: %s\n", s.ToString().c_str());
  }
  if (env_ != nullptr) {
    checkpoint_pin_.Abort();
    mdb_env_close(env_);
  }
}

Status MvccStore::Restore() {
  std::unique_lock l(index_.mutex());
  return RestoreLocked();
}

Status MvccStore::RestoreLocked() {
  LmdbTxn txn;
  Status s = txn.Begin(env_, true);
  if (!s.ok()) return s;
  uint64_t applied = 0, term = 0, scheduled = 0, finished = 0;
  if (!(s = ReadU64(txn, meta_dbi_, kAppliedIndexKey, &applied)).ok()) return s;
  if (!(s = ReadU64(txn, meta_dbi_, kAppliedTermKey, &term)).ok()) return s;
  if (!(s = ReadU64(txn, meta_dbi_, kScheduledCompactKey, &scheduled)).ok()) return s;
  if (!(s = ReadU64(txn, meta_dbi_, kFinishedCompactKey, &finished)).ok()) return s;

  index_.Clear();
  int64_t current = 1;
  LmdbCursor c(txn, key_dbi_);
  mvccpb::KeyValue kv;
  std::unordered_map<std::string, int64_t> key_leases;  // live keys with a lease
  for (bool ok = c.First(); ok; ok = c.Next()) {
    Revision rev;
    bool tomb;
    if (!DecodeRevisionKey(c.key(), &rev, &tomb)) {
      return Status::Corruption("mvcc: bad revision key in " + dir_);
    }
    std::string_view v = c.value();
    if (!kv.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      return Status::Corruption("mvcc: bad value at revision " + std::to_string(rev.main));
    }
    if (tomb) {
      index_.Tombstone(kv.key(), rev);
      key_leases.erase(kv.key());
    } else {
      index_.Restore(kv.key(), rev, Revision{kv.create_revision(), 0}, kv.version());
      if (kv.lease() != 0) {
        key_leases[kv.key()] = kv.lease();
      } else {
        key_leases.erase(kv.key());
      }
    }
    current = std::max(current, rev.main);
  }
  s = lessor_.Load(*this);
  if (!s.ok()) return s;
  for (const auto& [key, lease] : key_leases) lessor_.OnPut(key, lease);
  current = std::max<int64_t>(current, static_cast<int64_t>(scheduled));
  current_rev_.store(current);
  applied_index_.store(applied);
  applied_term_.store(term);
  compact_rev_ = static_cast<int64_t>(scheduled);
  finished_compact_rev_ = static_cast<int64_t>(finished);
  if (scheduled > 0) {
    std::set<Revision> keep = index_.Compact(static_cast<int64_t>(scheduled));
    if (finished < scheduled) compact_jobs_.push_back({static_cast<int64_t>(scheduled), keep});
  }
  return Status::OK();
}

int64_t MvccStore::CompactRevision() const {
  std::shared_lock l(index_.mutex());
  return compact_rev_;
}

MDB_dbi MvccStore::TableDbi(Table t) const {
  switch (t) {
    case Table::kMeta:
      return meta_dbi_;
    case Table::kLease:
      return lease_dbi_;
    case Table::kAlarm:
      return alarm_dbi_;
    case Table::kMember:
      return member_dbi_;
  }
  return meta_dbi_;
}

void MvccStore::CollectRevisions(const KeyRange& range, int64_t rev, const RangeOptions& opts,
                                 std::vector<Revision>* revs, int64_t* count) const {
  int64_t n = 0;
  index_.Visit(range, rev, [&](const std::string&, const KeyVersion& kv) {
    if (!opts.count_only && (opts.limit <= 0 || n < opts.limit)) revs->push_back(kv.modified);
    ++n;
    return true;
  });
  *count = n;
}

Status MvccStore::ReadValues(const LmdbTxn& txn, const std::vector<Revision>& revs,
                             const RangeOptions& opts, RangeResult* out) const {
  // The records are located first (pointers into the map, nothing copied),
  // so that a read too large for its bound is refused before it takes memory.
  std::vector<std::string_view> records(revs.size());
  char rev_key[kTombstoneKeyBytes];
  int64_t bytes = 0;
  for (size_t i = 0; i < revs.size(); ++i) {
    Status s = txn.Get(key_dbi_, EncodeRevisionKey(revs[i], false, rev_key), &records[i]);
    if (!s.ok()) {
      return Status::Corruption("mvcc: revision " + std::to_string(revs[i].main) + "_" +
                                std::to_string(revs[i].sub) + " missing: " + s.message());
    }
    bytes += RangeKvBytes(records[i].size());
    if (opts.max_bytes > 0 && bytes > opts.max_bytes) {
      out->bytes = bytes;
      return Status::ResourceExhausted("range result larger than " +
                                       std::to_string(opts.max_bytes) + " bytes");
    }
  }
  out->bytes = bytes;
  if (opts.sizes_only) return Status::OK();
  std::vector<mvccpb::KeyValue>* kvs = &out->kvs;
  kvs->resize(revs.size());
  for (size_t i = 0; i < revs.size(); ++i) {
    const std::string_view v = records[i];
    if (!(*kvs)[i].ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      return Status::Corruption("mvcc: bad value at revision " + std::to_string(revs[i].main));
    }
  }
  return Status::OK();
}

Status MvccStore::Range(const KeyRange& range, const RangeOptions& opts, RangeResult* out) const {
  std::vector<Revision> revs;
  LmdbTxn txn;
  {
    std::shared_lock l(index_.mutex());
    int64_t cur = CurrentRevision();
    int64_t rev = opts.rev <= 0 ? cur : opts.rev;
    if (rev > cur) return Status::OutOfRange(kErrFutureRev);
    if (rev < compact_rev_) return Status::OutOfRange(kErrCompacted);
    out->rev = cur;  // etcd reports the current revision, whatever was read
    CollectRevisions(range, rev, opts, &revs, &out->count);
    if (revs.empty()) return Status::OK();
    // Opened under the index lock: compaction cannot delete what we found
    // before this snapshot exists.
    Status s = txn.Begin(env_, true);
    if (!s.ok()) return s;
  }
  return ReadValues(txn, revs, opts, out);
}

Status MvccStore::ReadEvents(int64_t start_rev, int64_t end_rev, size_t max_events,
                             std::vector<mvccpb::Event>* events, int64_t* next_rev) const {
  LmdbTxn txn;
  {
    std::shared_lock l(index_.mutex());
    int64_t cur = CurrentRevision();
    if (end_rev <= 0 || end_rev > cur) end_rev = cur;
    if (start_rev < compact_rev_) return Status::OutOfRange(kErrCompacted);
    Status s = txn.Begin(env_, true);
    if (!s.ok()) return s;
  }
  *next_rev = start_rev;
  if (start_rev > end_rev) return Status::OK();
  LmdbCursor c(txn, key_dbi_);
  int64_t last_main = -1;
  for (bool ok = c.Seek(EncodeRevisionKey(Revision{start_rev, 0})); ok; ok = c.Next()) {
    Revision rev;
    bool tomb;
    if (!DecodeRevisionKey(c.key(), &rev, &tomb)) continue;
    if (rev.main > end_rev) break;
    if (rev.main != last_main && events->size() >= max_events) {
      *next_rev = rev.main;
      return Status::OK();
    }
    last_main = rev.main;
    mvccpb::Event& ev = events->emplace_back();
    std::string_view v = c.value();
    if (!ev.mutable_kv()->ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      return Status::Corruption("mvcc: bad value at revision " + std::to_string(rev.main));
    }
    if (tomb) {
      ev.set_type(mvccpb::Event::DELETE);
      ev.mutable_kv()->set_mod_revision(rev.main);
    }
  }
  *next_rev = end_rev + 1;
  return Status::OK();
}

std::unique_ptr<WriteBatch> MvccStore::NewBatch() {
  return std::unique_ptr<WriteBatch>(new WriteBatch(this));
}

void MvccStore::ScheduleCompaction(int64_t rev, std::set<Revision> keep) {
  {
    std::lock_guard l(compact_mu_);
    compact_jobs_.push_back({rev, std::move(keep)});
  }
  compact_cv_.notify_all();
}

void MvccStore::WaitCompacted(int64_t rev) {
  std::unique_lock l(compact_mu_);
  compact_cv_.wait(l, [&] { return finished_compact_rev_ >= rev || stopping_; });
}

void MvccStore::OnCompacted(int64_t rev, std::function<void()> fn) {
  {
    std::lock_guard l(compact_mu_);
    if (finished_compact_rev_ < rev && !stopping_) {
      compact_watchers_.emplace_back(rev, std::move(fn));
      return;
    }
  }
  fn();
}

void MvccStore::CompactorLoop() {
  std::unique_lock l(compact_mu_);
  while (true) {
    compact_cv_.wait(l, [&] { return stopping_ || !compact_jobs_.empty(); });
    if (stopping_) return;
    CompactJob job = std::move(compact_jobs_.front());
    compact_jobs_.erase(compact_jobs_.begin());
    compacting_ = true;
    l.unlock();
    Status s = CompactPhysically(job.rev, job.keep);
    l.lock();
    compacting_ = false;
    if (s.ok()) {
      finished_compact_rev_ = std::max(finished_compact_rev_, job.rev);
      std::vector<std::function<void()>> ready;
      std::erase_if(compact_watchers_, [&](auto& w) {
        if (w.first > finished_compact_rev_) return false;
        ready.push_back(std::move(w.second));
        return true;
      });
      l.unlock();
      for (auto& fn : ready) fn();
      l.lock();
    } else {
      // Leave the job for the next start-up; data stays readable meanwhile.
      fprintf(stderr, "capstan: compaction at %lld failed: %s\n", static_cast<long long>(job.rev),
              s.ToString().c_str());
    }
    compact_cv_.notify_all();
  }
}

Status MvccStore::CompactPhysically(int64_t rev, const std::set<Revision>& keep) {
  // Deletes superseded revisions <= rev a batch at a time, so the apply loop
  // (the other LMDB writer) waits at most one short transaction.
  std::string start = EncodeRevisionKey(Revision{0, 0});
  const std::string end = EncodeRevisionKey(Revision{rev + 1, 0});
  while (true) {
    LmdbTxn txn;
    Status s = txn.Begin(env_, false);
    if (!s.ok()) return s;
    size_t n = 0;
    bool done = true;
    {
      LmdbCursor c(txn, key_dbi_);
      for (bool ok = c.Seek(start); ok;) {
        if (c.key() >= end) break;
        if (n >= options_.compaction_batch) {
          start = std::string(c.key());
          done = false;
          break;
        }
        Revision r;
        bool tomb;
        if (DecodeRevisionKey(c.key(), &r, &tomb) && keep.count(r) == 0) {
          // After mdb_cursor_del, MDB_NEXT yields the item that followed.
          if (!(s = c.Delete()).ok()) return s;
          ++n;
        }
        ok = c.Next();
      }
    }
    if (done) {
      s = txn.Put(meta_dbi_, kFinishedCompactKey, EncodeU64(static_cast<uint64_t>(rev)));
      if (!s.ok()) return s;
    }
    if (!(s = CommitWrite(&txn)).ok()) return s;
    if (done) return Status::OK();
  }
}

Status MvccStore::HashKV(int64_t rev, uint32_t* hash, int64_t* compact_rev,
                         int64_t* hash_rev) const {
  std::set<Revision> keep;
  LmdbTxn txn;
  int64_t compacted;
  {
    std::shared_lock l(index_.mutex());
    int64_t cur = CurrentRevision();
    if (rev <= 0) rev = cur;
    if (rev > cur) return Status::OutOfRange(kErrFutureRev);
    if (rev < compact_rev_) return Status::OutOfRange(kErrCompacted);
    compacted = compact_rev_;
    keep = index_.Keep(compacted);
    Status s = txn.Begin(env_, true);
    if (!s.ok()) return s;
  }
  XXH32_state_t* st = XXH32_createState();
  XXH32_reset(st, 0);
  LmdbCursor c(txn, key_dbi_);
  const std::string end = EncodeRevisionKey(Revision{rev + 1, 0});
  for (bool ok = c.First(); ok && c.key() < end; ok = c.Next()) {
    Revision r;
    bool tomb;
    if (!DecodeRevisionKey(c.key(), &r, &tomb)) continue;
    // Revisions at or below the compaction point count only if every member
    // keeps them, whatever its physical compaction progress.
    if (r.main <= compacted && keep.count(r) == 0) continue;
    XXH32_update(st, c.key().data(), c.key().size());
    XXH32_update(st, c.value().data(), c.value().size());
  }
  *hash = XXH32_digest(st);
  XXH32_freeState(st);
  *compact_rev = compacted > 0 ? compacted : -1;  // etcd's "never compacted"
  *hash_rev = rev;
  return Status::OK();
}

Status MvccStore::Hash(uint32_t* hash) const {
  LmdbTxn txn;
  Status s = txn.Begin(env_, true);
  if (!s.ok()) return s;
  XXH32_state_t* st = XXH32_createState();
  XXH32_reset(st, 0);
  for (MDB_dbi dbi : {key_dbi_, lease_dbi_, alarm_dbi_, member_dbi_}) {
    LmdbCursor c(txn, dbi);
    for (bool ok = c.First(); ok; ok = c.Next()) {
      XXH32_update(st, c.key().data(), c.key().size());
      XXH32_update(st, c.value().data(), c.value().size());
    }
  }
  *hash = XXH32_digest(st);
  XXH32_freeState(st);
  return Status::OK();
}

int64_t MvccStore::DbSize() const {
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &stat);
  return static_cast<int64_t>((info.me_last_pgno + 1) * stat.ms_psize);
}

int64_t MvccStore::DbSizeInUse() const {
  // Pages on LMDB's free list are reused before the file grows, so they do
  // not count against the quota.
  int64_t size = DbSize();
  LmdbTxn txn;
  if (!txn.Begin(env_, true).ok()) return size;
  MDB_stat stat;
  mdb_env_stat(env_, &stat);
  int64_t free_pages = 0;
  LmdbCursor c(txn, 0 /* FREE_DBI */);
  for (bool ok = c.First(); ok; ok = c.Next()) {
    if (c.value().size() >= sizeof(size_t)) {
      size_t n;
      std::memcpy(&n, c.value().data(), sizeof(n));
      free_pages += static_cast<int64_t>(n);
    }
  }
  return std::max<int64_t>(size - free_pages * stat.ms_psize, 0);
}

Status MvccStore::CommitWrite(LmdbTxn* txn) {
  std::lock_guard l(commit_mu_);
  return txn->Commit();
}

Status MvccStore::Sync(uint64_t* durable_index) {
  std::lock_guard cl(checkpoint_mu_);
  if (!checkpoint_error_.ok()) return checkpoint_error_;
  MDB_stat stat;
  int rc = mdb_env_stat(env_, &stat);
  if (rc != 0) return LmdbStatus(rc, "stat");
  int fd = -1;
  if ((rc = mdb_env_get_fd(env_, &fd)) != 0) return LmdbStatus(rc, "get fd");
  // The pinned commit's meta page is read after the fsync. Two later commits
  // would have overwritten it (LMDB alternates two slots): then once more
  // with commits held off from the pin to the read, which a busy apply loop
  // feels as one fsync of at most a few commits.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_lock wl(commit_mu_, std::defer_lock);
    if (attempt == 1) wl.lock();
    LmdbTxn pin;
    Status s = pin.Begin(env_, true);
    if (!s.ok()) return s;
    const uint64_t txnid = mdb_txn_id(pin.get());
    uint64_t applied = 0;
    if (!(s = ReadU64(pin, meta_dbi_, kAppliedIndexKey, &applied)).ok()) return s;
    if (options_.sync_fault) s = options_.sync_fault();
    if (s.ok() && (rc = mdb_env_sync(env_, 1)) != 0) s = LmdbStatus(rc, "sync");
    if (!s.ok()) {
      checkpoint_error_ = Status::IOError("store checkpoint: fsync of " + dir_ +
                                          "/data.mdb failed: " + s.ToString());
      return checkpoint_error_;
    }
    LmdbCheckpoint checkpoint;
    if (!wl.owns_lock()) wl.lock();  // a commit must not write the slot while it is read
    s = LmdbCheckpoint::Capture(fd, stat.ms_psize, txnid, &checkpoint);
    wl.unlock();
    if (s.IsNotFound() && attempt == 0) continue;
    if (!s.ok()) return s;
    if (!(s = checkpoint.Save(dir_)).ok()) {
      // Its fsyncs may have failed the same way.
      checkpoint_error_ = Status::IOError("store checkpoint: saving it failed: " + s.ToString());
      return checkpoint_error_;
    }
    // Only now may LMDB reuse the previous checkpoint's pages.
    checkpoint_pin_ = std::move(pin);
    checkpoint_txnid_ = txnid;
    if (durable_index != nullptr) *durable_index = applied;
    return Status::OK();
  }
  return Status::IOError("store checkpoint: no meta page");  // not reached
}

Status MvccStore::CopyTo(int fd) const {
  return LmdbStatus(mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT), "copy");
}

Status MvccStore::ReplaceWith(const std::string& path, const std::vector<std::string>& keep_meta) {
  // The source: opened read-only, without a lock file (nobody else uses it).
  MDB_env* src_env = nullptr;
  int rc = mdb_env_create(&src_env);
  if (rc != 0) return LmdbStatus(rc, "env create");
  std::unique_ptr<MDB_env, void (*)(MDB_env*)> src_guard(src_env, mdb_env_close);
  mdb_env_set_maxdbs(src_env, 8);
  mdb_env_set_mapsize(src_env, options_.map_size);
  rc = mdb_env_open(src_env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
  if (rc != 0) return LmdbStatus(rc, "open snapshot " + path);
  LmdbTxn src;
  Status s = src.Begin(src_env, true);
  if (!s.ok()) return s;
  {
    // A copy that is not ahead of this store brings nothing new (a member
    // whose log restarted at an older snapshot than its store): keep ours.
    MDB_dbi src_meta;
    uint64_t src_applied = 0;
    if (mdb_dbi_open(src.get(), "meta", 0, &src_meta) == 0) {
      if (!(s = ReadU64(src, src_meta, kAppliedIndexKey, &src_applied)).ok()) return s;
    }
    if (src_applied <= AppliedIndex()) return Status::OK();
  }

  // The compactor must not run a job computed on the old data against the new.
  std::unique_lock cl(compact_mu_);
  compact_cv_.wait(cl, [&] { return !compacting_; });
  compact_jobs_.clear();

  LmdbTxn txn;
  if (!(s = txn.Begin(env_, false)).ok()) return s;
  std::vector<std::pair<std::string, std::string>> kept;
  for (const std::string& k : keep_meta) {
    std::string_view v;
    if (txn.Get(meta_dbi_, k, &v).ok()) kept.emplace_back(k, std::string(v));
  }
  const std::pair<const char*, MDB_dbi> tables[] = {{"key", key_dbi_},
                                                    {"meta", meta_dbi_},
                                                    {"lease", lease_dbi_},
                                                    {"alarm", alarm_dbi_},
                                                    {"member", member_dbi_}};
  for (const auto& [name, dbi] : tables) {
    rc = mdb_drop(txn.get(), dbi, 0);
    if (rc != 0) return LmdbStatus(rc, std::string("clear table ") + name);
    MDB_dbi src_dbi;
    rc = mdb_dbi_open(src.get(), name, 0, &src_dbi);
    if (rc == MDB_NOTFOUND) continue;  // an empty table in the copy
    if (rc != 0) return LmdbStatus(rc, std::string("open snapshot table ") + name);
    LmdbCursor c(src, src_dbi);
    for (bool ok = c.First(); ok; ok = c.Next()) {
      if (!(s = txn.Put(dbi, c.key(), c.value(), MDB_APPEND)).ok()) return s;
    }
  }
  for (const auto& [k, v] : kept) {
    if (!(s = txn.Put(meta_dbi_, k, v)).ok()) return s;
  }
  {
    // Readers wait from the commit until the index matches the new data.
    std::unique_lock l(index_.mutex());
    if (!(s = CommitWrite(&txn)).ok()) return s;
    if (!(s = RestoreLocked()).ok()) return s;
  }
  cl.unlock();
  compact_cv_.notify_all();
  return Sync();
}

Status MvccStore::View(const std::function<Status(const StoreView&)>& fn) const {
  LmdbTxn txn;
  Status s = txn.Begin(env_, true);
  if (!s.ok()) return s;
  StoreView view(txn, {key_dbi_, meta_dbi_, lease_dbi_, alarm_dbi_, member_dbi_});
  return view.status().ok() ? fn(view) : view.status();
}

Status MvccStore::BulkLoad(const std::string& dir, const StoreOptions& options,
                           const std::function<Status(BulkLoader*)>& fn) {
  std::unique_ptr<MvccStore> store;
  Status s = Open(dir, options, &store);
  if (!s.ok()) return s;
  if (store->CurrentRevision() != 1 || store->AppliedIndex() != 0) {
    return Status::FailedPrecondition("bulk load into a store that has data: " + dir);
  }
  BulkLoader loader(store->env_, {store->key_dbi_, store->meta_dbi_, store->lease_dbi_,
                                  store->alarm_dbi_, store->member_dbi_});
  s = fn(&loader);
  return s.ok() ? loader.Finish() : s;
}

Status MvccStore::GetAux(Table table, std::string_view key, std::string* value) const {
  LmdbTxn txn;
  Status s = txn.Begin(env_, true);
  if (!s.ok()) return s;
  std::string_view v;
  s = txn.Get(TableDbi(table), key, &v);
  if (s.ok()) value->assign(v);
  return s;
}

Status MvccStore::ScanAux(Table table,
                          const std::function<void(std::string_view, std::string_view)>& fn) const {
  LmdbTxn txn;
  Status s = txn.Begin(env_, true);
  if (!s.ok()) return s;
  LmdbCursor c(txn, TableDbi(table));
  for (bool ok = c.First(); ok; ok = c.Next()) fn(c.key(), c.value());
  return Status::OK();
}

// ---------------------------------------------------------------- WriteBatch

WriteBatch::WriteBatch(MvccStore* store) : store_(store), begin_rev_(store->CurrentRevision()) {
  open_status_ = txn_.Begin(store->env_, false);
}

WriteBatch::~WriteBatch() = default;

void WriteBatch::BeginTxn() { changes_ = 0; }

int64_t WriteBatch::EndTxn() {
  if (changes_ > 0) begin_rev_++;
  changes_ = 0;
  return begin_rev_;
}

Status WriteBatch::Range(const KeyRange& range, const RangeOptions& opts, RangeResult* out) {
  if (!open_status_.ok()) return open_status_;
  int64_t cur = ReadRevision();
  int64_t rev = opts.rev <= 0 ? cur : opts.rev;
  if (rev > cur) return Status::OutOfRange(kErrFutureRev);
  std::vector<Revision> revs;
  {
    // The apply loop is the only writer of the index, so a shared lock is
    // only needed for the compaction revision's consistency with it.
    std::shared_lock l(store_->index_.mutex());
    if (rev < store_->compact_rev_) return Status::OutOfRange(kErrCompacted);
    out->rev = cur;
    store_->CollectRevisions(range, rev, opts, &revs, &out->count);
  }
  return store_->ReadValues(txn_, revs, opts, out);
}

Status WriteBatch::Put(std::string_view key, std::string_view value, int64_t lease,
                       int64_t* rev_out) {
  if (!open_status_.ok()) return open_status_;
  const Revision rev{begin_rev_ + 1, changes_};
  KeyValueFields kv{.key = key, .mod_revision = rev.main, .value = value, .lease = lease};
  KeyVersion prev;
  if (const KeyHistory* h = store_->index_.Find(key); h != nullptr && h->live()) {
    h->Get(rev.main, &prev);
    kv.create_revision = prev.created.main;
    kv.version = prev.version + 1;
  } else {
    kv.create_revision = rev.main;
    kv.version = 1;
  }
  EncodeKeyValue(kv, &scratch_);
  char rev_key[kTombstoneKeyBytes];
  // Revision keys only grow, so MDB_APPEND fills pages in order.
  Status s =
      txn_.Put(store_->key_dbi_, EncodeRevisionKey(rev, false, rev_key), scratch_, MDB_APPEND);
  if (!s.ok()) return s;
  {
    std::unique_lock l(store_->index_.mutex());
    store_->index_.Put(key, rev);
  }
  store_->lessor_.OnPut(key, lease);
  mvccpb::Event* ev = &events_.emplace_back();
  ev->set_type(mvccpb::Event::PUT);
  mvccpb::KeyValue* ev_kv = ev->mutable_kv();
  ev_kv->set_key(key.data(), key.size());
  ev_kv->set_create_revision(kv.create_revision);
  ev_kv->set_mod_revision(kv.mod_revision);
  ev_kv->set_version(kv.version);
  ev_kv->set_value(value.data(), value.size());
  ev_kv->set_lease(lease);
  changes_++;
  *rev_out = rev.main;
  return Status::OK();
}

Status WriteBatch::DeleteRange(const KeyRange& range, std::vector<mvccpb::KeyValue>* deleted,
                               int64_t* count) {
  if (!open_status_.ok()) return open_status_;
  RangeResult rr;
  Status s;
  if (deleted != nullptr) {
    s = Range(range, RangeOptions{}, &rr);
    if (!s.ok()) return s;
  } else {
    // Only the keys are needed: from the index, without reading (and
    // holding) every value of what may be most of the store.
    std::shared_lock l(store_->index_.mutex());
    store_->index_.Visit(range, ReadRevision(), [&](const std::string& key, const KeyVersion&) {
      rr.kvs.emplace_back().set_key(key);
      return true;
    });
  }
  *count = static_cast<int64_t>(rr.kvs.size());
  for (mvccpb::KeyValue& old : rr.kvs) {
    const Revision rev{begin_rev_ + 1, changes_};
    // A tombstone's record holds the key alone.
    EncodeKeyValue(KeyValueFields{.key = old.key()}, &scratch_);
    char rev_key[kTombstoneKeyBytes];
    s = txn_.Put(store_->key_dbi_, EncodeRevisionKey(rev, true, rev_key), scratch_, MDB_APPEND);
    if (!s.ok()) return s;
    {
      std::unique_lock l(store_->index_.mutex());
      store_->index_.Tombstone(old.key(), rev);
    }
    store_->lessor_.OnDelete(old.key());
    mvccpb::Event* ev = &events_.emplace_back();
    ev->set_type(mvccpb::Event::DELETE);
    ev->mutable_kv()->set_key(old.key());
    ev->mutable_kv()->set_mod_revision(rev.main);
    changes_++;
    if (deleted != nullptr) deleted->push_back(std::move(old));
  }
  return Status::OK();
}

Status WriteBatch::Compact(int64_t rev) {
  if (!open_status_.ok()) return open_status_;
  std::set<Revision> keep;
  {
    std::unique_lock l(store_->index_.mutex());
    if (rev <= store_->compact_rev_) return Status::OutOfRange(kErrCompacted);
    if (rev > ReadRevision()) return Status::OutOfRange(kErrFutureRev);
    keep = store_->index_.Compact(rev);
    store_->compact_rev_ = rev;
  }
  Status s =
      txn_.Put(store_->meta_dbi_, kScheduledCompactKey, EncodeU64(static_cast<uint64_t>(rev)));
  if (!s.ok()) return s;
  pending_compact_ = rev;
  pending_keep_ = std::move(keep);
  return Status::OK();
}

Status WriteBatch::PutAux(Table table, std::string_view key, std::string_view value) {
  if (!open_status_.ok()) return open_status_;
  return txn_.Put(store_->TableDbi(table), key, value);
}

Status WriteBatch::DeleteAux(Table table, std::string_view key) {
  if (!open_status_.ok()) return open_status_;
  Status s = txn_.Delete(store_->TableDbi(table), key);
  return s.IsNotFound() ? Status::OK() : s;
}

Status WriteBatch::GetAux(Table table, std::string_view key, std::string* value) {
  if (!open_status_.ok()) return open_status_;
  std::string_view v;
  Status s = txn_.Get(store_->TableDbi(table), key, &v);
  if (s.ok()) value->assign(v);
  return s;
}

Status WriteBatch::Commit() {
  if (!open_status_.ok()) return open_status_;
  Status s;
  if (applied_index_ > 0) {
    s = txn_.Put(store_->meta_dbi_, kAppliedIndexKey, EncodeU64(applied_index_));
    if (s.ok()) s = txn_.Put(store_->meta_dbi_, kAppliedTermKey, EncodeU64(applied_term_));
    if (!s.ok()) return s;
  }
  s = store_->CommitWrite(&txn_);
  if (!s.ok()) return s;
  store_->current_rev_.store(begin_rev_, std::memory_order_release);
  if (applied_index_ > 0) {
    store_->applied_index_.store(applied_index_, std::memory_order_release);
    store_->applied_term_.store(applied_term_, std::memory_order_release);
  }
  if (pending_compact_ > 0) store_->ScheduleCompaction(pending_compact_, std::move(pending_keep_));
  return Status::OK();
}

}  // namespace capstan
