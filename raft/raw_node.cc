#include "raft/raw_node.h"

#include <utility>
#include <vector>

#include "raft/invariant.h"

namespace capstan::raft {

namespace {

bool IsLocalMessage(raftpb::MessageType t) {
  return t == raftpb::MSG_HUP || t == raftpb::MSG_BEAT || t == raftpb::MSG_UNREACHABLE ||
         t == raftpb::MSG_SNAP_STATUS || t == raftpb::MSG_CHECK_QUORUM;
}

bool IsResponseMessage(raftpb::MessageType t) {
  return t == raftpb::MSG_APP_RESP || t == raftpb::MSG_VOTE_RESP ||
         t == raftpb::MSG_HEARTBEAT_RESP || t == raftpb::MSG_PRE_VOTE_RESP;
}

bool SameHardState(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

raftpb::Message LocalMessage(raftpb::MessageType type, uint64_t from = 0) {
  raftpb::Message m;
  m.set_type(type);
  m.set_from(from);
  return m;
}

}  // namespace

Status RawNode::Create(const Config& config, std::unique_ptr<RawNode>* node) {
  std::unique_ptr<Raft> raft;
  Status s = Raft::Create(config, &raft);
  if (!s.ok()) return s;
  *node = std::make_unique<RawNode>(Passkey{}, std::move(raft));
  return Status::OK();
}

RawNode::RawNode(Passkey, std::unique_ptr<Raft> raft)
    : raft_(std::move(raft)),
      prev_soft_(raft_->GetSoftState()),
      prev_hard_(raft_->GetHardState()) {}

Status RawNode::Bootstrap(std::span<const uint64_t> voters) {
  if (voters.empty()) return Status::InvalidArgument("raft: bootstrap needs at least one voter");
  if (raft_->log().LastIndex() != 0) {
    return Status::FailedPrecondition("raft: cannot bootstrap a non-empty log");
  }
  std::vector<raftpb::Entry> entries;
  std::vector<raftpb::ConfChange> changes;
  for (size_t i = 0; i < voters.size(); ++i) {
    raftpb::ConfChange cc;
    cc.set_type(raftpb::CONF_CHANGE_ADD_NODE);
    cc.set_node_id(voters[i]);
    raftpb::Entry e;
    e.set_type(raftpb::ENTRY_CONF_CHANGE);
    e.set_term(1);
    e.set_index(i + 1);
    e.set_data(cc.SerializeAsString());
    entries.push_back(std::move(e));
    changes.push_back(std::move(cc));
  }
  raft_->BootstrapLog(std::move(entries));
  // In force right away, so the member can campaign; the application applies
  // the same entries from the first Ready, which changes nothing.
  for (const raftpb::ConfChange& cc : changes) raft_->ApplyConfChange(cc);
  return Status::OK();
}

void RawNode::Tick() { raft_->Tick(); }

Status RawNode::Campaign() { return raft_->Step(LocalMessage(raftpb::MSG_HUP)); }

Status RawNode::Propose(std::string data) {
  raftpb::Message m = LocalMessage(raftpb::MSG_PROP);
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(m);
}

Status RawNode::ProposeConfChange(const raftpb::ConfChange& cc) {
  raftpb::Message m = LocalMessage(raftpb::MSG_PROP);
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(m);
}

raftpb::ConfState RawNode::ApplyConfChange(const raftpb::ConfChange& cc) {
  return raft_->ApplyConfChange(cc);
}

Status RawNode::Step(const raftpb::Message& m) {
  if (IsLocalMessage(m.type())) {
    return Status::InvalidArgument("raft: cannot step a local message from the network");
  }
  if (IsResponseMessage(m.type()) && raft_->tracker().Get(m.from()) == nullptr) {
    return Status::NotFound("raft: response from a member not in the configuration");
  }
  return raft_->Step(m);
}

Status RawNode::ReadIndex(std::string request_ctx) {
  raftpb::Message m = LocalMessage(raftpb::MSG_READ_INDEX);
  m.set_context(std::move(request_ctx));
  return raft_->Step(m);
}

Status RawNode::TransferLeadership(uint64_t transferee) {
  return raft_->Step(LocalMessage(raftpb::MSG_TRANSFER_LEADER, transferee));
}

void RawNode::ReportUnreachable(uint64_t id) {
  raft_->Step(LocalMessage(raftpb::MSG_UNREACHABLE, id));
}

void RawNode::ReportSnapshot(uint64_t id, bool success) {
  raftpb::Message m = LocalMessage(raftpb::MSG_SNAP_STATUS, id);
  m.set_reject(!success);
  raft_->Step(m);
}

bool RawNode::HasReady() const {
  if (awaiting_advance_) return false;
  if (raft_->GetSoftState() != prev_soft_) return true;
  if (!SameHardState(raft_->GetHardState(), prev_hard_)) return true;
  const RaftLog& log = raft_->log();
  if (log.PendingSnapshot() || !log.UnstableEntries().empty() || log.HasNextCommittedEntries()) {
    return true;
  }
  return raft_->HasMessages() || raft_->HasReadStates();
}

Ready RawNode::GetReady() {
  RAFT_CHECK(!awaiting_advance_, "GetReady called before Advance");
  Ready rd;
  SoftState ss = raft_->GetSoftState();
  if (ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  raftpb::HardState hs = raft_->GetHardState();
  if (!SameHardState(hs, prev_hard_)) {
    rd.must_sync = hs.term() != prev_hard_.term() || hs.vote() != prev_hard_.vote();
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  const RaftLog& log = raft_->log();
  rd.entries = log.UnstableEntries();
  if (log.PendingSnapshot()) rd.snapshot = *log.PendingSnapshot();
  rd.committed_entries = log.NextCommittedEntries();
  rd.messages = raft_->TakeMessages();
  rd.read_states = raft_->TakeReadStates();
  rd.must_sync = rd.must_sync || !rd.entries.empty() || rd.snapshot.has_value();

  awaiting_advance_ = true;
  ready_stable_index_ = rd.entries.empty() ? 0 : rd.entries.back().index();
  ready_stable_term_ = rd.entries.empty() ? 0 : rd.entries.back().term();
  ready_snapshot_index_ = rd.snapshot ? rd.snapshot->metadata().index() : 0;
  ready_applied_index_ = rd.committed_entries.empty() ? 0 : rd.committed_entries.back().index();
  return rd;
}

void RawNode::Advance() {
  RAFT_CHECK(awaiting_advance_, "Advance called without a Ready");
  awaiting_advance_ = false;
  RaftLog& log = raft_->mutable_log();
  if (ready_snapshot_index_ != 0) {
    log.StableSnapTo(ready_snapshot_index_);
    log.AppliedTo(ready_snapshot_index_);
  }
  if (ready_stable_index_ != 0) log.StableTo(ready_stable_index_, ready_stable_term_);
  if (ready_applied_index_ != 0) log.AppliedTo(ready_applied_index_);
}

RaftStatus RawNode::GetStatus() const {
  RaftStatus st;
  st.id = raft_->id();
  st.hard_state = raft_->GetHardState();
  st.soft_state = raft_->GetSoftState();
  st.applied = raft_->log().applied();
  st.last_index = raft_->log().LastIndex();
  st.lead_transferee = raft_->lead_transferee();
  st.conf_state = raft_->tracker().GetConfState();
  if (raft_->role() == Role::kLeader) st.progress = raft_->tracker().progress();
  return st;
}

}  // namespace capstan::raft
