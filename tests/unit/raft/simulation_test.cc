// Deterministic simulation of whole clusters under faults (see sim_cluster.h
// for what is checked). Each test runs many seeds; a failing seed prints
// itself and the command that replays it exactly.
//
//   RAFT_SIM_SEEDS=N     run N seeds per test instead of the default (soak)
//   RAFT_SIM_SEED=s      run only seed s (replay)
//   RAFT_SIM_VERBOSE=1   trace events of the run to stderr
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "raft/invariant.h"
#include "sim_cluster.h"

namespace capstan::raft::sim {
namespace {

std::string g_replay;  // printed if the core itself hits a failed check

void PrintReplayOnFatal(const std::string&) {
  std::fprintf(stderr, "while running %s\n", g_replay.c_str());
}

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : def;
}

void RunSeeds(const char* test_name, int voters, uint64_t default_seeds) {
  SetFatalHandler(&PrintReplayOnFatal);
  uint64_t first = 0, count = EnvOr("RAFT_SIM_SEEDS", default_seeds);
  if (std::getenv("RAFT_SIM_SEED")) {
    first = EnvOr("RAFT_SIM_SEED", 0);
    count = 1;
  }
  SimStats total;
  int worst_liveness = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimParams p = SimParams::FromSeed(seed, voters);
    std::string replay = "RAFT_SIM_SEED=" + std::to_string(seed) +
                         " build/bin/raft_tests --gtest_filter=Simulation." + test_name;
    g_replay = replay;
    SimCluster cluster(p);
    std::string failure;
    if (!cluster.Run(&failure)) {
      ADD_FAILURE() << "simulation seed " << seed << " failed: " << failure
                    << "\n  params: " << p.Describe() << "\n  replay: " << replay
                    << "\n  (add RAFT_SIM_VERBOSE=1 for a trace)";
      return;
    }
    const SimStats& s = cluster.stats();
    total.ticks += s.ticks;
    total.messages += s.messages;
    total.elections += s.elections;
    total.committed += s.committed;
    total.crashes += s.crashes;
    total.conf_changes_applied += s.conf_changes_applied;
    total.snapshots_restored += s.snapshots_restored;
    total.reads_served += s.reads_served;
    total.transfers += s.transfers;
    worst_liveness = std::max(worst_liveness, s.liveness_ticks_used);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[ sim ] %s: %llu seeds in %.2fs: %llu ticks, %llu messages, %llu elections, %llu "
      "entries committed, %llu crashes, %llu conf changes applied, %llu snapshots restored, "
      "%llu reads served, %llu transfers; worst time to recover after healing: %d ticks\n",
      test_name, static_cast<unsigned long long>(count), secs,
      static_cast<unsigned long long>(total.ticks), static_cast<unsigned long long>(total.messages),
      static_cast<unsigned long long>(total.elections),
      static_cast<unsigned long long>(total.committed),
      static_cast<unsigned long long>(total.crashes),
      static_cast<unsigned long long>(total.conf_changes_applied),
      static_cast<unsigned long long>(total.snapshots_restored),
      static_cast<unsigned long long>(total.reads_served),
      static_cast<unsigned long long>(total.transfers), worst_liveness);
  SetFatalHandler(nullptr);
}

TEST(Simulation, ThreeNodes) { RunSeeds("ThreeNodes", 3, 600); }

TEST(Simulation, FiveNodes) { RunSeeds("FiveNodes", 5, 400); }

// The same seed always produces the same run.
TEST(Simulation, Deterministic) {
  for (uint64_t seed : {1, 2, 3}) {
    SimParams p = SimParams::FromSeed(seed, 5);
    SimCluster a(p), b(p);
    std::string fa, fb;
    ASSERT_TRUE(a.Run(&fa)) << fa;
    ASSERT_TRUE(b.Run(&fb)) << fb;
    EXPECT_EQ(a.stats().messages, b.stats().messages);
    EXPECT_EQ(a.stats().committed, b.stats().committed);
    EXPECT_EQ(a.stats().elections, b.stats().elections);
    EXPECT_EQ(a.stats().ticks, b.stats().ticks);
  }
}

}  // namespace
}  // namespace capstan::raft::sim
