#include "raft/raft_node.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>

namespace capstan::raft {
namespace {

using Clock = std::chrono::steady_clock;

std::string ReadContext(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

RaftNode::RaftNode(RaftNodeOptions options)
    : options_(std::move(options)), receiver_(options_.snap_dir) {}

RaftNode::~RaftNode() { Stop(); }

std::vector<std::string> RaftNode::PeerAddresses(const raftpb::MemberContext& m) {
  std::vector<std::string> out;
  for (const std::string& url : m.peer_urls()) {
    std::string s = url;
    if (size_t p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
    if (size_t p = s.find('/'); p != std::string::npos) s = s.substr(0, p);
    out.push_back(s);
  }
  return out;
}

Status RaftNode::Start(uint64_t applied_index, ApplyFn apply) {
  apply_ = std::move(apply);
  const bool restart = Wal::Exists(options_.wal_dir);
  Status s = receiver_.Init();
  if (!s.ok()) return s;
  conf_states_[0] = raftpb::ConfState();
  if (restart) {
    WalContents contents;
    s = Wal::Open(options_.wal_dir, options_.wal, &wal_, &contents);
    if (!s.ok()) return s;
    if (contents.snapshot_index > 0) {
      // The log starts at the snapshot, which the state machine must hold.
      if (applied_index < contents.snapshot_index) {
        return Status::FailedPrecondition(
            "the store has applied up to index " + std::to_string(applied_index) +
            " but the Raft log starts after a snapshot at " +
            std::to_string(contents.snapshot_index) + ": the data dir is damaged");
      }
      raftpb::Snapshot snap;
      snap.mutable_metadata()->set_index(contents.snapshot_index);
      snap.mutable_metadata()->set_term(contents.snapshot_term);
      *snap.mutable_metadata()->mutable_conf_state() = contents.snapshot_conf_state;
      s = storage_.ApplySnapshot(snap);
      if (!s.ok()) return s;
      snapshot_index_ = contents.snapshot_index;
      conf_states_[snapshot_index_] = contents.snapshot_conf_state;
    }
    storage_.SetHardState(contents.hard_state);
    s = storage_.Append(contents.entries);
    if (!s.ok()) return s;
  } else {
    s = Wal::Create(options_.wal_dir, std::to_string(options_.member_id), options_.wal, &wal_);
    if (!s.ok()) return s;
    if (options_.start_index > 0) s = SeedFromStateMachine();
    if (!s.ok()) return s;
  }

  Config cfg;
  cfg.id = options_.member_id;
  cfg.election_tick = options_.election_ticks;
  cfg.heartbeat_tick = 1;
  cfg.storage = &storage_;
  // Re-deliver every committed entry after the snapshot the log starts
  // with: the core rebuilds its membership from the snapshot and the conf
  // changes after it, and the state machine skips what it already applied.
  // This also covers a store that applied an entry whose lazily written
  // commit index the crash lost.
  cfg.applied = snapshot_index_;
  cfg.check_quorum = true;
  cfg.pre_vote = true;
  cfg.seed = options_.seed ^ options_.member_id;
  s = RawNode::Create(cfg, &node_);
  if (!s.ok()) return s;
  if (!restart && options_.bootstrap && options_.start_index == 0) {
    // Every initial member bootstraps the same voters; their conf-change
    // entries carry the member descriptions, so the member table is built by
    // applying the log like everything else.
    std::vector<uint64_t> voters;
    for (const auto& m : options_.initial_members) voters.push_back(m.id());
    s = node_->Bootstrap(voters);
    if (!s.ok()) return s;
  }

  PeerTransportOptions topts;
  topts.local_id = options_.member_id;
  topts.cluster_id = options_.cluster_id;
  topts.listen_addresses = options_.listen_peer_addresses;
  topts.tls = options_.peer_tls;
  s = PeerTransport::Start(
      topts, [this](raftpb::Message m) { OnMessage(std::move(m)); }, &transport_);
  if (!s.ok()) return s;
  for (const auto& m : options_.initial_members) AddPeer(m);
  sender_ = std::make_unique<SnapshotSender>(options_.snap_dir, transport_.get(),
                                             options_.save_snapshot, [this](uint64_t to, bool ok) {
                                               {
                                                 std::lock_guard l(mu_);
                                                 snapshot_reports_.emplace_back(to, ok);
                                               }
                                               cv_.notify_one();
                                             });
  // Read contexts continue from the clock rather than from 0: a request this
  // member sent before a restart may still wait at the leader, which would
  // take a new one with the same context for a retransmission and drop it.
  next_read_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "cap-raft");
    Run();
  });
  installer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "cap-snap-install");
    InstallLoop();
  });
  return Status::OK();
}

Status RaftNode::SeedFromStateMachine() {
  raftpb::Snapshot snap;
  raftpb::SnapshotMetadata* md = snap.mutable_metadata();
  md->set_index(options_.start_index);
  md->set_term(std::max<uint64_t>(1, options_.start_term));
  for (const auto& m : options_.initial_members) {
    if (m.is_learner()) {
      md->mutable_conf_state()->add_learners(m.id());
    } else {
      md->mutable_conf_state()->add_voters(m.id());
    }
  }
  raftpb::HardState hs;
  hs.set_term(md->term());
  hs.set_commit(md->index());
  Status s = wal_->SaveSnapshotMarker(md->index(), md->term(), md->conf_state());
  if (s.ok()) s = wal_->Save(&hs, {}, true);
  if (s.ok()) s = storage_.ApplySnapshot(snap);
  if (!s.ok()) return s;
  storage_.SetHardState(hs);
  snapshot_index_ = md->index();
  conf_states_[snapshot_index_] = md->conf_state();
  return Status::OK();
}

void RaftNode::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  installer_cv_.notify_all();
  if (installer_.joinable()) installer_.join();
  if (thread_.joinable()) thread_.join();
  sender_.reset();
  if (transport_) transport_->Stop();
}

void RaftNode::OnMessage(raftpb::Message m) {
  // On the transport's thread.
  if (m.type() == raftpb::MSG_SNAP_CHUNK) {
    receiver_.OnChunk(m);
    return;
  }
  std::lock_guard l(mu_);
  if (m.type() == raftpb::MSG_SNAP) {
    // Without the state machine that travelled ahead of it, a snapshot is
    // useless: drop it, and the leader sends another. One being installed
    // already covers any other up to its index.
    const uint64_t index = m.snapshot().metadata().index();
    if (index <= installing_) return;
    std::string path;
    if (!receiver_.TakeFile(m, &path)) return;
    auto& slot = snapshot_files_[index];
    if (!slot.empty()) walio::RemoveFile(slot);
    slot = std::move(path);
    // The state machine is installed off the Raft thread first (see
    // InstallLoop); the core sees the snapshot once that is done.
    installing_ = index;
    to_install_.push_back(std::move(m));
    installer_cv_.notify_one();
    return;
  }
  inbox_.push_back(std::move(m));
  cv_.notify_one();
}

void RaftNode::InstallLoop() {
  // Installing the leader's copy of the state machine takes as long as
  // copying it; on the Raft thread that would stop heartbeats and votes.
  // So the copy is made here, before the core even sees the MSG_SNAP. That
  // is safe whether or not the core then accepts the snapshot: the copy
  // holds only committed state (the leader's applied entries), and the
  // state machine skips committed entries it already holds. The crash order
  // is unchanged: the store is replaced and durable before the WAL marks
  // that the log starts at the snapshot (InstallSnapshot, on the Raft
  // thread, which then finds the store already there and only records it).
  std::unique_lock l(mu_);
  while (true) {
    installer_cv_.wait(l, [&] { return stopping_ || !to_install_.empty(); });
    if (stopping_) return;
    raftpb::Message m = std::move(to_install_.front());
    to_install_.pop_front();
    const uint64_t index = m.snapshot().metadata().index();
    auto it = snapshot_files_.find(index);
    const std::string path = it == snapshot_files_.end() ? std::string() : it->second;
    l.unlock();
    if (!path.empty()) {
      std::vector<raftpb::MemberContext> members;
      Status s = options_.restore_snapshot(path, index, &members);
      if (!s.ok()) {
        // InstallSnapshot tries again, and stops the member if it fails.
        fprintf(stderr, "capstan: installing the leader's snapshot at index %llu: %s\n",
                static_cast<unsigned long long>(index), s.ToString().c_str());
      }
    }
    l.lock();
    if (to_install_.empty()) installing_ = 0;  // a resend of it is taken again
    inbox_.push_back(std::move(m));
    cv_.notify_one();
  }
}

void RaftNode::AddPeer(const raftpb::MemberContext& m) {
  if (m.id() == options_.member_id || m.peer_urls_size() == 0) return;
  transport_->AddPeer(m.id(), PeerAddresses(m));
  peers_.insert(m.id());
}

Status RaftNode::Propose(std::string data) {
  if (leader_.load() == 0) return Status::Unavailable("no leader");
  {
    std::lock_guard l(mu_);
    if (stopping_) return Status::Unavailable("server stopped");
    proposals_.push_back(std::move(data));
  }
  cv_.notify_one();
  return Status::OK();
}

void RaftNode::ReadIndex(ReadIndexFn done) { QueueReadRound(&read_requests_, std::move(done)); }

void RaftNode::ConfirmLeadership(ReadIndexFn done) {
  QueueReadRound(&leader_checks_, std::move(done));
}

void RaftNode::QueueReadRound(std::vector<ReadIndexFn>* queue, ReadIndexFn done) {
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      queue->push_back(std::move(done));
      cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("server stopped"), 0);
}

Status RaftNode::ProposeConfChange(const raftpb::ConfChange& cc) {
  if (leader_.load() == 0) return Status::Unavailable("no leader");
  {
    std::lock_guard l(mu_);
    conf_changes_.push_back(cc);
  }
  cv_.notify_one();
  return Status::OK();
}

Status RaftNode::TransferLeadership(uint64_t to) {
  {
    std::lock_guard l(mu_);
    transfer_to_ = to;
  }
  cv_.notify_one();
  return Status::OK();
}

void RaftNode::ReleaseBefore(uint64_t index) {
  {
    std::lock_guard l(mu_);
    if (index <= release_to_) return;
    release_to_ = index;
    release_pending_ = true;
  }
  cv_.notify_one();
}

raftpb::ConfState RaftNode::ConfStateAt(uint64_t index) const {
  auto it = conf_states_.upper_bound(index);
  return it == conf_states_.begin() ? raftpb::ConfState() : std::prev(it)->second;
}

void RaftNode::MaybeSnapshot(uint64_t durable) {
  if (durable <= snapshot_index_ || durable - snapshot_index_ < options_.snapshot_count) return;
  uint64_t term = 0;
  if (!storage_.Term(durable, &term).ok()) return;
  const raftpb::ConfState conf = ConfStateAt(durable);
  if (!storage_.CreateSnapshot(durable, conf, "", nullptr).ok()) return;
  // Marked before anything is released: a restart must know where the log starts.
  Status s = wal_->SaveSnapshotMarker(durable, term, conf);
  if (!s.ok()) {
    fprintf(stderr, "capstan: fatal: wal write failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  s = wal_->ReleaseBefore(durable + 1);
  if (!s.ok()) fprintf(stderr, "capstan: releasing wal segments: %s\n", s.ToString().c_str());
  if (durable > options_.snapshot_catchup_entries) {
    storage_.Compact(durable - options_.snapshot_catchup_entries);
  }
  snapshot_index_ = durable;
  conf_states_.erase(conf_states_.begin(), conf_states_.upper_bound(durable));
  conf_states_[durable] = conf;
}

void RaftNode::InstallSnapshot(const raftpb::Snapshot& snapshot) {
  const raftpb::SnapshotMetadata& md = snapshot.metadata();
  std::string path;
  {
    std::lock_guard l(mu_);
    auto end = snapshot_files_.upper_bound(md.index());
    for (auto it = snapshot_files_.begin(); it != end; ++it) {
      if (it->first == md.index()) {
        path = std::move(it->second);
      } else {
        walio::RemoveFile(it->second);
      }
    }
    snapshot_files_.erase(snapshot_files_.begin(), end);
  }
  auto fatal = [](const std::string& what) {
    fprintf(stderr, "capstan: fatal: installing a snapshot: %s\n", what.c_str());
    std::abort();
  };
  if (path.empty()) fatal("its data is missing");
  fprintf(stderr, "capstan: installing the leader's snapshot at index %llu\n",
          static_cast<unsigned long long>(md.index()));
  // The state machine first: once the WAL says the log starts at the
  // snapshot, a restart relies on the store holding everything before it.
  // InstallLoop normally installed it already: this finds the store there
  // (no copy) and returns the membership it holds.
  std::vector<raftpb::MemberContext> members;
  Status s = options_.restore_snapshot(path, md.index(), &members);
  if (!s.ok()) fatal(s.ToString());
  walio::RemoveFile(path);
  s = wal_->SaveSnapshotMarker(md.index(), md.term(), md.conf_state());
  if (!s.ok()) fatal(s.ToString());
  storage_.ApplySnapshot(snapshot);
  snapshot_index_ = md.index();
  conf_states_.clear();
  conf_states_[md.index()] = md.conf_state();
  // Members may have come and gone in entries this one never saw.
  std::set<uint64_t> current;
  for (const auto& m : members) {
    current.insert(m.id());
    AddPeer(m);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (current.count(*it) == 0) {
      transport_->RemovePeer(*it);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

LogStatus RaftNode::GetStatus() const {
  LogStatus st;
  st.member_id = options_.member_id;
  st.leader_id = leader_.load();
  st.term = term_.load();
  st.commit_index = commit_.load();
  st.last_index = last_index_.load();
  return st;
}

void RaftNode::PublishLearnerProgress() {
  const Raft& r = node_->raft();
  const bool leading = r.role() == Role::kLeader;
  std::map<uint64_t, uint64_t> learners;
  if (leading) {
    for (const auto& [id, pr] : r.tracker().progress()) {
      if (pr.is_learner) learners[id] = pr.match;
    }
  }
  std::lock_guard l(mu_);
  leading_ = leading;
  leader_last_index_ = r.log().LastIndex();
  learner_match_.swap(learners);
}

ConsensusLog::LearnerState RaftNode::LearnerProgress(uint64_t id) const {
  std::lock_guard l(mu_);
  if (!leading_) return LearnerState::kNotLeader;
  auto it = learner_match_.find(id);
  if (it == learner_match_.end()) return LearnerState::kReady;
  // etcd: float64(learnerMatch) < float64(leaderMatch)*readyPercent (0.9)
  return static_cast<double>(it->second) < static_cast<double>(leader_last_index_) * 0.9
             ? LearnerState::kNotReady
             : LearnerState::kReady;
}

void RaftNode::ExpireReads(Clock::time_point now) {
  // A read index lost with a leader change is never answered: time it out.
  const auto timeout = options_.tick * options_.election_ticks * 2;
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (now - it->second.since > timeout) {
      for (auto& done : it->second.done) done(Status::Unavailable("request timed out"), 0);
      it = reads_.erase(it);
    } else {
      ++it;
    }
  }
}

void RaftNode::Run() {
  auto next_tick = Clock::now() + options_.tick;
  std::vector<raftpb::Message> inbox;
  std::vector<std::string> proposals;
  std::vector<raftpb::ConfChange> conf_changes;
  std::vector<ReadIndexFn> reads;
  std::vector<ReadIndexFn> leader_checks;
  std::vector<std::pair<uint64_t, bool>> reports;
  while (true) {
    uint64_t transfer = 0;
    uint64_t release_to = 0;
    {
      std::unique_lock l(mu_);
      cv_.wait_until(l, next_tick, [&] {
        return stopping_ || !inbox_.empty() || !proposals_.empty() || !conf_changes_.empty() ||
               !read_requests_.empty() || !leader_checks_.empty() || transfer_to_ != 0 ||
               !snapshot_reports_.empty() || release_pending_;
      });
      if (stopping_) break;
      inbox.swap(inbox_);
      proposals.swap(proposals_);
      conf_changes.swap(conf_changes_);
      reads.swap(read_requests_);
      leader_checks.swap(leader_checks_);
      transfer = std::exchange(transfer_to_, 0);
      reports.swap(snapshot_reports_);
      release_to = release_to_;
      release_pending_ = false;
    }
    MaybeSnapshot(release_to);
    for (auto [id, ok] : reports) node_->ReportSnapshot(id, ok);
    reports.clear();
    const auto now = Clock::now();
    if (now >= next_tick) {
      node_->Tick();
      transport_->Probe();
      next_tick = now + options_.tick;
      ExpireReads(now);
      for (uint64_t id : transport_->TakeUnreachable()) node_->ReportUnreachable(id);
    }
    for (const auto& m : inbox) node_->Step(m);  // stale or unknown senders are ignored
    inbox.clear();
    for (auto& p : proposals) {
      std::string head = options_.on_dropped ? p.substr(0, kDroppedHeadBytes) : std::string();
      Status s = node_->Propose(std::move(p));
      if (!s.ok() && options_.on_dropped) options_.on_dropped(head, s);
    }
    proposals.clear();
    for (const auto& cc : conf_changes) node_->ProposeConfChange(cc);
    conf_changes.clear();
    if (!leader_checks.empty()) {
      // A leader's own round (not forwarded): it completes only once a
      // quorum acknowledged this leader in this term. They share the round
      // with the reads.
      if (node_->raft().role() == Role::kLeader) {
        for (auto& done : leader_checks) reads.push_back(std::move(done));
      } else {
        for (auto& done : leader_checks) done(Status::Unavailable("not leader"), 0);
      }
      leader_checks.clear();
    }
    if (!reads.empty()) {
      std::string ctx = ReadContext(++next_read_);
      if (node_->ReadIndex(ctx).ok()) {
        reads_.emplace(ctx, PendingRead{std::move(reads), now});
      } else {
        for (auto& done : reads) done(Status::Unavailable("no leader"), 0);
      }
      reads.clear();
    }
    if (transfer != 0) node_->TransferLeadership(transfer);
    while (node_->HasReady()) HandleReady();
    PublishLearnerProgress();
  }
  for (auto& [ctx, r] : reads_) {
    for (auto& done : r.done) done(Status::Unavailable("server stopped"), 0);
  }
  reads_.clear();
  std::vector<ReadIndexFn> left;
  {
    std::lock_guard l(mu_);
    left.swap(leader_checks_);
  }
  for (auto& done : left) done(Status::Unavailable("server stopped"), 0);
}

void RaftNode::HandleReady() {
  Ready rd = node_->GetReady();
  // 1. Persist: a snapshot from the leader (installed right away, see
  // InstallSnapshot), then entries and HardState together, synced when the
  // Ready needs it.
  if (rd.snapshot) InstallSnapshot(*rd.snapshot);
  if (!rd.entries.empty() || rd.hard_state) {
    Status s = wal_->Save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries, rd.must_sync);
    if (!s.ok()) {
      fprintf(stderr, "capstan: fatal: wal write failed: %s\n", s.ToString().c_str());
      std::abort();
    }
    if (!rd.entries.empty()) storage_.Append(rd.entries);
    if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
  }
  // 2. Send, only now that what the messages promise is durable.
  // A snapshot goes with the state machine, streamed on the side.
  std::erase_if(rd.messages, [&](raftpb::Message& m) {
    if (m.type() != raftpb::MSG_SNAP) return false;
    sender_->Send(std::move(m));
    return true;
  });
  if (!rd.messages.empty()) transport_->Send(std::move(rd.messages));
  // 3. Apply: conf changes take effect in the core and the transport as they
  // are handed over; the state machine applies everything in order.
  for (const raftpb::Entry& e : rd.committed_entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) ApplyConfChangeEntry(e);
  }
  if (!rd.committed_entries.empty()) apply_(std::move(rd.committed_entries));
  for (ReadState& rs : rd.read_states) {
    auto it = reads_.find(rs.request_ctx);
    if (it == reads_.end()) continue;
    for (auto& done : it->second.done) done(Status::OK(), rs.index);
    reads_.erase(it);
  }
  if (rd.soft_state) leader_.store(rd.soft_state->lead);
  if (rd.hard_state) {
    term_.store(rd.hard_state->term());
    commit_.store(rd.hard_state->commit());
  }
  last_index_.store(storage_.LastIndex());
  node_->Advance();
}

void RaftNode::ApplyConfChangeEntry(const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  if (!cc.ParseFromString(e.data())) return;
  conf_states_[e.index()] = node_->ApplyConfChange(cc);
  if (cc.node_id() == options_.member_id) return;
  switch (cc.type()) {
    case raftpb::CONF_CHANGE_ADD_NODE:
    case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
    case raftpb::CONF_CHANGE_UPDATE_NODE: {
      raftpb::MemberContext m;
      if (m.ParseFromString(cc.context())) {
        m.set_id(cc.node_id());
        AddPeer(m);
      }
      break;
    }
    case raftpb::CONF_CHANGE_REMOVE_NODE:
      transport_->RemovePeer(cc.node_id());
      peers_.erase(cc.node_id());
      break;
    default:
      break;
  }
}

}  // namespace capstan::raft
