// Micro-benchmark of watch fan-out: one put, committed to a store and handed
// to the WatchHub, until every one of N watchers (100 per stream, each stream
// drained by its on_ready callback as the API layer would) has its event.
// No gRPC: this is the engine's share of etcd's watch path.
#include <benchmark/benchmark.h>
#include <stdlib.h>

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

// Counts what the streams' callbacks drain.
struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  int64_t events = 0;
  int64_t created = 0;

  void Add(int64_t ev, int64_t cr) {
    std::lock_guard<std::mutex> l(mu);
    events += ev;
    created += cr;
    cv.notify_all();
  }
  // Waits until `pred` holds (at most 30 s).
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(30), pred);
  }
};

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
  if (!sink.WaitFor([&] { return sink.created >= watchers; })) {
    state.SkipWithError("watchers were not all created");
    return;
  }
  std::string value(256, 'v');
  int64_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    int64_t target;
    {
      std::lock_guard<std::mutex> l(sink.mu);
      target = sink.events + watchers;
    }
    auto b = store->NewBatch();
    b->BeginTxn();
    int64_t rev;
    b->Put("fan/" + std::to_string(i++ % 1000), value, 0, &rev);
    int64_t now = b->EndTxn();
    std::vector<mvccpb::Event> events = b->events();
    b->Commit();
    b.reset();
    state.ResumeTiming();
    hub.Notify(events, now);
    if (!sink.WaitFor([&] { return sink.events >= target; })) {
      state.SkipWithError("fan-out did not complete in 30 s");
      break;
    }
  }
  state.counters["watchers"] = watchers;
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
