// Micro-benchmark of watch fan-out: one put, committed to a store and handed
// to the WatchHub, until every one of N watchers (100 per stream, each stream
// drained by its on_ready callback as the API layer would) has its event.
// No gRPC: this is the engine's share of etcd's watch path.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"
#include "watch/watch_hub.h"

namespace capstan {
namespace {

// Counts what the streams' callbacks drain. The waiting thread is woken only
// once the goal is reached: a wake-up per drained stream (1000 of them for
// 100k watchers) would time the benchmark's condition variable, not the hub.
struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  int64_t events = 0;
  int64_t created = 0;
  int64_t events_goal = 0;
  int64_t created_goal = 0;

  void Add(int64_t ev, int64_t cr) {
    std::lock_guard<std::mutex> l(mu);
    events += ev;
    created += cr;
    if (events >= events_goal && created >= created_goal) cv.notify_all();
  }
  // Sets the goal: `more_events` more events than drained so far, and
  // `created_total` created replies in all. Called before the work starts.
  void Expect(int64_t more_events, int64_t created_total) {
    std::lock_guard<std::mutex> l(mu);
    events_goal = events + more_events;
    created_goal = created_total;
  }
  // Waits until the goal is reached (at most 30 s).
  bool Wait() {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(30),
                       [&] { return events >= events_goal && created >= created_goal; });
  }
};

// CPU time of the whole process (hub thread included), in seconds: on a
// shared box wall time also counts the time other processes held the cores.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void BM_WatchFanout(benchmark::State& state) {
  const int watchers = static_cast<int>(state.range(0));
  const int per_stream = 100;  // under the per-stream queue bound (128 messages)
  TempDir dir;
  std::unique_ptr<MvccStore> store;
  Status s = MvccStore::Open(dir.Sub("db"), StoreOptions{}, &store);
  if (!s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  watch::WatchHub hub(store.get(), watch::WatchHubOptions{});
  hub.Start();
  Sink sink;
  sink.Expect(0, watchers);
  std::vector<std::shared_ptr<watch::WatchStream>> streams;
  for (int created = 0; created < watchers; created += per_stream) {
    auto self = std::make_shared<std::weak_ptr<watch::WatchStream>>();
    auto stream = hub.OpenStream([self, &sink] {
      auto st = self->lock();
      if (!st) return;
      watch::WatchMessage m;
      int64_t ev = 0, cr = 0;
      while (st->Next(&m)) {
        ev += static_cast<int64_t>(m.events.size());
        if (m.created) ++cr;
      }
      if (ev != 0 || cr != 0) sink.Add(ev, cr);
    });
    *self = stream;
    for (int w = 0; w < per_stream && created + w < watchers; ++w) {
      watch::WatchRequestOptions req;
      req.key = "fan/";
      req.range_end = "fan0";
      stream->Create(req);
    }
    // The API layer drains the `created` replies itself after Create.
    watch::WatchMessage m;
    int64_t cr = 0;
    while (stream->Next(&m)) cr += m.created ? 1 : 0;
    sink.Add(0, cr);
    streams.push_back(std::move(stream));
  }
  if (!sink.Wait()) {
    state.SkipWithError("watchers were not all created");
    return;
  }
  std::string value(256, 'v');
  int64_t i = 0;
  double process_cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto b = store->NewBatch();
    b->BeginTxn();
    int64_t rev;
    b->Put("fan/" + std::to_string(i++ % 1000), value, 0, &rev);
    int64_t now = b->EndTxn();
    std::vector<mvccpb::Event> events = b->events();
    b->Commit();
    b.reset();
    sink.Expect(watchers, watchers);
    state.ResumeTiming();
    const double cpu0 = ProcessCpuSeconds();
    hub.Notify(events, now);
    if (!sink.Wait()) {
      state.SkipWithError("fan-out did not complete in 30 s");
      break;
    }
    process_cpu += ProcessCpuSeconds() - cpu0;
  }
  state.counters["watchers"] = watchers;
  // Process CPU per fan-out, in ms (the hub thread does the work).
  state.counters["proc_cpu_ms"] = benchmark::Counter(
      process_cpu * 1e3 / static_cast<double>(std::max<int64_t>(state.iterations(), 1)));
  state.counters["events/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * watchers, benchmark::Counter::kIsRate);
  for (auto& st : streams) st->Close();
  hub.Stop();
}
BENCHMARK(BM_WatchFanout)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace capstan
