#include "raft/raft_log.h"

#include <algorithm>

#include "raft/entry_size.h"
#include "raft/invariant.h"

namespace capstan::raft {

namespace {

// Storage errors other than "compacted" and "not there" mean it lost data it
// had acknowledged; nothing sensible can continue.
void CheckStorage(const Status& s, const char* what) {
  RAFT_CHECK(s.ok() || s.code() == Status::Code::kOutOfRange || s.code() == Status::Code::kNotFound,
             std::string("storage ") + what + " failed: " + s.ToString());
}

}  // namespace

RaftLog::RaftLog(const LogStorage* storage, uint64_t max_committed_bytes)
    : storage_(storage), max_committed_bytes_(max_committed_bytes) {
  uint64_t first = storage_->FirstIndex();
  uint64_t last = storage_->LastIndex();
  unstable_ = UnstableLog(last + 1);
  // Everything up to the snapshot is committed and applied by definition.
  committed_ = first - 1;
  applied_ = first - 1;
}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

uint64_t RaftLog::LastTerm() const {
  uint64_t t = 0;
  Status s = Term(LastIndex(), &t);
  RAFT_CHECK(s.ok(), "unexpected error reading the last term: " + s.ToString());
  return t;
}

Status RaftLog::Term(uint64_t i, uint64_t* term) const {
  if (auto t = unstable_.MaybeTerm(i)) {
    *term = *t;
    return Status::OK();
  }
  // The valid range is [FirstIndex() - 1, LastIndex()]: the term of the
  // entry just before the first is kept for matching appends.
  if (i + 1 < FirstIndex()) return Status::OutOfRange("compacted");
  if (i > LastIndex()) return Status::NotFound("after the last index");
  Status s = storage_->Term(i, term);
  CheckStorage(s, "Term");
  return s;
}

uint64_t RaftLog::TermOrZero(uint64_t i) const {
  uint64_t t = 0;
  if (!Term(i, &t).ok()) return 0;
  return t;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t term) const {
  uint64_t t = 0;
  if (!Term(i, &t).ok()) return false;
  return t == term;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t last_term) const {
  uint64_t our_term = LastTerm();
  return last_term > our_term || (last_term == our_term && last_index >= LastIndex());
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                             std::vector<raftpb::Entry> entries) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  uint64_t last_new = index + entries.size();
  uint64_t ci = FindConflict(entries);
  if (ci != 0) {
    RAFT_CHECK(ci > committed_, "entry " + std::to_string(ci) +
                                    " conflicts with committed entry (committed " +
                                    std::to_string(committed_) + ")");
    uint64_t skip = ci - (index + 1);
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(skip));
    Append(std::move(entries));
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

uint64_t RaftLog::Append(std::vector<raftpb::Entry> entries) {
  if (entries.empty()) return LastIndex();
  uint64_t after = entries.front().index() - 1;
  RAFT_CHECK(after >= committed_, "appending after " + std::to_string(after) +
                                      " would truncate committed entries up to " +
                                      std::to_string(committed_));
  unstable_.TruncateAndAppend(std::move(entries));
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<raftpb::Entry>& entries) const {
  for (const raftpb::Entry& e : entries) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  for (; index > 0; --index) {
    uint64_t our = 0;
    if (!Term(index, &our).ok()) return {index, 0};
    if (our <= term) return {index, our};
  }
  return {0, 0};
}

Status RaftLog::Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      std::vector<raftpb::Entry>* out) const {
  out->clear();
  if (lo >= hi) return Status::OK();
  if (lo < FirstIndex()) return Status::OutOfRange("compacted");
  RAFT_CHECK(hi <= LastIndex() + 1, "slice [" + std::to_string(lo) + "," + std::to_string(hi) +
                                        ") beyond last index " + std::to_string(LastIndex()));
  uint64_t offset = unstable_.offset();
  if (lo < offset) {
    Status s = storage_->Entries(lo, std::min(hi, offset), max_bytes, out);
    CheckStorage(s, "Entries");
    if (!s.ok()) return s;
    // Storage stopped early (byte limit): the unstable part must not follow.
    if (out->size() < std::min(hi, offset) - lo) return Status::OK();
  }
  if (hi > offset) {
    std::vector<raftpb::Entry> tail = unstable_.Slice(std::max(lo, offset), hi);
    out->insert(out->end(), std::make_move_iterator(tail.begin()),
                std::make_move_iterator(tail.end()));
  }
  LimitSize(out, max_bytes);
  return Status::OK();
}

Status RaftLog::EntriesFrom(uint64_t i, uint64_t max_bytes, std::vector<raftpb::Entry>* out) const {
  if (i > LastIndex()) {
    out->clear();
    return Status::OK();
  }
  return Slice(i, LastIndex() + 1, max_bytes, out);
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;  // never decreases
  RAFT_CHECK(index <= LastIndex(), "commit index " + std::to_string(index) +
                                       " is beyond the last index " + std::to_string(LastIndex()));
  committed_ = index;
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  RAFT_CHECK(index <= committed_ && index >= applied_, "applied index " + std::to_string(index) +
                                                           " outside [" + std::to_string(applied_) +
                                                           ", " + std::to_string(committed_) + "]");
  applied_ = index;
}

bool RaftLog::HasNextCommittedEntries() const {
  if (unstable_.snapshot()) return false;
  return committed_ > std::max(applied_, FirstIndex() - 1);
}

std::vector<raftpb::Entry> RaftLog::NextCommittedEntries() const {
  std::vector<raftpb::Entry> out;
  if (!HasNextCommittedEntries()) return out;
  uint64_t lo = std::max(applied_ + 1, FirstIndex());
  Status s = Slice(lo, committed_ + 1, max_committed_bytes_, &out);
  RAFT_CHECK(s.ok(), "reading committed entries: " + s.ToString());
  return out;
}

Status RaftLog::Snapshot(raftpb::Snapshot* out) const {
  if (unstable_.snapshot()) {
    *out = *unstable_.snapshot();
    return Status::OK();
  }
  return storage_->Snapshot(out);
}

void RaftLog::Restore(const raftpb::Snapshot& snapshot) {
  committed_ = snapshot.metadata().index();
  unstable_.Restore(snapshot);
}

}  // namespace capstan::raft
