#include "raft/single_node_log.h"

#include <pthread.h>

namespace capstan::raft {

SingleNodeLog::SingleNodeLog(SingleNodeLogOptions options) : options_(std::move(options)) {}

SingleNodeLog::~SingleNodeLog() { Stop(); }

Status SingleNodeLog::Start(uint64_t applied_index, ApplyFn apply) {
  apply_ = std::move(apply);
  Status s;
  if (Wal::Exists(options_.wal_dir)) {
    WalContents contents;
    s = Wal::Open(options_.wal_dir, options_.wal, &wal_, &contents);
    if (!s.ok()) return s;
    last_index_ = contents.snapshot_index;
    if (!contents.entries.empty()) last_index_ = contents.entries.back().index();
    if (last_index_ < applied_index) {
      // The state machine is ahead of the log only if the log lost entries.
      return Status::Corruption("wal ends at index " + std::to_string(last_index_) +
                                " but the store has applied " + std::to_string(applied_index));
    }
    // The log must continue where the store stopped: a store older than the
    // log's start (e.g. a data dir restored from an older backup, with the
    // WAL kept elsewhere by --wal-dir) would silently skip the entries between.
    const uint64_t first =
        contents.entries.empty() ? contents.snapshot_index + 1 : contents.entries.front().index();
    if (first > applied_index + 1) {
      wal_.reset();
      return Status::FailedPrecondition(
          "the store has applied up to index " + std::to_string(applied_index) +
          " but the log starts at index " + std::to_string(first) + " (entries " +
          std::to_string(applied_index + 1) + " to " + std::to_string(first - 1) +
          " are missing): the data dir is damaged or older than the WAL in " + options_.wal_dir);
    }
    std::vector<raftpb::Entry> replay;
    for (auto& e : contents.entries) {
      if (e.index() > applied_index) replay.push_back(std::move(e));
    }
    if (!replay.empty()) apply_(std::move(replay));
  } else {
    s = Wal::Create(options_.wal_dir, std::to_string(options_.member_id), options_.wal, &wal_);
    if (!s.ok()) return s;
    if (applied_index > 0) {
      // A store with data but no WAL (e.g. restored from a snapshot): the log
      // continues after what the store holds.
      s = wal_->SaveSnapshotMarker(applied_index, 1);
      if (!s.ok()) return s;
    }
    last_index_ = applied_index;
  }
  commit_index_.store(last_index_);
  {
    std::lock_guard l(mu_);
    started_ = true;
    // Like a Raft leader starting its term, begin with an empty entry.
    pending_.emplace_back();
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "cap-log");
    Run();
  });
  return Status::OK();
}

void SingleNodeLog::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status SingleNodeLog::Propose(std::string data) {
  {
    std::lock_guard l(mu_);
    if (stopping_ || !started_) return Status::Unavailable("server stopped");
    pending_.push_back(std::move(data));
  }
  cv_.notify_one();
  return Status::OK();
}

void SingleNodeLog::ReadIndex(ReadIndexFn done) {
  // The only member is always the leader: what is committed is all there is.
  done(Status::OK(), commit_index_.load(std::memory_order_acquire));
}

void SingleNodeLog::ReleaseBefore(uint64_t index) {
  {
    std::lock_guard l(mu_);
    release_before_ = std::max(release_before_, index);
  }
  cv_.notify_one();
}

LogStatus SingleNodeLog::GetStatus() const {
  LogStatus st;
  st.member_id = options_.member_id;
  st.leader_id = options_.member_id;
  st.term = 1;
  st.commit_index = commit_index_.load(std::memory_order_acquire);
  st.last_index = st.commit_index;
  return st;
}

void SingleNodeLog::Run() {
  std::vector<std::string> batch;
  std::vector<raftpb::Entry> entries;
  uint64_t released = 0;
  while (true) {
    uint64_t release = 0;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !pending_.empty() || release_before_ > released; });
      if (stopping_ && pending_.empty()) return;
      if (pending_.size() <= options_.max_batch_entries) {
        batch.swap(pending_);
      } else {
        batch.assign(std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.begin() + options_.max_batch_entries));
        pending_.erase(pending_.begin(), pending_.begin() + options_.max_batch_entries);
      }
      release = release_before_;
    }
    if (release > released) {
      Status s = wal_->ReleaseBefore(release);
      if (!s.ok()) fprintf(stderr, "capstan: wal release failed: %s\n", s.ToString().c_str());
      released = release;
    }
    if (batch.empty()) continue;
    entries.clear();
    entries.reserve(batch.size());
    for (std::string& data : batch) {
      raftpb::Entry& e = entries.emplace_back();
      e.set_term(1);
      e.set_index(++last_index_);
      e.set_type(raftpb::ENTRY_NORMAL);
      e.set_data(std::move(data));
    }
    batch.clear();
    raftpb::HardState hs;
    hs.set_term(1);
    hs.set_vote(options_.member_id);
    hs.set_commit(last_index_);
    Status s = wal_->Save(&hs, entries, /*sync=*/true);
    if (!s.ok()) {
      // Losing the log would break the promise made to every acknowledged
      // write; stop rather than continue without durability.
      fprintf(stderr, "capstan: fatal: wal write failed: %s\n", s.ToString().c_str());
      std::abort();
    }
    commit_index_.store(last_index_, std::memory_order_release);
    apply_(std::move(entries));
    entries = {};
  }
}

}  // namespace capstan::raft
