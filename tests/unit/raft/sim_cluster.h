// SimCluster: a whole Raft cluster in one process on a SimNetwork, driven by
// a seed, with every safety invariant checked after every step.
//
// Each member is a RawNode over a MemoryStorage that plays the disk: a crash
// throws the RawNode and the state machine away and keeps only what the
// member persisted (HardState, stable entries, snapshot); a restart rebuilds
// both from it. The state machine is a hash chain over applied entries, so
// two members agree on their states exactly when they applied the same
// sequence.
//
// Invariants (checked as they can first be observed):
//   - at most one leader per term;
//   - terms and (persisted) commit indexes never decrease;
//   - a persisted commit index never exceeds the persisted log;
//   - committed entries agree across members and are never overwritten
//     (an oracle records each committed index the first time any member
//     commits it; every later commit or apply of that index must match);
//   - members apply indexes consecutively, with the same entry and the same
//     resulting state (snapshots included);
//   - a new leader's log holds every entry committed so far (leader
//     completeness, hence no committed entry is lost across crashes);
//   - a ReadIndex answer is at least every index committed before the read
//     was requested (linearizable reads).
// Liveness: after the faults stop and the network heals, a leader is elected
// and proposals made after healing commit within a bounded number of ticks.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "sim_network.h"

namespace capstan::raft::sim {

using capstan::sim::NetworkFaults;
using capstan::sim::SimNetwork;
using capstan::sim::SimRng;

inline uint64_t Fnv(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

// What identifies an entry's content: type and payload.
inline uint64_t EntryDigest(const raftpb::Entry& e) {
  return Mix(Fnv(e.data()), static_cast<uint64_t>(e.type()));
}

struct SimParams {
  uint64_t seed = 0;
  int initial_voters = 3;
  int max_extra_nodes = 3;  // members that may be added later
  bool pre_vote = true;
  bool check_quorum = true;
  int election_tick = 10;
  int heartbeat_tick = 1;
  size_t max_inflight = 4;
  uint64_t max_size_per_msg = 256;
  uint64_t max_committed_per_ready = 1 << 20;
  // Probability that a member is a slow applier: it handles one Ready per
  // event instead of draining them, so committed entries (conf changes
  // included) wait unapplied while it keeps ticking and stepping.
  double p_slow_node = 0;
  int steps_per_tick = 4;
  int chaos_ticks = 300;
  NetworkFaults chaos_faults;
  // Event probabilities per tick.
  double p_propose = 0.3;
  double p_read = 0.05;
  double p_crash = 0.01;
  double p_restart = 0.06;
  double p_partition = 0.01;
  double p_heal = 0.03;
  double p_conf_change = 0.015;
  double p_transfer = 0.01;
  double p_compact = 0.04;
  // Liveness bound, in ticks after healing.
  int liveness_ticks = 400;

  // Derives a scenario from a seed: cluster size fixed by the caller, the
  // rest (features, fault rates, flow control limits) drawn.
  static SimParams FromSeed(uint64_t seed, int voters) {
    SimParams p;
    p.seed = seed;
    p.initial_voters = voters;
    SimRng r(seed ^ 0xC0FFEEULL);
    uint64_t mode = r.Uniform(8);
    // Mostly the production setting, sometimes plain Raft or one feature.
    p.pre_vote = mode != 0 && mode != 1;
    p.check_quorum = mode != 0 && mode != 2;
    p.heartbeat_tick = r.Chance(0.3) ? 2 : 1;
    p.max_inflight = r.Range(1, 8);
    p.max_size_per_msg = r.Chance(0.5) ? r.Range(1, 300) : 1 << 20;
    p.chaos_faults.drop = r.Chance(0.8) ? 0.02 * static_cast<double>(r.Range(0, 5)) : 0.3;
    p.chaos_faults.duplicate = 0.02 * static_cast<double>(r.Range(0, 3));
    p.chaos_faults.min_delay = 1;
    p.chaos_faults.max_delay = r.Range(1, 12);
    p.p_crash = 0.005 * static_cast<double>(r.Range(0, 4));
    p.p_partition = 0.005 * static_cast<double>(r.Range(0, 4));
    p.p_conf_change = r.Chance(0.75) ? 0.02 * static_cast<double>(r.Range(1, 3)) : 0;
    p.max_committed_per_ready = r.Chance(0.3) ? r.Range(1, 200) : 1 << 20;
    p.p_slow_node = r.Chance(0.3) ? 0.5 : 0;
    p.p_transfer = r.Chance(0.6) ? 0.015 : 0;
    p.p_compact = r.Chance(0.7) ? 0.05 : 0;
    p.chaos_ticks = static_cast<int>(r.Range(150, 300));
    if (r.Chance(0.15)) {
      // Storm: members crash and come back all the time, messages carry one
      // entry each, partitions come and go. Leaders change before their
      // first entry commits, as in the paper's Figure 8.
      p.p_crash = 0.06;
      p.p_restart = 0.3;
      p.p_partition = 0.04;
      p.p_heal = 0.15;
      p.max_size_per_msg = 1;
      p.chaos_faults.drop = 0.1;
    }
    // Without PreVote, a member whose (stale) peers are all gone raises its
    // term on every timeout, and a member that could win must time out
    // before it does, round after round: recovery is a race that is won
    // quickly on average but has a long tail.
    p.liveness_ticks = p.pre_vote ? 400 : 2000;
    return p;
  }

  std::string Describe() const {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "seed=%llu voters=%d pre_vote=%d check_quorum=%d heartbeat=%d inflight=%zu "
                  "max_msg=%llu drop=%.2f dup=%.2f delay<=%llu crash=%.3f partition=%.3f "
                  "conf=%.3f transfer=%.3f compact=%.2f slow=%.1f max_ready=%llu chaos_ticks=%d",
                  static_cast<unsigned long long>(seed), initial_voters, pre_vote, check_quorum,
                  heartbeat_tick, max_inflight, static_cast<unsigned long long>(max_size_per_msg),
                  chaos_faults.drop, chaos_faults.duplicate,
                  static_cast<unsigned long long>(chaos_faults.max_delay), p_crash, p_partition,
                  p_conf_change, p_transfer, p_compact, p_slow_node,
                  static_cast<unsigned long long>(max_committed_per_ready), chaos_ticks);
    return buf;
  }
};

struct SimStats {
  uint64_t ticks = 0;
  uint64_t messages = 0;
  uint64_t elections = 0;
  uint64_t max_term = 0;
  uint64_t committed = 0;
  uint64_t crashes = 0;
  uint64_t conf_changes_applied = 0;
  uint64_t snapshots_restored = 0;
  uint64_t reads_served = 0;
  uint64_t transfers = 0;
  int liveness_ticks_used = 0;
};

class SimCluster {
 public:
  explicit SimCluster(const SimParams& params)
      : p_(params),
        rng_(params.seed),
        net_(&rng_),
        verbose_(std::getenv("RAFT_SIM_VERBOSE") ? std::atoi(std::getenv("RAFT_SIM_VERBOSE")) : 0) {
    net_.set_on_drop([this](const SimNetwork<raftpb::Message>::Envelope& env) {
      if (env.msg.type() == raftpb::MSG_SNAP) {
        reports_.push_back({env.from, env.to, Report::kSnapFailed});
      } else if (env.msg.type() == raftpb::MSG_APP && rng_.Chance(0.3)) {
        reports_.push_back({env.from, env.to, Report::kUnreachable});
      }
    });
  }

  // Runs the scenario. Returns false with *failure set on the first
  // violated invariant.
  bool Run(std::string* failure) {
    std::vector<uint64_t> voters;
    for (int i = 1; i <= p_.initial_voters; ++i) voters.push_back(static_cast<uint64_t>(i));
    for (uint64_t id : voters) {
      SimNode& n = NewNode(id);
      Status s = n.node->Bootstrap(voters);
      if (!s.ok()) return Fail("bootstrap: " + s.ToString(), failure);
    }
    for (uint64_t id : voters) {
      committed_conf_voters_.insert(id);
      ever_member_.insert(id);
    }
    max_id_ = static_cast<uint64_t>(p_.initial_voters + p_.max_extra_nodes);
    next_new_id_ = static_cast<uint64_t>(p_.initial_voters) + 1;
    for (uint64_t id : voters) HandleReadies(id);
    if (!failure_.empty()) return Fail(failure_, failure);

    // Chaos.
    net_.set_faults(p_.chaos_faults);
    for (int t = 0; t < p_.chaos_ticks && failure_.empty(); ++t) {
      RandomEvents();
      RunTick();
    }
    if (!failure_.empty()) return Fail(failure_, failure);

    // Heal and check liveness.
    if (!Liveness()) return Fail(failure_, failure);
    return true;
  }

  const SimStats& stats() const { return stats_; }

 private:
  struct AppState {
    uint64_t applied = 0;
    uint64_t hash = 0;
    raftpb::ConfState conf;
  };

  struct SimNode {
    uint64_t id = 0;
    std::unique_ptr<MemoryStorage> disk;  // survives crashes
    std::unique_ptr<RawNode> node;        // null while down
    AppState app;                         // lost on crash
    // Persisted facts, to check monotonicity across restarts.
    uint64_t durable_term = 0;
    uint64_t durable_commit = 0;
    // Highest index whose persisted entry was checked against the oracle.
    uint64_t checked = 0;
    bool shut_down = false;  // applied its own removal: gone for good
    bool leader = false;
    bool slow = false;  // handles one Ready per event
  };

  struct Report {
    enum Kind { kSnapFailed, kSnapDone, kUnreachable };
    uint64_t from, to;
    Kind kind;
  };

  struct PendingRead {
    uint64_t node;
    uint64_t min_index;
  };

  // --- bookkeeping ----------------------------------------------------------

  bool Fail(const std::string& why, std::string* out) {
    *out = why;
    return false;
  }

  void Violation(const std::string& what) {
    if (failure_.empty()) {
      failure_ = "invariant violated at tick " + std::to_string(stats_.ticks) + ": " + what;
    }
  }

  void Trace(const std::string& s) {
    if (verbose_)
      std::fprintf(stderr, "[t=%llu] %s\n", static_cast<unsigned long long>(stats_.ticks),
                   s.c_str());
  }

  SimNode& NewNode(uint64_t id) {
    SimNode& n = nodes_[id];
    n.id = id;
    n.slow = rng_.Chance(p_.p_slow_node);
    n.disk = std::make_unique<MemoryStorage>();
    Start(n);
    return n;
  }

  Config MakeConfig(const SimNode& n) const {
    Config c;
    c.id = n.id;
    c.election_tick = p_.election_tick;
    c.heartbeat_tick = p_.heartbeat_tick;
    c.storage = n.disk.get();
    c.pre_vote = p_.pre_vote;
    c.check_quorum = p_.check_quorum;
    c.max_inflight_msgs = p_.max_inflight;
    c.max_size_per_msg = p_.max_size_per_msg;
    c.max_committed_size_per_ready = p_.max_committed_per_ready;
    c.seed = p_.seed * 1000003 + n.id * 7919 + restarts_;
    return c;
  }

  // (Re)starts a member from its disk: the state machine is rebuilt from the
  // snapshot and committed entries after it are replayed by Raft.
  void Start(SimNode& n) {
    raftpb::Snapshot snap;
    Status s = n.disk->Snapshot(&snap);
    if (!s.ok()) return Violation("reading snapshot: " + s.ToString());
    n.app = AppState();
    n.app.conf = snap.metadata().conf_state();
    if (snap.metadata().index() > 0) DecodeApp(snap.data(), &n.app);
    Config c = MakeConfig(n);
    c.applied = n.app.applied;
    s = RawNode::Create(c, &n.node);
    if (!s.ok()) return Violation("restart of " + std::to_string(n.id) + ": " + s.ToString());
    n.leader = false;
    net_.SetDown(n.id, false);
  }

  static std::string EncodeApp(const AppState& a) {
    return std::to_string(a.applied) + ":" + std::to_string(a.hash);
  }
  static void DecodeApp(const std::string& data, AppState* a) {
    size_t colon = data.find(':');
    a->applied = std::stoull(data.substr(0, colon));
    a->hash = std::stoull(data.substr(colon + 1));
  }

  std::vector<uint64_t> LiveIds() const {
    std::vector<uint64_t> out;
    for (const auto& [id, n] : nodes_) {
      if (n.node) out.push_back(id);
    }
    return out;
  }

  // The live member that leads in the highest term, if any.
  SimNode* CurrentLeader() {
    SimNode* best = nullptr;
    for (auto& [id, n] : nodes_) {
      if (!n.node || n.node->raft().role() != Role::kLeader) continue;
      if (!best || n.node->raft().term() > best->node->raft().term()) best = &n;
    }
    return best;
  }

  uint64_t OracleCommitted() const { return oracle_term_.size() - 1; }

  // --- the oracle -------------------------------------------------------------

  // Records or checks that `index` committed with (term, digest).
  void OracleCommit(uint64_t node, uint64_t index, uint64_t term, uint64_t digest,
                    const raftpb::Entry* e) {
    if (index < oracle_term_.size()) {
      if (oracle_term_[index] != term || oracle_digest_[index] != digest) {
        Violation("node " + std::to_string(node) + " committed index " + std::to_string(index) +
                  " with term " + std::to_string(term) + " but term " +
                  std::to_string(oracle_term_[index]) + " was committed there before");
      }
      return;
    }
    if (index != oracle_term_.size()) {
      return Violation("commit gap at node " + std::to_string(node) + ": index " +
                       std::to_string(index) + " but oracle ends at " +
                       std::to_string(OracleCommitted()));
    }
    oracle_term_.push_back(term);
    oracle_digest_.push_back(digest);
    stats_.committed = OracleCommitted();
    if (e && e->type() == raftpb::ENTRY_CONF_CHANGE) {
      raftpb::ConfChange cc;
      cc.ParseFromString(e->data());
      ApplyToCommittedConf(cc);
    }
    if (e && e->type() == raftpb::ENTRY_NORMAL) committed_data_.insert(e->data());
  }

  // Mirrors Raft::ApplyConfChange, to know the membership in force after
  // everything committed so far.
  void ApplyToCommittedConf(const raftpb::ConfChange& cc) {
    uint64_t id = cc.node_id();
    bool last_voter = committed_conf_voters_.count(id) && committed_conf_voters_.size() == 1;
    switch (cc.type()) {
      case raftpb::CONF_CHANGE_ADD_NODE:
        committed_conf_learners_.erase(id);
        committed_conf_voters_.insert(id);
        ever_member_.insert(id);
        break;
      case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
        ever_member_.insert(id);
        if (!last_voter) {
          committed_conf_voters_.erase(id);
          committed_conf_learners_.insert(id);
        }
        break;
      case raftpb::CONF_CHANGE_REMOVE_NODE:
        if (!last_voter) {
          committed_conf_voters_.erase(id);
          committed_conf_learners_.erase(id);
        }
        break;
      default:
        break;
    }
  }

  bool InCommittedConf(uint64_t id) const {
    return committed_conf_voters_.count(id) || committed_conf_learners_.count(id);
  }

  // Checks n's persisted log in (n.checked, commit] against the oracle.
  void CheckCommittedRange(SimNode& n, uint64_t commit) {
    if (commit <= n.checked) return;
    uint64_t lo = std::max(n.checked + 1, n.disk->FirstIndex());
    if (lo > n.checked + 1) {
      return Violation("node " + std::to_string(n.id) + " compacted unchecked entries");
    }
    std::vector<raftpb::Entry> ents;
    Status s = n.disk->Entries(lo, commit + 1, UINT64_MAX, &ents);
    if (!s.ok() || ents.size() != commit + 1 - lo) {
      return Violation("node " + std::to_string(n.id) + " cannot read committed entries [" +
                       std::to_string(lo) + "," + std::to_string(commit) + "]: " + s.ToString());
    }
    for (const auto& e : ents) OracleCommit(n.id, e.index(), e.term(), EntryDigest(e), &e);
    n.checked = commit;
  }

  // Leader completeness: every committed entry is in the new leader's log.
  void CheckLeaderCompleteness(SimNode& n) {
    const RaftLog& log = n.node->raft().log();
    uint64_t first = log.FirstIndex();
    for (uint64_t i = first; i <= OracleCommitted(); ++i) {
      uint64_t t = log.TermOrZero(i);
      if (t != oracle_term_[i]) {
        return Violation("leader " + std::to_string(n.id) + " of term " +
                         std::to_string(n.node->raft().term()) + " lacks committed entry " +
                         std::to_string(i) + " (has term " + std::to_string(t) + ", committed " +
                         std::to_string(oracle_term_[i]) + ")");
      }
    }
  }

  void Apply(SimNode& n, const raftpb::Entry& e) {
    if (e.index() != n.app.applied + 1) {
      return Violation("node " + std::to_string(n.id) + " applied index " +
                       std::to_string(e.index()) + " after " + std::to_string(n.app.applied));
    }
    if (e.index() > OracleCommitted() || oracle_term_[e.index()] != e.term() ||
        oracle_digest_[e.index()] != EntryDigest(e)) {
      return Violation("node " + std::to_string(n.id) + " applied an entry at " +
                       std::to_string(e.index()) + " that is not the committed one");
    }
    n.app.applied = e.index();
    n.app.hash = Mix(n.app.hash, Mix(e.index(), Mix(e.term(), EntryDigest(e))));
    if (state_after_.size() <= e.index()) state_after_.resize(e.index() + 1, 0);
    uint64_t& want = state_after_[e.index()];
    if (want == 0) {
      want = n.app.hash;
    } else if (want != n.app.hash) {
      return Violation("node " + std::to_string(n.id) + " reached a different state at index " +
                       std::to_string(e.index()));
    }
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      raftpb::ConfChange cc;
      if (!cc.ParseFromString(e.data())) return Violation("bad conf change");
      n.app.conf = n.node->ApplyConfChange(cc);
      ++stats_.conf_changes_applied;
      Trace("node " + std::to_string(n.id) + " applied conf change " + std::to_string(cc.type()) +
            " " + std::to_string(cc.node_id()));
      if (cc.type() == raftpb::CONF_CHANGE_REMOVE_NODE && cc.node_id() == n.id) {
        remove_self_.push_back(n.id);
      }
    }
  }

  // --- the Ready loop -------------------------------------------------------

  void HandleReadies(uint64_t id) {
    SimNode& n = nodes_.at(id);
    while (n.node && n.node->HasReady() && failure_.empty()) {
      HandleReady(n);
      if (n.slow && !calm_) break;
    }
    // A member that applied its own removal shuts down, as etcd members do.
    for (uint64_t r : remove_self_) {
      SimNode& gone = nodes_.at(r);
      if (!gone.node) continue;
      Trace("node " + std::to_string(r) + " shuts down after its removal");
      gone.node.reset();
      gone.shut_down = true;
      net_.SetDown(r, true);
    }
    remove_self_.clear();
  }

  void HandleReady(SimNode& n) {
    Ready rd = n.node->GetReady();
    const Raft& raft = n.node->raft();

    // 1. Persist.
    if (rd.snapshot) {
      const auto& md = rd.snapshot->metadata();
      if (md.index() > OracleCommitted() || oracle_term_[md.index()] != md.term()) {
        return Violation("node " + std::to_string(n.id) + " got a snapshot at " +
                         std::to_string(md.index()) + " that is not committed");
      }
      AppState snap_state;
      DecodeApp(rd.snapshot->data(), &snap_state);
      if (snap_state.applied != md.index() || state_after_.size() <= md.index() ||
          state_after_[md.index()] != snap_state.hash) {
        return Violation("snapshot at " + std::to_string(md.index()) +
                         " does not hold the state applied there");
      }
      Status s = n.disk->ApplySnapshot(*rd.snapshot);
      if (!s.ok()) return Violation("apply snapshot: " + s.ToString());
      n.checked = std::max(n.checked, md.index());
      ++stats_.snapshots_restored;
    }
    for (const auto& e : rd.entries) {
      if (e.index() <= n.checked &&
          (oracle_term_[e.index()] != e.term() || oracle_digest_[e.index()] != EntryDigest(e))) {
        return Violation("node " + std::to_string(n.id) + " overwrites committed entry " +
                         std::to_string(e.index()));
      }
    }
    Status s = n.disk->Append(rd.entries);
    if (!s.ok()) return Violation("append: " + s.ToString());
    if (rd.hard_state) {
      const auto& hs = *rd.hard_state;
      if (verbose_ > 1 && hs.term() != n.durable_term) {
        Trace("node " + std::to_string(n.id) + " term " + std::to_string(hs.term()) + " vote " +
              std::to_string(hs.vote()) + " as " + RoleName(raft.role()) +
              " elapsed=" + std::to_string(raft.election_elapsed()) + "/" +
              std::to_string(raft.randomized_election_timeout()));
      }
      if (hs.term() < n.durable_term) {
        return Violation("node " + std::to_string(n.id) + " term went back from " +
                         std::to_string(n.durable_term) + " to " + std::to_string(hs.term()));
      }
      if (hs.commit() < n.durable_commit) {
        return Violation("node " + std::to_string(n.id) + " commit went back from " +
                         std::to_string(n.durable_commit) + " to " + std::to_string(hs.commit()));
      }
      if (hs.commit() > n.disk->LastIndex()) {
        return Violation("node " + std::to_string(n.id) + " persists commit " +
                         std::to_string(hs.commit()) + " beyond its log " +
                         std::to_string(n.disk->LastIndex()));
      }
      n.disk->SetHardState(hs);
      n.durable_term = hs.term();
      n.durable_commit = hs.commit();
      stats_.max_term = std::max(stats_.max_term, hs.term());
      CheckCommittedRange(n, hs.commit());
      if (!failure_.empty()) return;
    }
    if (rd.soft_state && verbose_ > 1) {
      Trace("node " + std::to_string(n.id) + " is " + RoleName(rd.soft_state->role) + " term=" +
            std::to_string(raft.term()) + " last=" + std::to_string(raft.log().LastIndex()) + "/" +
            std::to_string(raft.log().LastTerm()) +
            " elapsed=" + std::to_string(raft.election_elapsed()) + "/" +
            std::to_string(raft.randomized_election_timeout()));
    }
    if (rd.soft_state) {
      bool leader = rd.soft_state->role == Role::kLeader;
      if (leader && !n.leader) {
        uint64_t term = raft.term();
        auto [it, inserted] = leader_of_term_.emplace(term, n.id);
        if (!inserted && it->second != n.id) {
          return Violation("two leaders in term " + std::to_string(term) + ": " +
                           std::to_string(it->second) + " and " + std::to_string(n.id));
        }
        ++stats_.elections;
        Trace("node " + std::to_string(n.id) + " becomes leader of term " + std::to_string(term));
        CheckLeaderCompleteness(n);
        if (!failure_.empty()) return;
      }
      n.leader = leader;
    }

    // 2. Send.
    for (auto& m : rd.messages) {
      ++stats_.messages;
      uint64_t from = m.from(), to = m.to();  // before m is moved from
      net_.Send(from, to, std::move(m));
    }

    // 3. Apply.
    if (rd.snapshot) {
      DecodeApp(rd.snapshot->data(), &n.app);
      n.app.conf = rd.snapshot->metadata().conf_state();
    }
    for (const auto& e : rd.committed_entries) {
      Apply(n, e);
      if (!failure_.empty()) return;
    }
    for (const auto& rs : rd.read_states) {
      auto it = reads_.find(rs.request_ctx);
      if (it == reads_.end()) return Violation("unknown read state " + rs.request_ctx);
      if (it->second.node != n.id) return Violation("read state delivered to the wrong node");
      if (rs.index < it->second.min_index) {
        return Violation("read " + rs.request_ctx + " at node " + std::to_string(n.id) +
                         " got index " + std::to_string(rs.index) + " but " +
                         std::to_string(it->second.min_index) +
                         " was committed before it was requested (stale read)");
      }
      // Kept: a duplicated request may legitimately be answered twice.
      ++stats_.reads_served;
    }
    n.node->Advance();
  }

  // --- time -------------------------------------------------------------------

  void DeliverDue() {
    SimNetwork<raftpb::Message>::Envelope env;
    while (failure_.empty()) {
      ProcessReports();
      if (!net_.NextDue(&env)) break;
      auto it = nodes_.find(env.to);
      if (it == nodes_.end() || !it->second.node) continue;
      if (env.msg.type() == raftpb::MSG_SNAP) {
        reports_.push_back({env.from, env.to, Report::kSnapDone});
      }
      if (verbose_ > 1) {
        Trace("deliver " + std::to_string(env.from) + "->" + std::to_string(env.to) + " " +
              raftpb::MessageType_Name(env.msg.type()) + " term=" + std::to_string(env.msg.term()) +
              " index=" + std::to_string(env.msg.index()) + " log_term=" +
              std::to_string(env.msg.log_term()) + " reject=" + std::to_string(env.msg.reject()));
      }
      it->second.node->Step(env.msg);
      HandleReadies(env.to);
    }
  }

  void ProcessReports() {
    while (!reports_.empty() && failure_.empty()) {
      Report r = reports_.front();
      reports_.erase(reports_.begin());
      auto it = nodes_.find(r.from);
      if (it == nodes_.end() || !it->second.node) continue;
      switch (r.kind) {
        case Report::kSnapFailed:
          it->second.node->ReportSnapshot(r.to, false);
          break;
        case Report::kSnapDone:
          it->second.node->ReportSnapshot(r.to, true);
          break;
        case Report::kUnreachable:
          it->second.node->ReportUnreachable(r.to);
          break;
      }
      HandleReadies(r.from);
    }
  }

  void RunTick() {
    for (int s = 0; s < p_.steps_per_tick && failure_.empty(); ++s) {
      DeliverDue();
      net_.AdvanceTime();
    }
    ++stats_.ticks;
    std::vector<uint64_t> live = LiveIds();
    // Tick in a random order.
    for (size_t i = live.size(); i > 1; --i) std::swap(live[i - 1], live[rng_.Uniform(i)]);
    for (uint64_t id : live) {
      if (!failure_.empty()) return;
      SimNode& n = nodes_.at(id);
      if (!n.node) continue;
      n.node->Tick();
      HandleReadies(id);
    }
  }

  // --- faults and client activity ---------------------------------------------

  void RandomEvents() {
    std::vector<uint64_t> live = LiveIds();
    if (!live.empty() && rng_.Chance(p_.p_propose)) Propose(rng_.Pick(live));
    if (!live.empty() && rng_.Chance(p_.p_read)) Read(rng_.Pick(live));
    if (!live.empty() && rng_.Chance(p_.p_crash)) Crash(rng_.Pick(live));
    for (auto& [id, n] : nodes_) {
      if (!n.node && !n.shut_down && rng_.Chance(p_.p_restart)) {
        Trace("restart " + std::to_string(id));
        ++restarts_;
        Start(n);
        HandleReadies(id);
      }
    }
    if (rng_.Chance(p_.p_partition)) Partition();
    if (net_.HasCuts() && rng_.Chance(p_.p_heal)) {
      Trace("heal");
      net_.Heal();
    }
    if (rng_.Chance(p_.p_conf_change)) ConfChange();
    if (rng_.Chance(p_.p_transfer)) Transfer();
    if (!live.empty() && rng_.Chance(p_.p_compact)) Compact(rng_.Pick(live));
  }

  void Propose(uint64_t id) {
    // Half the time the client finds the leader, else any member.
    if (rng_.Chance(0.5)) {
      if (SimNode* l = CurrentLeader()) id = l->id;
    }
    std::string data = "v" + std::to_string(next_value_++);
    SimNode& n = nodes_.at(id);
    n.node->Propose(data);
    HandleReadies(id);
  }

  void Read(uint64_t id) {
    std::string ctx = "r" + std::to_string(next_read_++);
    // Every index committed by now must be visible to the read.
    reads_[ctx] = PendingRead{id, OracleCommitted()};
    SimNode& n = nodes_.at(id);
    if (!n.node->ReadIndex(ctx).ok()) reads_.erase(ctx);
    HandleReadies(id);
  }

  void Crash(uint64_t id) {
    Trace("crash " + std::to_string(id));
    SimNode& n = nodes_.at(id);
    n.node.reset();
    n.leader = false;
    net_.SetDown(id, true);
    ++stats_.crashes;
  }

  void Partition() {
    std::set<uint64_t> all;
    for (const auto& [id, n] : nodes_) all.insert(id);
    switch (rng_.Uniform(3)) {
      case 0: {
        uint64_t id = rng_.Pick(all);
        Trace("isolate " + std::to_string(id));
        net_.Isolate(id, all);
        break;
      }
      case 1: {
        std::vector<std::set<uint64_t>> groups(2);
        for (uint64_t id : all) groups[rng_.Uniform(2)].insert(id);
        Trace("partition");
        net_.Partition(groups);
        break;
      }
      default: {
        // Asymmetric: a few links fail in one direction only.
        for (int i = 0; i < 3; ++i) {
          uint64_t a = rng_.Pick(all), b = rng_.Pick(all);
          if (a != b) net_.Cut(a, b);
        }
        Trace("asymmetric cuts");
        break;
      }
    }
  }

  void ConfChange() {
    SimNode* l = CurrentLeader();
    if (!l) return;
    raftpb::ConfState cs = l->node->raft().tracker().GetConfState();
    std::vector<uint64_t> voters(cs.voters().begin(), cs.voters().end());
    std::vector<uint64_t> learners(cs.learners().begin(), cs.learners().end());
    raftpb::ConfChange cc;
    uint64_t op = rng_.Uniform(5);
    if ((op == 0 || op == 1) && next_new_id_ <= max_id_) {
      // Add a new member (as learner or straight as voter), started empty
      // like a member joining an existing cluster.
      uint64_t id = next_new_id_++;
      NewNode(id);
      cc.set_type(op == 0 ? raftpb::CONF_CHANGE_ADD_LEARNER_NODE : raftpb::CONF_CHANGE_ADD_NODE);
      cc.set_node_id(id);
    } else if (op == 2 && !learners.empty()) {
      cc.set_type(raftpb::CONF_CHANGE_ADD_NODE);  // promote
      cc.set_node_id(rng_.Pick(learners));
    } else if (op == 3 && voters.size() > 2) {
      cc.set_type(raftpb::CONF_CHANGE_REMOVE_NODE);
      cc.set_node_id(rng_.Pick(voters));
    } else if (op == 4 && !learners.empty()) {
      cc.set_type(raftpb::CONF_CHANGE_REMOVE_NODE);
      cc.set_node_id(rng_.Pick(learners));
    } else {
      return;
    }
    Status s = l->node->ProposeConfChange(cc);
    Trace("propose conf change " + std::to_string(cc.type()) + " " + std::to_string(cc.node_id()) +
          " at " + std::to_string(l->id) + ": " + s.ToString());
    HandleReadies(l->id);
  }

  void Transfer() {
    SimNode* l = CurrentLeader();
    if (!l) return;
    raftpb::ConfState cs = l->node->raft().tracker().GetConfState();
    if (cs.voters_size() < 2) return;
    uint64_t to =
        cs.voters(static_cast<int>(rng_.Uniform(static_cast<uint64_t>(cs.voters_size()))));
    Trace("transfer " + std::to_string(l->id) + " -> " + std::to_string(to));
    ++stats_.transfers;
    l->node->TransferLeadership(to);
    HandleReadies(l->id);
  }

  void Compact(uint64_t id) {
    SimNode& n = nodes_.at(id);
    raftpb::Snapshot cur;
    n.disk->Snapshot(&cur);
    if (n.app.applied < cur.metadata().index() + 5) return;
    Status s = n.disk->CreateSnapshot(n.app.applied, n.app.conf, EncodeApp(n.app), nullptr);
    if (!s.ok()) return Violation("create snapshot: " + s.ToString());
    uint64_t keep = rng_.Uniform(5);
    uint64_t upto = n.app.applied - keep;
    if (upto >= n.disk->FirstIndex()) {
      s = n.disk->Compact(upto);
      if (!s.ok()) return Violation("compact: " + s.ToString());
    }
  }

  // --- liveness ---------------------------------------------------------------

  bool Liveness() {
    Trace("heal everything, stop faults");
    net_.Heal();
    NetworkFaults calm;
    calm.min_delay = 1;
    calm.max_delay = 2;
    net_.set_faults(calm);
    calm_ = true;
    for (auto& [id, n] : nodes_) {
      if (!n.node && !n.shut_down) {
        ++restarts_;
        Start(n);
        HandleReadies(id);
      }
    }
    // Clients retry each value until it commits, at whoever leads.
    std::vector<std::string> values;
    for (int i = 0; i < 5; ++i) values.push_back("after-heal-" + std::to_string(i));
    std::map<std::string, int> last_try;
    int t = 0;
    for (; t < p_.liveness_ticks && failure_.empty(); ++t) {
      // Members removed from the committed membership are shut down by
      // their operator (they may never learn of their removal themselves).
      for (auto& [id, n] : nodes_) {
        if (n.node && ever_member_.count(id) && !InCommittedConf(id)) {
          n.node.reset();
          n.shut_down = true;
          net_.SetDown(id, true);
        }
      }
      SimNode* l = CurrentLeader();
      bool done = true;
      for (const auto& v : values) {
        if (committed_data_.count(v)) continue;
        done = false;
        auto it = last_try.find(v);
        if (l && (it == last_try.end() || t - it->second >= 2 * p_.election_tick)) {
          last_try[v] = t;
          l->node->Propose(v);
          HandleReadies(l->id);
        }
      }
      if (done && Converged()) break;
      RunTick();
    }
    stats_.liveness_ticks_used = t;
    if (!failure_.empty()) return false;
    if (t >= p_.liveness_ticks) {
      std::string missing;
      for (const auto& v : values) {
        if (!committed_data_.count(v)) missing += " " + v;
      }
      SimNode* l = CurrentLeader();
      failure_ = "liveness: not done " + std::to_string(p_.liveness_ticks) +
                 " ticks after healing; leader=" + (l ? std::to_string(l->id) : "none") +
                 " uncommitted:" + (missing.empty() ? " (none)" : missing) + "; " + NodesState();
      return false;
    }
    return true;
  }

  // Every live member of the committed membership applied everything.
  bool Converged() const {
    for (const auto& [id, n] : nodes_) {
      if (!InCommittedConf(id)) continue;
      if (!n.node || n.app.applied < OracleCommitted()) return false;
    }
    return true;
  }

  std::string NodesState() const {
    std::string s;
    for (const auto& [id, n] : nodes_) {
      s += "[" + std::to_string(id);
      if (!n.node) {
        s += n.shut_down ? " shut-down" : " down";
      } else {
        const Raft& r = n.node->raft();
        s += std::string(" ") + RoleName(r.role()) + " term=" + std::to_string(r.term()) +
             " lead=" + std::to_string(r.lead()) +
             " commit=" + std::to_string(r.log().committed()) +
             " last=" + std::to_string(r.log().LastIndex()) + "/" +
             std::to_string(r.log().LastTerm()) + " vote=" + std::to_string(r.vote()) +
             " applied=" + std::to_string(n.app.applied) + " voters=";
        for (uint64_t v : r.tracker().voters()) s += std::to_string(v) + ",";
      }
      s += "] ";
    }
    s += "committed voters=";
    for (uint64_t v : committed_conf_voters_) s += std::to_string(v) + ",";
    return s;
  }

  SimParams p_;
  SimRng rng_;
  SimNetwork<raftpb::Message> net_;
  int verbose_;
  bool calm_ = false;  // liveness phase: slow members catch up
  std::map<uint64_t, SimNode> nodes_;
  std::vector<Report> reports_;
  std::vector<uint64_t> remove_self_;
  std::string failure_;
  SimStats stats_;

  // Oracle: for each committed index, the term and digest first committed.
  std::vector<uint64_t> oracle_term_{0};
  std::vector<uint64_t> oracle_digest_{0};
  std::vector<uint64_t> state_after_{0};
  std::set<std::string> committed_data_;
  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<std::string, PendingRead> reads_;
  std::set<uint64_t> committed_conf_voters_;
  std::set<uint64_t> committed_conf_learners_;
  std::set<uint64_t> ever_member_;

  bool burst_ = false;
  uint64_t max_id_ = 0;
  uint64_t next_new_id_ = 0;
  uint64_t next_value_ = 0;
  uint64_t next_read_ = 0;
  uint64_t restarts_ = 0;
};

}  // namespace capstan::raft::sim
