// Micro-benchmarks of the storage engine, without gRPC or the log: MVCC
// apply (puts in WriteBatches, as the apply loop issues them), Range of 100
// keys, and the in-memory KeyIndex.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/key_index.h"
#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"

namespace capstan {
namespace {

// etcd benchmark-style keys: 8 bytes, zero-padded decimal.
std::string Key(int64_t i) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%08lld", static_cast<long long>(i));
  return buf;
}

std::unique_ptr<MvccStore> OpenStore(const TempDir& dir, benchmark::State& state) {
  std::unique_ptr<MvccStore> store;
  Status s = MvccStore::Open(dir.Sub("db"), StoreOptions{}, &store);
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  return store;
}

// Writes keys [0, n) in batches of 1000, one etcd txn per put.
void Fill(MvccStore* store, int64_t n, const std::string& value) {
  for (int64_t i = 0; i < n;) {
    auto b = store->NewBatch();
    for (int j = 0; j < 1000 && i < n; ++j, ++i) {
      b->BeginTxn();
      int64_t rev;
      b->Put(Key(i), value, 0, &rev);
      b->EndTxn();
    }
    b->Commit();
  }
}

// MVCC apply: range(0) puts per WriteBatch (one LMDB write transaction and
// its commit, as the apply loop does per batch of log entries), each put its
// own etcd transaction (one main revision), random keys among range(1),
// 256-byte values, on a fresh store. Items = puts.
void BM_MvccApplyPuts(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int64_t key_space = state.range(1);
  TempDir dir;
  auto store = OpenStore(dir, state);
  if (!store) return;
  std::string value(256, 'v');
  std::mt19937_64 rng(1);
  std::vector<std::string> keys;
  keys.reserve(static_cast<size_t>(key_space));
  for (int64_t i = 0; i < key_space; ++i) keys.push_back(Key(i));
  for (auto _ : state) {
    auto b = store->NewBatch();
    for (int j = 0; j < batch; ++j) {
      b->BeginTxn();
      int64_t rev;
      Status s = b->Put(keys[rng() % static_cast<uint64_t>(key_space)], value, 0, &rev);
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
      b->EndTxn();
    }
    Status s = b->Commit();
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["revision"] = static_cast<double>(store->CurrentRevision());
}
BENCHMARK(BM_MvccApplyPuts)
    ->Args({1000, 100000})
    ->Args({100, 100000})
    ->Args({1000, 1000000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Puts with the LMDB commit excluded: what the engine costs per put. On a
// fresh store most puts create a key; `prefilled` starts with all 100k keys,
// so every put is a new revision of an existing key (a fixed key set's steady
// state).
void ApplyPutsNoCommit(benchmark::State& state, bool prefilled) {
  const int batch = static_cast<int>(state.range(0));
  const int64_t key_space = 100000;
  TempDir dir;
  auto store = OpenStore(dir, state);
  if (!store) return;
  std::string value(256, 'v');
  if (prefilled) Fill(store.get(), key_space, value);
  std::mt19937_64 rng(1);
  std::vector<std::string> keys;
  for (int64_t i = 0; i < key_space; ++i) keys.push_back(Key(i));
  for (auto _ : state) {
    auto b = store->NewBatch();
    for (int j = 0; j < batch; ++j) {
      b->BeginTxn();
      int64_t rev;
      b->Put(keys[rng() % static_cast<uint64_t>(key_space)], value, 0, &rev);
      b->EndTxn();
    }
    state.PauseTiming();
    b->Commit();
    b.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
void BM_MvccApplyPutsNoCommit(benchmark::State& state) { ApplyPutsNoCommit(state, false); }
BENCHMARK(BM_MvccApplyPutsNoCommit)->Arg(1000)->Unit(benchmark::kMillisecond);
void BM_MvccApplyUpdatesNoCommit(benchmark::State& state) { ApplyPutsNoCommit(state, true); }
BENCHMARK(BM_MvccApplyUpdatesNoCommit)->Arg(1000)->Unit(benchmark::kMillisecond);

// Range over 100 consecutive keys of a 100k-key store (linearizable and
// serializable reads both end here). Items = keys returned.
void BM_MvccRange100(benchmark::State& state) {
  TempDir dir;
  auto store = OpenStore(dir, state);
  if (!store) return;
  const int64_t n = 100000;
  Fill(store.get(), n, std::string(256, 'v'));
  std::mt19937_64 rng(2);
  int64_t keys = 0;
  for (auto _ : state) {
    int64_t start = static_cast<int64_t>(rng() % static_cast<uint64_t>(n - 100));
    std::string from = Key(start), to = Key(start + 100);
    RangeResult result;
    Status s = store->Range(KeyRange{from, to}, RangeOptions{}, &result);
    if (!s.ok() || result.kvs.size() != 100) state.SkipWithError("range returned a wrong count");
    keys += static_cast<int64_t>(result.kvs.size());
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(keys);
  state.counters["ranges/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MvccRange100)->Unit(benchmark::kMicrosecond);

// A single-key Range (etcd's `range benchkey`).
void BM_MvccGet(benchmark::State& state) {
  TempDir dir;
  auto store = OpenStore(dir, state);
  if (!store) return;
  const int64_t n = 100000;
  Fill(store.get(), n, std::string(256, 'v'));
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    std::string k = Key(static_cast<int64_t>(rng() % static_cast<uint64_t>(n)));
    RangeResult result;
    store->Range(KeyRange{k, {}}, RangeOptions{}, &result);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MvccGet)->Unit(benchmark::kMicrosecond);

// KeyIndex::Put of new keys (range(0) = 1) or of new revisions of existing
// keys (0), in a 100k-key index.
void BM_KeyIndexPut(benchmark::State& state) {
  const bool fresh = state.range(0) != 0;
  const int64_t n = 100000;
  std::vector<std::string> keys;
  for (int64_t i = 0; i < n; ++i) keys.push_back(Key(i));
  std::mt19937_64 rng(4);
  auto index = std::make_unique<KeyIndex>();
  int64_t rev = 1;
  if (!fresh) {
    for (const auto& k : keys) index->Put(k, Revision{++rev, 0});
  }
  int64_t i = 0;
  for (auto _ : state) {
    if (fresh && i == n) {
      state.PauseTiming();
      index = std::make_unique<KeyIndex>();
      i = 0;
      state.ResumeTiming();
    }
    const std::string& k =
        fresh ? keys[static_cast<size_t>(i++)] : keys[rng() % static_cast<uint64_t>(n)];
    index->Put(k, Revision{++rev, 0});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyIndexPut)->ArgName("new_keys")->Arg(1)->Arg(0);

// KeyIndex::Get at the latest revision, random keys of a 100k-key index.
void BM_KeyIndexGet(benchmark::State& state) {
  const int64_t n = 100000;
  std::vector<std::string> keys;
  for (int64_t i = 0; i < n; ++i) keys.push_back(Key(i));
  KeyIndex index;
  int64_t rev = 1;
  for (int round = 0; round < 3; ++round) {
    for (const auto& k : keys) index.Put(k, Revision{++rev, 0});
  }
  std::mt19937_64 rng(5);
  for (auto _ : state) {
    KeyVersion kv;
    bool found = index.Get(keys[rng() % static_cast<uint64_t>(n)], rev, &kv);
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(kv);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyIndexGet);

}  // namespace
}  // namespace capstan
