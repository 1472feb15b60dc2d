#include "raft/raft.h"

#include <algorithm>
#include <utility>

#include "raft/entry_size.h"
#include "raft/invariant.h"

namespace capstan::raft {

using raftpb::Entry;
using raftpb::Message;
using raftpb::MessageType;

namespace {

bool IsVoteRequest(MessageType t) { return t == raftpb::MSG_VOTE || t == raftpb::MSG_PRE_VOTE; }

bool CarriesTermExplicitly(MessageType t) {
  return t == raftpb::MSG_VOTE || t == raftpb::MSG_VOTE_RESP || t == raftpb::MSG_PRE_VOTE ||
         t == raftpb::MSG_PRE_VOTE_RESP;
}

Message MakeMessage(MessageType type, uint64_t to) {
  Message m;
  m.set_type(type);
  m.set_to(to);
  return m;
}

}  // namespace

Status Raft::Create(const Config& config, std::unique_ptr<Raft>* raft) {
  Status s = config.Validate();
  if (!s.ok()) return s;
  raftpb::HardState hs;
  raftpb::ConfState cs;
  s = config.storage->InitialState(&hs, &cs);
  if (!s.ok()) return s;

  auto r = std::make_unique<Raft>(Passkey{}, config);
  r->tracker_.Reset(cs, r->log_.LastIndex() + 1);
  r->is_learner_ = r->tracker_.IsLearner(r->id_);
  if (hs.commit() > r->log_.LastIndex()) {
    return Status::Corruption("raft: hard state commit " + std::to_string(hs.commit()) +
                              " is beyond the last log index " +
                              std::to_string(r->log_.LastIndex()));
  }
  r->log_.CommitTo(hs.commit());
  r->term_ = hs.term();
  r->vote_ = hs.vote();
  if (config.applied > r->log_.applied()) {
    if (config.applied > r->log_.committed()) {
      return Status::InvalidArgument("raft: applied index " + std::to_string(config.applied) +
                                     " is beyond the commit index " +
                                     std::to_string(r->log_.committed()));
    }
    r->log_.AppliedTo(config.applied);
  }
  r->BecomeFollower(r->term_, 0);
  *raft = std::move(r);
  return Status::OK();
}

Raft::Raft(Passkey, const Config& config)
    : config_(config),
      id_(config.id),
      log_(config.storage, config.max_committed_size_per_ready),
      tracker_(config.max_inflight_msgs, config.max_inflight_bytes),
      rng_(config.seed ^ (config.id * 0x9E3779B97F4A7C15ULL)) {}

raftpb::HardState Raft::GetHardState() const {
  raftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

std::vector<Message> Raft::TakeMessages() { return std::exchange(msgs_, {}); }

std::vector<ReadState> Raft::TakeReadStates() { return std::exchange(read_states_, {}); }

void Raft::Send(Message m) {
  if (m.from() == 0) m.set_from(id_);
  if (CarriesTermExplicitly(m.type())) {
    // Vote traffic carries the campaign's term, which is not always ours
    // (a pre-vote asks about term + 1).
    RAFT_CHECK(m.term() != 0, "vote message without a term");
  } else {
    RAFT_CHECK(m.term() == 0, "term set on a non-vote message");
    // Forwarded proposals and read requests are handled by the leader like
    // local messages, whatever term they were sent in.
    if (m.type() != raftpb::MSG_PROP && m.type() != raftpb::MSG_READ_INDEX) m.set_term(term_);
  }
  msgs_.push_back(std::move(m));
}

// ---------------------------------------------------------------------------
// Role transitions

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  lead_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  tracker_.ResetVotes();
  tracker_.ResetProgress(log_.LastIndex() + 1, id_, log_.LastIndex());
  pending_conf_index_ = 0;
  read_only_.Reset();
  pending_read_index_msgs_.clear();
}

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::BecomePreCandidate() {
  RAFT_CHECK(role_ != Role::kLeader, "leader cannot become pre-candidate");
  // Neither the term nor the vote changes: a pre-election only asks.
  tracker_.ResetVotes();
  lead_ = 0;
  role_ = Role::kPreCandidate;
}

void Raft::BecomeCandidate() {
  RAFT_CHECK(role_ != Role::kLeader, "leader cannot become candidate");
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  RAFT_CHECK(role_ == Role::kCandidate || role_ == Role::kPreCandidate,
             "only a candidate can become leader");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  if (Progress* self = tracker_.Get(id_)) {
    self->BecomeReplicate();
    self->recent_active = true;
  }
  // Entries after our commit index may include a conf change. Refuse new
  // ones until everything we have is applied; that also makes the leader
  // commit an entry of its own term (the empty one below) before any
  // membership change, which single-server changes need to be safe.
  pending_conf_index_ = log_.LastIndex();
  // An entry of the new term: committing it commits everything before it
  // (leaders never count replicas of older-term entries, Raft paper 5.4.2).
  std::vector<Entry> empty(1);
  AppendEntries(std::move(empty));
}

// ---------------------------------------------------------------------------
// Elections

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      config_.election_tick +
      static_cast<int>(rng_() % static_cast<uint64_t>(config_.election_tick));
}

bool Raft::Promotable() const {
  // A member restoring a snapshot does not know its log or config yet.
  return tracker_.IsVoter(id_) && !log_.PendingSnapshot();
}

bool Raft::HasUnappliedConfChanges() const {
  uint64_t lo = std::max(log_.applied() + 1, log_.FirstIndex());
  if (lo > log_.committed()) return false;
  std::vector<Entry> ents;
  Status s = log_.Slice(lo, log_.committed() + 1, kNoLimit, &ents);
  RAFT_CHECK(s.ok(), "reading unapplied entries: " + s.ToString());
  for (const Entry& e : ents) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

void Raft::Hup(CampaignType type) {
  if (role_ == Role::kLeader) return;
  if (!Promotable()) return;
  // Membership takes effect when applied. A committed but unapplied change
  // means our idea of the voters may be more than one change behind, and a
  // quorum of an older config need not overlap a quorum of the current one.
  if (HasUnappliedConfChanges()) return;
  Campaign(type);
}

void Raft::Campaign(CampaignType type) {
  uint64_t term;
  MessageType vote_type;
  if (type == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_type = raftpb::MSG_PRE_VOTE;
    // Ask about the term we would campaign in, without moving to it.
    term = term_ + 1;
  } else {
    BecomeCandidate();
    vote_type = raftpb::MSG_VOTE;
    term = term_;
  }
  if (Poll(id_, true) == VoteResult::kWon) {
    // A single voter wins on its own vote.
    if (type == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : tracker_.voters()) {
    if (id == id_) continue;
    Message m = MakeMessage(vote_type, id);
    m.set_term(term);
    m.set_index(log_.LastIndex());
    m.set_log_term(log_.LastTerm());
    if (type == CampaignType::kTransfer) m.set_context(kCampaignTransfer);
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(uint64_t id, bool granted) {
  tracker_.RecordVote(id, granted);
  return tracker_.TallyVotes(nullptr, nullptr);
}

void Raft::HandleVoteRequest(const Message& m) {
  // We can vote for m.from if we already did in this term (a retransmitted
  // request), or have voted for nobody and know no leader; a pre-vote for a
  // future term binds nothing, so it can be granted whatever our vote.
  bool can_vote = vote_ == m.from() || (vote_ == 0 && lead_ == 0) ||
                  (m.type() == raftpb::MSG_PRE_VOTE && m.term() > term_);
  MessageType resp_type =
      m.type() == raftpb::MSG_VOTE ? raftpb::MSG_VOTE_RESP : raftpb::MSG_PRE_VOTE_RESP;
  Message resp = MakeMessage(resp_type, m.from());
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    // Answer in the campaign's term: for a pre-vote that is not ours yet,
    // and the pre-candidate counts only answers in that term.
    resp.set_term(m.term());
    Send(std::move(resp));
    if (m.type() == raftpb::MSG_VOTE) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
    Send(std::move(resp));
  }
}

// ---------------------------------------------------------------------------
// Step

Status Raft::Step(const Message& m) {
  if (m.term() == 0) {
    // Local message (or a forwarded proposal / read request).
  } else if (m.term() > term_) {
    if (IsVoteRequest(m.type())) {
      bool forced = m.context() == kCampaignTransfer;
      bool in_lease =
          config_.check_quorum && lead_ != 0 && election_elapsed_ < config_.election_tick;
      // Within the lease we heard from a live leader: a candidate (e.g. a
      // member back from a partition, or one that was removed) cannot be
      // needed, so do not let it raise our term.
      if (!forced && in_lease) return Status::OK();
    }
    if (m.type() == raftpb::MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (m.type() == raftpb::MSG_PRE_VOTE_RESP && !m.reject()) {
      // A granted pre-vote carries the term we asked about; we move to it
      // only if we win the pre-election.
    } else if (m.type() == raftpb::MSG_APP || m.type() == raftpb::MSG_HEARTBEAT ||
               m.type() == raftpb::MSG_SNAP) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), 0);
    }
  } else if (m.term() < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type() == raftpb::MSG_HEARTBEAT || m.type() == raftpb::MSG_APP)) {
      // A leader of an older term, perhaps cut off while we moved on. With
      // CheckQuorum or PreVote our vote requests may never reach or move it,
      // so tell it our term directly; it steps down on hearing it.
      Send(MakeMessage(raftpb::MSG_APP_RESP, m.from()));
    } else if (m.type() == raftpb::MSG_PRE_VOTE || m.type() == raftpb::MSG_VOTE) {
      // Reject in our term, so the candidate learns it is behind (Raft paper,
      // Figure 2: every RequestVote is answered with the current term).
      // Dropping the request instead can deadlock: a voter that missed the
      // conf changes adding the candidate campaigns among stale peers at ever
      // higher terms, while the candidate's requests at lower terms go
      // unanswered and neither can win (found by the simulation).
      Message resp = MakeMessage(
          m.type() == raftpb::MSG_VOTE ? raftpb::MSG_VOTE_RESP : raftpb::MSG_PRE_VOTE_RESP,
          m.from());
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return Status::OK();
  }

  switch (m.type()) {
    case raftpb::MSG_HUP:
      Hup(config_.pre_vote ? CampaignType::kPreElection : CampaignType::kElection);
      return Status::OK();
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      HandleVoteRequest(m);
      return Status::OK();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return Status::OK();
}

Status Raft::StepLeader(const Message& m) {
  switch (m.type()) {
    case raftpb::MSG_BEAT:
      BroadcastHeartbeat(read_only_.LastPendingContext());
      return Status::OK();
    case raftpb::MSG_CHECK_QUORUM:
      if (!tracker_.QuorumActive()) {
        BecomeFollower(term_, 0);
        return Status::OK();
      }
      for (auto& [id, pr] : tracker_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
      return Status::OK();
    case raftpb::MSG_PROP: {
      if (m.entries_size() == 0) return Status::InvalidArgument("raft: empty proposal");
      if (!tracker_.IsVoter(id_)) {
        return Status::Unavailable("raft: proposal dropped: this member is not a voter");
      }
      if (lead_transferee_ != 0) {
        return Status::Unavailable("raft: proposal dropped: leadership transfer in progress");
      }
      std::vector<Entry> entries(m.entries().begin(), m.entries().end());
      uint64_t conf_index = 0;
      for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].type() != raftpb::ENTRY_CONF_CHANGE) continue;
        // One membership change at a time: the next may only be appended
        // once the previous one is applied (and so in force) here.
        if (conf_index != 0 || pending_conf_index_ > log_.applied()) {
          return Status::FailedPrecondition(
              "raft: a configuration change is already pending (index " +
              std::to_string(std::max(conf_index, pending_conf_index_)) + ", applied " +
              std::to_string(log_.applied()) + ")");
        }
        conf_index = log_.LastIndex() + i + 1;
      }
      if (conf_index != 0) pending_conf_index_ = conf_index;
      AppendEntries(std::move(entries));
      BroadcastAppend();
      return Status::OK();
    }
    case raftpb::MSG_READ_INDEX:
      HandleReadIndexOnLeader(m);
      return Status::OK();
    default:
      break;
  }

  // Messages about one follower.
  Progress* pr = tracker_.Get(m.from());
  if (pr == nullptr) return Status::OK();
  switch (m.type()) {
    case raftpb::MSG_APP_RESP: {
      pr->recent_active = true;
      if (m.reject()) {
        // Jump back using the follower's hint: its log has term
        // m.log_term() at m.reject_hint(), so none of our entries after the
        // last one with a term <= that can match there.
        uint64_t next_probe = m.reject_hint();
        if (m.log_term() > 0) {
          next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
        }
        if (pr->MaybeDecrTo(m.index(), next_probe)) {
          if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
          SendAppend(m.from());
        }
        return Status::OK();
      }
      bool was_paused = pr->IsPaused();
      // As etcd's raft: besides a response that moves match forward, one
      // that shows a probing follower holds exactly our match (e.g. to the
      // empty append a heartbeat response triggered, see MSG_HEARTBEAT_RESP)
      // moves it back to replicating. Otherwise a caught-up follower could
      // stay probing, one message at a time, until the next proposal. Not
      // for kSnapshot: m.index() == match says nothing about the snapshot.
      const bool probe_caught_up = pr->state == ProgressState::kProbe && pr->match == m.index();
      if (!pr->MaybeUpdate(m.index()) && !probe_caught_up) return Status::OK();
      switch (pr->state) {
        case ProgressState::kProbe:
          pr->BecomeReplicate();
          break;
        case ProgressState::kSnapshot:
          // Caught up past what we compacted: log entries can follow.
          if (pr->match + 1 >= log_.FirstIndex()) {
            pr->BecomeProbe();
            pr->BecomeReplicate();
          }
          break;
        case ProgressState::kReplicate:
          pr->inflights.FreeLE(m.index());
          break;
      }
      if (MaybeCommit()) {
        ReleasePendingReadIndexMessages();
        BroadcastAppend();
      } else if (was_paused) {
        SendAppend(m.from());
      }
      // Pipelining: send whatever flow control allows.
      while (MaybeSendAppend(m.from(), false)) {
      }
      if (m.from() == lead_transferee_ && pr->match == log_.LastIndex()) {
        SendTimeoutNow(m.from());
      }
      return Status::OK();
    }
    case raftpb::MSG_HEARTBEAT_RESP: {
      pr->recent_active = true;
      pr->probe_sent = false;
      // Acknowledgements may have been lost: free a slot so the window
      // cannot stay full forever (the follower rejects if it missed data).
      if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) {
        pr->inflights.FreeFirstOne();
      }
      // A probing follower gets an append even when caught up (it is then
      // empty): its response moves it back to replicating (etcd's raft).
      if (pr->match < log_.LastIndex() || pr->state == ProgressState::kProbe) {
        SendAppend(m.from());
      }
      if (m.context().empty()) return Status::OK();
      const std::set<uint64_t>* acks = read_only_.RecvAck(m.from(), m.context());
      if (acks == nullptr || !tracker_.IsQuorum(*acks)) return Status::OK();
      for (ReadIndexStatus& rs : read_only_.Advance(m.context())) {
        RespondReadIndex(rs.request, rs.index);
      }
      return Status::OK();
    }
    case raftpb::MSG_SNAP_STATUS:
      if (pr->state != ProgressState::kSnapshot) return Status::OK();
      // On failure, probe from the match point again; on success, from the
      // snapshot. Either way wait for the next heartbeat response, which
      // shows the follower is there, before sending.
      if (m.reject()) pr->pending_snapshot = 0;
      pr->BecomeProbe();
      pr->probe_sent = true;
      return Status::OK();
    case raftpb::MSG_UNREACHABLE:
      // Optimistic sends are likely lost: fall back to probing.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      return Status::OK();
    case raftpb::MSG_TRANSFER_LEADER: {
      if (pr->is_learner) return Status::OK();
      uint64_t transferee = m.from();
      if (lead_transferee_ != 0) {
        if (lead_transferee_ == transferee) return Status::OK();
        AbortLeaderTransfer();
      }
      if (transferee == id_) return Status::OK();
      // The transfer must finish within an election timeout (see
      // TickHeartbeat); proposals are dropped meanwhile so the transferee
      // can catch up.
      election_elapsed_ = 0;
      lead_transferee_ = transferee;
      if (pr->match == log_.LastIndex()) {
        SendTimeoutNow(transferee);
      } else {
        SendAppend(transferee);
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Status Raft::StepCandidate(const Message& m) {
  MessageType my_resp =
      role_ == Role::kPreCandidate ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP;
  switch (m.type()) {
    case raftpb::MSG_PROP:
      return Status::Unavailable("raft: proposal dropped: no leader");
    case raftpb::MSG_READ_INDEX:
      return Status::Unavailable("raft: read index dropped: no leader");
    case raftpb::MSG_APP:
      // A leader of our term (or newer) exists.
      BecomeFollower(m.term(), m.from());
      HandleAppendEntries(m);
      return Status::OK();
    case raftpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      return Status::OK();
    case raftpb::MSG_SNAP:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      return Status::OK();
    case raftpb::MSG_PRE_VOTE_RESP:
    case raftpb::MSG_VOTE_RESP: {
      if (m.type() != my_resp) return Status::OK();
      VoteResult r = Poll(m.from(), !m.reject());
      if (r == VoteResult::kWon) {
        if (role_ == Role::kPreCandidate) {
          Campaign(CampaignType::kElection);
        } else {
          BecomeLeader();
          BroadcastAppend();
        }
      } else if (r == VoteResult::kLost) {
        // A granted pre-vote carries a future term; ours stays.
        BecomeFollower(term_, 0);
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Status Raft::StepFollower(const Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROP: {
      if (lead_ == 0) return Status::Unavailable("raft: proposal dropped: no leader");
      if (config_.disable_proposal_forwarding) {
        return Status::Unavailable("raft: proposal dropped: forwarding to the leader is disabled");
      }
      Message fwd = m;
      fwd.set_to(lead_);
      fwd.set_term(0);  // proposals travel without a term
      Send(std::move(fwd));
      return Status::OK();
    }
    case raftpb::MSG_APP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppendEntries(m);
      return Status::OK();
    case raftpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      return Status::OK();
    case raftpb::MSG_SNAP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      return Status::OK();
    case raftpb::MSG_TRANSFER_LEADER: {
      if (lead_ == 0) return Status::Unavailable("raft: leadership transfer dropped: no leader");
      Message fwd = m;
      fwd.set_to(lead_);
      fwd.set_term(0);
      Send(std::move(fwd));
      return Status::OK();
    }
    case raftpb::MSG_TIMEOUT_NOW:
      // The leader asked us to take over: campaign at once, without a
      // pre-vote (we know the leader is fine) and past the voters' leases.
      Hup(CampaignType::kTransfer);
      return Status::OK();
    case raftpb::MSG_READ_INDEX: {
      if (lead_ == 0) return Status::Unavailable("raft: read index dropped: no leader");
      Message fwd = m;
      fwd.set_to(lead_);
      fwd.set_term(0);
      Send(std::move(fwd));
      return Status::OK();
    }
    case raftpb::MSG_READ_INDEX_RESP:
      read_states_.push_back(ReadState{m.index(), m.context()});
      return Status::OK();
    default:
      return Status::OK();
  }
}

// ---------------------------------------------------------------------------
// Follower handlers

void Raft::HandleAppendEntries(const Message& m) {
  Message resp = MakeMessage(raftpb::MSG_APP_RESP, m.from());
  if (m.index() < log_.committed()) {
    // Everything up to our commit index matches any leader's log; say where
    // we are so the leader skips ahead.
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  std::vector<Entry> ents(m.entries().begin(), m.entries().end());
  if (auto last = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), std::move(ents))) {
    resp.set_index(*last);
    Send(std::move(resp));
    return;
  }
  // Reject with a hint: the last index at or below m.index() whose term is
  // no greater than m.log_term(). The leader can skip every index after it
  // whose term is larger, in one round trip rather than one per entry.
  uint64_t hint_index = std::min(m.index(), log_.LastIndex());
  auto [index, term] = log_.FindConflictByTerm(hint_index, m.log_term());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(index);
  resp.set_log_term(term);
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const Message& m) {
  // The leader sends min(our match, its commit), so this never points past
  // entries we have in common with it.
  log_.CommitTo(m.commit());
  Message resp = MakeMessage(raftpb::MSG_HEARTBEAT_RESP, m.from());
  resp.set_context(m.context());
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const Message& m) {
  Message resp = MakeMessage(raftpb::MSG_APP_RESP, m.from());
  if (Restore(m.snapshot())) {
    resp.set_index(log_.LastIndex());
  } else {
    resp.set_index(log_.committed());
  }
  Send(std::move(resp));
}

bool Raft::Restore(const raftpb::Snapshot& snapshot) {
  const raftpb::SnapshotMetadata& md = snapshot.metadata();
  if (md.index() <= log_.committed()) return false;
  if (role_ != Role::kFollower) {
    // Only a follower gets snapshots; anything else means a confused peer.
    // Move to a new term to be safe, and ignore it.
    BecomeFollower(term_ + 1, 0);
    return false;
  }
  if (log_.MatchTerm(md.index(), md.term())) {
    // We have the snapshot's last entry, hence (log matching) everything
    // before it: just commit up to it.
    log_.CommitTo(md.index());
    return false;
  }
  // Note: we may not be in the snapshot's membership. That happens when we
  // were added after the snapshot was taken and the leader has compacted
  // the entries we need; the conf change adding us follows in the log.
  log_.Restore(snapshot);
  tracker_.Reset(md.conf_state(), log_.LastIndex() + 1);
  is_learner_ = tracker_.IsLearner(id_);
  return true;
}

// ---------------------------------------------------------------------------
// Leader replication

bool Raft::AppendEntries(std::vector<Entry> entries) {
  uint64_t li = log_.LastIndex();
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].set_term(term_);
    entries[i].set_index(li + 1 + i);
  }
  li = log_.Append(std::move(entries));
  // The leader's own copy counts towards the quorum. Safe although not yet
  // persisted: followers only acknowledge after receiving it in a message,
  // which is sent after the leader's Ready (with these entries) is persisted.
  if (Progress* self = tracker_.Get(id_)) self->MaybeUpdate(li);
  MaybeCommit();
  return true;
}

bool Raft::MaybeCommit() { return log_.MaybeCommit(tracker_.Committed(), term_); }

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty) {
  Progress* pr = tracker_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  uint64_t prev_index = pr->next - 1;
  uint64_t prev_term = 0;
  std::vector<Entry> ents;
  Status s = log_.Term(prev_index, &prev_term);
  if (s.ok()) s = log_.EntriesFrom(pr->next, config_.max_size_per_msg, &ents);
  if (s.ok()) {
    if (ents.empty() && !send_if_empty) return false;
    Message m = MakeMessage(raftpb::MSG_APP, to);
    m.set_index(prev_index);
    m.set_log_term(prev_term);
    m.set_commit(log_.committed());
    if (!ents.empty()) {
      uint64_t bytes = 0;
      for (const Entry& e : ents) bytes += EntrySize(e);
      pr->SentEntries(ents.back().index(), bytes);
      for (Entry& e : ents) *m.add_entries() = std::move(e);
    }
    Send(std::move(m));
    return true;
  }
  RAFT_CHECK(s.code() == Status::Code::kOutOfRange,
             "reading entries for " + std::to_string(to) + ": " + s.ToString());
  // The follower needs entries we compacted: send the snapshot. Only to a
  // follower we heard from recently, since snapshots are expensive.
  if (!pr->recent_active) return false;
  raftpb::Snapshot snap;
  s = log_.Snapshot(&snap);
  if (s.code() == Status::Code::kUnavailable) return false;  // not ready yet
  RAFT_CHECK(s.ok(), "reading the snapshot: " + s.ToString());
  RAFT_CHECK(snap.metadata().index() != 0, "entries compacted without a snapshot");
  Message m = MakeMessage(raftpb::MSG_SNAP, to);
  pr->BecomeSnapshot(snap.metadata().index());
  *m.mutable_snapshot() = std::move(snap);
  Send(std::move(m));
  return true;
}

void Raft::BroadcastAppend() {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id == id_) continue;
    SendAppend(id);
    // A follower in the replicate state takes as many messages as its
    // window allows (entries beyond max_size_per_msg go out pipelined).
    while (pr.state == ProgressState::kReplicate && MaybeSendAppend(id, false)) {
    }
  }
}

void Raft::SendHeartbeat(uint64_t to, const std::string& context) {
  const Progress* pr = tracker_.Get(to);
  Message m = MakeMessage(raftpb::MSG_HEARTBEAT, to);
  // Never tell a follower to commit past what it is known to share with us:
  // its entries beyond the match point may still be from another leader.
  m.set_commit(std::min(pr ? pr->match : 0, log_.committed()));
  m.set_context(context);
  Send(std::move(m));
}

void Raft::BroadcastHeartbeat(const std::string& context) {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

void Raft::SendTimeoutNow(uint64_t to) { Send(MakeMessage(raftpb::MSG_TIMEOUT_NOW, to)); }

// ---------------------------------------------------------------------------
// ReadIndex

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

void Raft::HandleReadIndexOnLeader(const Message& m) {
  if (tracker_.IsSingleton()) {
    // No other voter could have elected a newer leader.
    RespondReadIndex(m, log_.committed());
    return;
  }
  // A new leader's commit index may lag what the previous leader
  // committed until it commits an entry of its own term.
  if (!CommittedEntryInCurrentTerm()) {
    pending_read_index_msgs_.push_back(m);
    return;
  }
  // Requests are keyed by sender and context: each member numbers its own
  // requests, so two members can use the same context at once. Keyed by the
  // context alone, the later one would pass for a retransmission of the
  // earlier and be dropped, its reads waiting for the caller's timeout.
  const std::string key = ReadOnly::Key(m.from() == 0 ? id_ : m.from(), m.context());
  read_only_.AddRequest(key, log_.committed(), m);
  read_only_.RecvAck(id_, key);
  BroadcastHeartbeat(key);
}

void Raft::RespondReadIndex(const Message& req, uint64_t index) {
  if (req.from() == 0 || req.from() == id_) {
    read_states_.push_back(ReadState{index, req.context()});
    return;
  }
  Message resp = MakeMessage(raftpb::MSG_READ_INDEX_RESP, req.from());
  resp.set_index(index);
  resp.set_context(req.context());
  Send(std::move(resp));
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_msgs_.empty() || !CommittedEntryInCurrentTerm()) return;
  std::vector<Message> msgs = std::exchange(pending_read_index_msgs_, {});
  for (const Message& m : msgs) HandleReadIndexOnLeader(m);
}

// ---------------------------------------------------------------------------
// Ticks

void Raft::Tick() {
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    Step(MakeMessage(raftpb::MSG_HUP, 0));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    if (config_.check_quorum) Step(MakeMessage(raftpb::MSG_CHECK_QUORUM, 0));
    // A transfer that did not finish within an election timeout failed
    // (the transferee is slow or gone): accept proposals again.
    if (role_ == Role::kLeader && lead_transferee_ != 0) AbortLeaderTransfer();
  }
  if (role_ != Role::kLeader) return;
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    Step(MakeMessage(raftpb::MSG_BEAT, 0));
  }
}

// ---------------------------------------------------------------------------
// Membership

raftpb::ConfState Raft::ApplyConfChange(const raftpb::ConfChange& cc) {
  uint64_t id = cc.node_id();
  // New members are probed from our last entry.
  uint64_t next = std::max<uint64_t>(log_.LastIndex(), 1);
  bool last_voter = tracker_.IsVoter(id) && tracker_.voters().size() == 1;
  if (id != 0) {
    switch (cc.type()) {
      case raftpb::CONF_CHANGE_ADD_NODE:
        tracker_.AddVoter(id, next);
        break;
      case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
        // Demoting the last voter would leave nobody to elect a leader.
        if (!last_voter) tracker_.AddLearner(id, next);
        break;
      case raftpb::CONF_CHANGE_REMOVE_NODE:
        if (!last_voter) tracker_.Remove(id);
        break;
      case raftpb::CONF_CHANGE_UPDATE_NODE:
      default:
        break;
    }
  }
  is_learner_ = tracker_.IsLearner(id_);
  if (role_ == Role::kLeader) {
    if (!tracker_.IsVoter(id_)) {
      // Removed or demoted: a leader outside the voters would go on
      // committing with a quorum it is not part of; hand over instead.
      BecomeFollower(term_, 0);
    } else {
      if (MaybeCommit()) {
        // A smaller quorum may commit more right away.
        BroadcastAppend();
      } else {
        for (const auto& [pid, pr] : tracker_.progress()) {
          if (pid != id_) MaybeSendAppend(pid, false);
        }
      }
      if (lead_transferee_ != 0 && !tracker_.IsVoter(lead_transferee_)) AbortLeaderTransfer();
    }
  }
  return tracker_.GetConfState();
}

void Raft::BootstrapLog(std::vector<Entry> entries) {
  BecomeFollower(1, 0);
  uint64_t last = entries.empty() ? 0 : entries.back().index();
  log_.Append(std::move(entries));
  log_.CommitTo(last);
}

}  // namespace capstan::raft
