// Helpers for the Raft unit tests: message and entry builders, a single
// core over a MemoryStorage, and TestCluster, a synchronous in-process
// cluster that honours the Ready contract (persist, then send, then apply).
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raft.h"
#include "raft/raw_node.h"

namespace capstan::raft::testing {

inline raftpb::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

// Entries 1..terms.size() with the given terms.
inline std::vector<raftpb::Entry> EntriesWithTerms(const std::vector<uint64_t>& terms,
                                                   uint64_t first = 1) {
  std::vector<raftpb::Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) out.push_back(E(first + i, terms[i]));
  return out;
}

inline raftpb::Message M(raftpb::MessageType type, uint64_t from, uint64_t to, uint64_t term = 0) {
  raftpb::Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_term(term);
  return m;
}

inline raftpb::ConfState Voters(std::initializer_list<uint64_t> voters,
                                std::initializer_list<uint64_t> learners = {}) {
  raftpb::ConfState cs;
  for (uint64_t v : voters) cs.add_voters(v);
  for (uint64_t l : learners) cs.add_learners(l);
  return cs;
}

inline raftpb::Message Prop(uint64_t to, std::string data = "x") {
  raftpb::Message m = M(raftpb::MSG_PROP, to, to);
  m.add_entries()->set_data(std::move(data));
  return m;
}

inline std::vector<raftpb::Message> Filter(const std::vector<raftpb::Message>& msgs,
                                           raftpb::MessageType type) {
  std::vector<raftpb::Message> out;
  for (const auto& m : msgs) {
    if (m.type() == type) out.push_back(m);
  }
  return out;
}

inline std::vector<uint64_t> Terms(const std::vector<raftpb::Entry>& ents) {
  std::vector<uint64_t> out;
  for (const auto& e : ents) out.push_back(e.term());
  return out;
}

// A bare core over its own storage, for tests that step messages by hand.
struct TestRaft {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<Raft> raft;

  Raft* operator->() { return raft.get(); }
  Raft& operator*() { return *raft; }
  std::vector<raftpb::Message> Take() { return raft->TakeMessages(); }
};

inline Config TestConfig(uint64_t id, const MemoryStorage* storage, int election = 10,
                         int heartbeat = 1) {
  Config c;
  c.id = id;
  c.election_tick = election;
  c.heartbeat_tick = heartbeat;
  c.storage = storage;
  c.seed = 42;
  return c;
}

// A core with membership `cs` and (optionally) a persisted log and term.
inline TestRaft NewTestRaft(uint64_t id, const raftpb::ConfState& cs,
                            std::function<void(Config&)> tweak = {},
                            const std::vector<raftpb::Entry>& log = {}, uint64_t term = 0) {
  TestRaft t;
  t.storage = std::make_unique<MemoryStorage>();
  t.storage->SetInitialConfState(cs);
  if (!log.empty()) {
    EXPECT_TRUE(t.storage->Append(log).ok());
  }
  if (term != 0) {
    raftpb::HardState hs;
    hs.set_term(term);
    t.storage->SetHardState(hs);
  }
  Config c = TestConfig(id, t.storage.get());
  if (tweak) tweak(c);
  Status s = Raft::Create(c, &t.raft);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return t;
}

// Ticks until the core leaves the follower role (at most 2 * election).
inline void TickUntilCampaign(Raft& r) {
  for (int i = 0; i < 2 * r.config().election_tick && r.role() == Role::kFollower; ++i) r.Tick();
}

// Persists the unstable log of a bare core into its storage, as an
// application handling a Ready would (for tests that skip RawNode).
inline void Persist(TestRaft& t) {
  RaftLog& log = t->mutable_log();
  if (log.PendingSnapshot()) {
    uint64_t i = log.PendingSnapshot()->metadata().index();
    EXPECT_TRUE(t.storage->ApplySnapshot(*log.PendingSnapshot()).ok());
    log.StableSnapTo(i);
    log.AppliedTo(i);
  }
  std::vector<raftpb::Entry> ents = log.UnstableEntries();
  if (!ents.empty()) {
    EXPECT_TRUE(t.storage->Append(ents).ok());
    log.StableTo(ents.back().index(), ents.back().term());
  }
  t.storage->SetHardState(t->GetHardState());
}

// One member of a TestCluster.
struct TestNode {
  uint64_t id = 0;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  std::vector<raftpb::Entry> applied;  // every applied entry, in order
  raftpb::ConfState conf_state;
  std::vector<ReadState> read_states;
  bool down = false;

  const Raft& raft() const { return node->raft(); }
  std::vector<std::string> AppliedData() const {
    std::vector<std::string> out;
    for (const auto& e : applied) {
      if (e.type() == raftpb::ENTRY_NORMAL && !e.data().empty()) out.push_back(e.data());
    }
    return out;
  }
};

// A cluster delivering messages synchronously and in order, with filters to
// drop messages or cut links. Each node's Ready is handled in full (persist,
// send, apply, Advance) as soon as it has one.
class TestCluster {
 public:
  using ConfigTweak = std::function<void(Config&)>;
  // Returns true to drop the message.
  using DropFilter = std::function<bool(const raftpb::Message&)>;

  TestCluster(std::vector<uint64_t> voters, ConfigTweak tweak = {},
              std::vector<uint64_t> learners = {})
      : tweak_(std::move(tweak)) {
    raftpb::ConfState cs;
    for (uint64_t v : voters) cs.add_voters(v);
    for (uint64_t l : learners) cs.add_learners(l);
    for (uint64_t v : voters) AddNode(v, &cs);
    for (uint64_t l : learners) AddNode(l, &cs);
  }

  // A cluster started the way a real one is: every voter bootstraps the
  // same membership into its log (so members added later learn it too).
  static std::unique_ptr<TestCluster> Bootstrapped(std::vector<uint64_t> voters,
                                                   ConfigTweak tweak = {}) {
    auto c = std::make_unique<TestCluster>(std::vector<uint64_t>{}, std::move(tweak));
    for (uint64_t v : voters) {
      TestNode& n = c->AddNode(v);
      EXPECT_TRUE(n.node->Bootstrap(voters).ok());
    }
    c->Stabilize();
    return c;
  }

  // Adds a member with empty storage (a node joining an existing cluster) or
  // with the given initial membership.
  TestNode& AddNode(uint64_t id, const raftpb::ConfState* cs = nullptr) {
    TestNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryStorage>();
    if (cs) {
      n.storage->SetInitialConfState(*cs);
      n.conf_state = *cs;
    }
    Start(n, 0);
    return n;
  }

  // Simulates a crash and restart: volatile state is lost, storage kept.
  void Restart(uint64_t id) {
    TestNode& n = nodes_.at(id);
    raftpb::Snapshot snap;
    EXPECT_TRUE(n.storage->Snapshot(&snap).ok());
    n.conf_state = snap.metadata().conf_state();
    n.applied.clear();
    n.read_states.clear();
    Start(n, snap.metadata().index());
  }

  TestNode& operator[](uint64_t id) { return nodes_.at(id); }
  std::map<uint64_t, TestNode>& nodes() { return nodes_; }

  void set_drop_filter(DropFilter f) { drop_ = std::move(f); }
  void Cut(uint64_t a, uint64_t b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void CutOneWay(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void Isolate(uint64_t id) {
    for (auto& [other, n] : nodes_) {
      if (other != id) Cut(id, other);
    }
  }
  void Heal() { cut_.clear(); }
  void SetDown(uint64_t id, bool down) { nodes_.at(id).down = down; }

  // Every message handed to the network, in order (dropped ones included).
  std::vector<raftpb::Message>& sent() { return sent_; }

  void Tick(uint64_t id, int n = 1) {
    for (int i = 0; i < n; ++i) nodes_.at(id).node->Tick();
  }
  void TickAll(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, node] : nodes_) {
        if (!node.down) node.node->Tick();
      }
      Stabilize();
    }
  }

  Status Propose(uint64_t id, std::string data) {
    Status s = nodes_.at(id).node->Propose(std::move(data));
    Stabilize();
    return s;
  }
  void Campaign(uint64_t id) {
    EXPECT_TRUE(nodes_.at(id).node->Campaign().ok());
    Stabilize();
  }

  // Injects a message as if it came from the network.
  void Deliver(const raftpb::Message& m) {
    queue_.push_back(m);
    Stabilize();
  }

  // Handles readies and delivers messages until nothing moves.
  void Stabilize() {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_) {
        if (n.down) continue;
        while (n.node->HasReady()) {
          HandleReady(n);
          moved = true;
        }
      }
      while (!queue_.empty()) {
        raftpb::Message m = std::move(queue_.front());
        queue_.pop_front();
        moved = true;
        auto it = nodes_.find(m.to());
        bool lost = it == nodes_.end() || it->second.down || cut_.count({m.from(), m.to()}) ||
                    (drop_ && drop_(m));
        if (m.type() == raftpb::MSG_SNAP && nodes_.count(m.from()) && !nodes_[m.from()].down) {
          // What the transport does once the snapshot is through (or not).
          nodes_[m.from()].node->ReportSnapshot(m.to(), !lost);
        }
        if (lost) continue;
        it->second.node->Step(m);
        if (it->second.node->HasReady()) HandleReady(it->second);
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "cluster did not stabilize";
  }

  // The leader, if exactly one live node believes it leads in the highest
  // term; 0 otherwise.
  uint64_t Leader() const {
    uint64_t leader = 0, term = 0;
    for (const auto& [id, n] : nodes_) {
      if (n.down || n.raft().role() != Role::kLeader) continue;
      if (n.raft().term() > term) {
        term = n.raft().term();
        leader = id;
      }
    }
    return leader;
  }

 private:
  void Start(TestNode& n, uint64_t applied) {
    Config c = TestConfig(n.id, n.storage.get());
    c.applied = applied;
    c.seed = n.id * 7919;
    if (tweak_) tweak_(c);
    n.node.reset();
    Status s = RawNode::Create(c, &n.node);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void HandleReady(TestNode& n) {
    Ready rd = n.node->GetReady();
    if (rd.snapshot) {
      EXPECT_TRUE(n.storage->ApplySnapshot(*rd.snapshot).ok());
    }
    EXPECT_TRUE(n.storage->Append(rd.entries).ok());
    if (rd.hard_state) n.storage->SetHardState(*rd.hard_state);
    for (auto& m : rd.messages) {
      sent_.push_back(m);
      queue_.push_back(std::move(m));
    }
    if (rd.snapshot) {
      n.conf_state = rd.snapshot->metadata().conf_state();
      n.applied.clear();  // the state machine is replaced by the snapshot
    }
    for (const auto& e : rd.committed_entries) {
      n.applied.push_back(e);
      if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
        raftpb::ConfChange cc;
        EXPECT_TRUE(cc.ParseFromString(e.data()));
        n.conf_state = n.node->ApplyConfChange(cc);
      }
    }
    for (auto& rs : rd.read_states) n.read_states.push_back(std::move(rs));
    n.node->Advance();
  }

  ConfigTweak tweak_;
  DropFilter drop_;
  std::map<uint64_t, TestNode> nodes_;
  std::deque<raftpb::Message> queue_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::vector<raftpb::Message> sent_;
};

inline raftpb::ConfChange CC(raftpb::ConfChangeType type, uint64_t node) {
  raftpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(node);
  return cc;
}

}  // namespace capstan::raft::testing

namespace capstan::raft::testing {

// Delivers messages among bare cores until none are left, persisting each
// core's log before its messages go out. `drop` returns true to lose one.
inline void Pump(const std::map<uint64_t, TestRaft*>& rafts,
                 const std::function<bool(const raftpb::Message&)>& drop = {}) {
  std::deque<raftpb::Message> q;
  auto collect = [&] {
    for (auto& [id, t] : rafts) {
      Persist(*t);
      for (auto& m : t->Take()) q.push_back(std::move(m));
    }
  };
  collect();
  for (int i = 0; i < 100000 && !q.empty(); ++i) {
    raftpb::Message m = std::move(q.front());
    q.pop_front();
    auto it = rafts.find(m.to());
    if (it != rafts.end() && !(drop && drop(m))) (*it->second)->Step(m);
    collect();
  }
}

// Makes the bare core `t` (a member of `peers`) leader of a new term with
// every peer granting, then has every peer acknowledge its log so that all
// progress is in the replicate state. Outgoing messages are discarded.
inline void MakeLeader(TestRaft& t, const std::vector<uint64_t>& peers) {
  t->Step(M(raftpb::MSG_HUP, t->id(), t->id()));
  for (uint64_t p : peers) {
    if (p == t->id()) continue;
    raftpb::Message r = M(raftpb::MSG_VOTE_RESP, p, t->id(), t->term());
    t->Step(r);
  }
  Persist(t);
  for (uint64_t p : peers) {
    if (p == t->id()) continue;
    raftpb::Message r = M(raftpb::MSG_APP_RESP, p, t->id(), t->term());
    r.set_index(t->log().LastIndex());
    t->Step(r);
  }
  Persist(t);
  t.Take();
}

}  // namespace capstan::raft::testing
