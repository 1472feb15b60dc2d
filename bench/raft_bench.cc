// Micro-benchmark of the Raft core: three RawNodes in one process,
// exchanging messages in memory (no network, no WAL), one thread driving
// all three. The leader takes proposals in batches and every member
// persists to a MemoryStorage and applies; items = entries committed.
#include <benchmark/benchmark.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"

namespace capstan::raft {
namespace {

class InProcessCluster {
 public:
  explicit InProcessCluster(int n) {
    raftpb::ConfState cs;
    for (int i = 1; i <= n; ++i) cs.add_voters(static_cast<uint64_t>(i));
    for (int i = 1; i <= n; ++i) {
      auto m = std::make_unique<Member>();
      m->storage.SetInitialConfState(cs);
      Config c;
      c.id = static_cast<uint64_t>(i);
      c.storage = &m->storage;
      c.election_tick = 10;
      c.heartbeat_tick = 1;
      c.max_inflight_msgs = 256;
      c.seed = 42;
      Status s = RawNode::Create(c, &m->node);
      if (!s.ok()) {
        error_ = s.ToString();
        return;
      }
      members_.push_back(std::move(m));
    }
    members_[0]->node->Campaign();
    Pump();
    if (members_[0]->node->raft().role() != Role::kLeader) error_ = "member 1 did not win";
  }

  const std::string& error() const { return error_; }
  RawNode& leader() { return *members_[0]->node; }

  // Handles every Ready and delivers every message until all is quiet.
  // Returns the entries the leader applied.
  uint64_t Pump() {
    uint64_t applied = 0;
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i = 0; i < members_.size(); ++i) {
        Member& m = *members_[i];
        while (m.node->HasReady()) {
          progress = true;
          Ready rd = m.node->GetReady();
          if (rd.snapshot) m.storage.ApplySnapshot(*rd.snapshot);
          m.storage.Append(rd.entries);
          if (rd.hard_state) m.storage.SetHardState(*rd.hard_state);
          for (auto& msg : rd.messages) wire_.push_back(std::move(msg));
          if (!rd.committed_entries.empty()) {
            m.applied = rd.committed_entries.back().index();
            if (i == 0) applied += rd.committed_entries.size();
          }
          m.node->Advance();
        }
      }
      while (!wire_.empty()) {
        progress = true;
        raftpb::Message msg = std::move(wire_.front());
        wire_.pop_front();
        members_[msg.to() - 1]->node->Step(msg);
      }
    }
    return applied;
  }

  // Releases applied entries (keeps the last `keep`).
  void Compact(uint64_t keep) {
    for (auto& m : members_) {
      if (m->applied > keep && m->applied - keep > m->storage.FirstIndex()) {
        m->storage.Compact(m->applied - keep);
      }
    }
  }

 private:
  struct Member {
    MemoryStorage storage;
    std::unique_ptr<RawNode> node;
    uint64_t applied = 0;
  };
  std::vector<std::unique_ptr<Member>> members_;
  std::deque<raftpb::Message> wire_;
  std::string error_;
};

// range(0) proposals of range(1) bytes each, then one Pump: a group of
// proposals that arrived together travels in one MsgApp per follower.
void BM_RaftPipeline3(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  InProcessCluster c(3);
  if (!c.error().empty()) {
    state.SkipWithError(c.error().c_str());
    return;
  }
  std::string payload(size, 'p');
  uint64_t committed = 0;
  int64_t rounds = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) c.leader().Propose(payload);
    committed += c.Pump();
    if (++rounds % 64 == 0) c.Compact(1024);
  }
  state.SetItemsProcessed(static_cast<int64_t>(committed));
  state.counters["committed"] = static_cast<double>(committed);
}
BENCHMARK(BM_RaftPipeline3)
    ->ArgNames({"batch", "bytes"})
    ->Args({1, 128})
    ->Args({64, 128})
    ->Args({256, 128})
    ->Args({256, 300})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace capstan::raft
