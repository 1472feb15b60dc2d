// capstan-bench: a load generator for the etcd v3 API (Capstan or etcd).
//
//   capstan-bench WORKLOAD [--endpoints a,b] [--conns N] [--clients N]
//                 [--total N | --duration 10s] [--rate R] [options]
//
// Closed loop by default: each client sends its next request when the last
// one returns. --rate R switches to an open loop: requests are sent at R/s
// whatever the responses do, and latency is measured from the time each
// request was due (no coordinated omission). All calls use gRPC's callback
// API, so a handful of threads drive thousands of clients and streams.
#include <absl/synchronization/mutex.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/bench_env.h"
#include "bench/kube_rest_workload.h"
#include "bench/workloads.h"

namespace capstan::bench {
namespace {

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// Runs a workload: closed loop (clients re-issue on completion) or open loop
// (a pacer issues at --rate), until --total operations or --duration.
class Driver {
 public:
  Driver(Env* env, Workload* w) : env_(env), w_(w), rows_(w->rows()) {
    const Options& o = env->opts();
    total_ = o.total;
    clients_ = std::max(1, o.clients);
    if (total_ <= 0 && o.duration_s <= 0) total_ = 10000;
    tty_ = isatty(STDERR_FILENO) != 0;
  }

  // Returns false if operations were still outstanding at the hard deadline.
  bool Run() {
    const Options& o = env_->opts();
    start_ns_ = NowNs();
    uint64_t deadline =
        o.duration_s > 0 ? start_ns_ + static_cast<uint64_t>(o.duration_s * 1e9) : UINT64_MAX;
    uint64_t next_progress = start_ns_ + 1'000'000'000ULL;
    bool open_loop = o.rate > 0;
    if (!open_loop) {
      for (int c = 0; c < clients_; ++c) TryIssue(c, 0);
    }
    uint64_t hard_deadline = UINT64_MAX;
    bool drained = true;
    while (true) {
      uint64_t now = NowNs();
      if (now >= deadline && !stop_.load()) stop_.store(true);
      if (open_loop && !stop_.load()) Pace(now, o);
      bool issuing_over = stop_.load() || (total_ > 0 && issued_.load() >= total_) ||
                          (!open_loop && retired_.load() >= clients_);
      if (issuing_over) {
        if (inflight_.load() == 0) break;
        if (hard_deadline == UINT64_MAX) {
          hard_deadline = now + static_cast<uint64_t>((env_->SetupTimeout() + 5) * 1e9);
        } else if (now > hard_deadline) {
          std::cerr << "\nwarning: " << inflight_.load()
                    << " requests still outstanding at the hard deadline\n";
          drained = false;
          break;
        }
      }
      if (now >= next_progress) {
        PrintProgress(now);
        next_progress += 1'000'000'000ULL;
      }
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, open_loop ? std::chrono::microseconds(500) : std::chrono::milliseconds(50));
    }
    end_ns_ = NowNs();
    if (o.progress) {
      PrintProgress(end_ns_);
      std::cerr << "\n";
    }
    return drained;
  }

  double elapsed_s() const { return static_cast<double>(end_ns_ - start_ns_) / 1e9; }
  int64_t completed() const { return completed_.load(); }
  int64_t late() const { return late_.load(); }

 private:
  void Pace(uint64_t now, const Options& o) {
    // Requests due by now at --rate, each stamped with the time it was due.
    auto due = static_cast<int64_t>(static_cast<double>(now - start_ns_) / 1e9 * o.rate);
    if (total_ > 0) due = std::min(due, total_);
    while (paced_ < due) {
      if (inflight_.load() >= o.max_inflight) {
        late_.fetch_add(1);
        break;  // retried on the next tick, still stamped with its due time
      }
      uint64_t intended =
          start_ns_ + static_cast<uint64_t>(static_cast<double>(paced_) / o.rate * 1e9);
      if (!TryIssue(static_cast<int>(paced_ % clients_), intended)) break;
      ++paced_;
    }
  }

  bool TryIssue(int client, uint64_t start_ns) {
    if (stop_.load()) return false;
    int64_t n = issued_.fetch_add(1);
    if (total_ > 0 && n >= total_) return false;
    inflight_.fetch_add(1);
    if (start_ns == 0) start_ns = NowNs();
    w_->Start(client,
              [this, client, start_ns](int row, bool ok) { OnDone(client, start_ns, row, ok); });
    return true;
  }

  void OnDone(int client, uint64_t start_ns, int row, bool ok) {
    uint64_t now = NowNs();
    Row* r = rows_[static_cast<size_t>(row)];
    if (ok) {
      r->hist.Record(now > start_ns ? now - start_ns : 0);
    } else {
      r->errors.fetch_add(1);
    }
    completed_.fetch_add(1);
    if (env_->opts().rate <= 0) {
      // A failure reported inline must not recurse without bound: a client
      // whose requests keep failing at once retires.
      static thread_local int depth = 0;
      if (depth < 8) {
        ++depth;
        if (!TryIssue(client, 0)) retired_.fetch_add(1);
        --depth;
      } else {
        retired_.fetch_add(1);
      }
    }
    if (inflight_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> l(mu_);
      cv_.notify_all();
    }
  }

  void PrintProgress(uint64_t now) {
    if (!env_->opts().progress) return;
    int64_t done = completed_.load();
    double secs = static_cast<double>(now - start_ns_) / 1e9;
    double interval = static_cast<double>(now - last_progress_ns_) / 1e9;
    double rate = last_progress_ns_ == 0 ? done / std::max(secs, 1e-9)
                                         : (done - last_done_) / std::max(interval, 1e-9);
    last_progress_ns_ = now;
    last_done_ = done;
    Histogram merged;
    uint64_t errors = 0;
    for (Row* r : rows_) {
      if (r->events) continue;
      merged.Merge(r->hist);
      errors += r->errors.load();
    }
    char buf[256];
    snprintf(buf, sizeof(buf),
             "[%6.1fs] %s: %" PRId64 " done, %.0f/s, p50 %.2f ms, p99 %.2f ms, errors %" PRIu64,
             secs, env_->opts().workload.c_str(), done, rate, Ms(merged.Percentile(0.5)),
             Ms(merged.Percentile(0.99)), errors);
    std::string extra = w_->Progress();
    std::cerr << (tty_ ? "\r" : "") << buf << (extra.empty() ? "" : ", ") << extra
              << (tty_ ? "    " : "\n") << std::flush;
  }

  Env* env_;
  Workload* w_;
  std::vector<Row*> rows_;
  int64_t total_;
  int clients_;
  bool tty_;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  int64_t paced_ = 0;
  std::atomic<int64_t> issued_{0}, completed_{0}, inflight_{0}, retired_{0}, late_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t last_progress_ns_ = 0;
  int64_t last_done_ = 0;
};

struct RowStats {
  std::string name;
  uint64_t count, errors;
  double rate, window_s, avg, p50, p90, p99, p999, max;
  bool events;
};

RowStats Stats(const Row& r, double elapsed_s) {
  RowStats s;
  s.name = r.name;
  s.count = r.hist.Count();
  s.errors = r.errors.load();
  s.events = r.events;
  s.window_s = r.window_s > 0 ? r.window_s : elapsed_s;
  s.rate = static_cast<double>(s.count) / std::max(s.window_s, 1e-9);
  s.avg = r.hist.Mean() / 1e6;
  s.p50 = Ms(r.hist.Percentile(0.5));
  s.p90 = Ms(r.hist.Percentile(0.9));
  s.p99 = Ms(r.hist.Percentile(0.99));
  s.p999 = Ms(r.hist.Percentile(0.999));
  s.max = Ms(r.hist.Max());
  return s;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

void PrintHistogram(const Row& r) {
  auto buckets = r.hist.CoarseBuckets(4);
  if (buckets.empty()) return;
  uint64_t peak = 0;
  for (auto& b : buckets) peak = std::max(peak, b.second);
  std::cout << "\nLatency histogram, " << r.name << " (ms, upper bound of each bucket):\n";
  for (auto& [le, count] : buckets) {
    int bar = static_cast<int>(40.0 * static_cast<double>(count) / static_cast<double>(peak));
    printf("  <= %10.3f  %10" PRIu64 "  %s\n", Ms(std::min(le, r.hist.Max())), count,
           std::string(static_cast<size_t>(bar), '#').c_str());
  }
}

void Report(const Env& env, const Workload& w, const Driver& d, double cpu_s) {
  const Options& o = env.opts();
  std::vector<RowStats> stats;
  for (Row* r : w.rows()) stats.push_back(Stats(*r, d.elapsed_s()));
  std::string eps;
  for (size_t i = 0; i < env.opts().endpoints.size(); ++i) eps += (i ? "," : "") + o.endpoints[i];
  std::ostringstream mode;
  if (o.rate > 0) {
    mode << "open loop at " << o.rate << "/s";
  } else {
    mode << "closed loop";
  }

  printf("\nSummary: %s, %.2f s, %s, %d clients on %d connections to %s%s\n", o.workload.c_str(),
         d.elapsed_s(), mode.str().c_str(), o.clients, o.conns, eps.c_str(),
         o.target_leader ? " (leader only)" : "");
  printf("  %-20s %10s %8s %11s %9s %9s %9s %9s %9s %9s\n", "op", "count", "errors", "per sec",
         "avg ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  for (const auto& s : stats) {
    printf("  %-20s %10" PRIu64 " %8" PRIu64 " %11.1f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n",
           s.name.c_str(), s.count, s.errors, s.rate, s.avg, s.p50, s.p90, s.p99, s.p999, s.max);
  }
  printf("  client CPU %.2f s (%.1f us per operation)\n", cpu_s,
         d.completed() > 0 ? cpu_s * 1e6 / static_cast<double>(d.completed()) : 0.0);
  if (d.late() > 0) printf("  open loop: the in-flight cap delayed %" PRId64 " sends\n", d.late());
  for (const auto& [name, n] : env.Counters()) printf("  %s: %" PRIu64 "\n", name.c_str(), n);
  auto errors = env.Errors();
  if (!errors.empty()) {
    printf("Errors:\n");
    for (const auto& [msg, n] : errors) printf("  %8" PRIu64 "  %s\n", n, msg.c_str());
  }
  if (o.histogram) {
    for (Row* r : w.rows()) PrintHistogram(*r);
  }
  fflush(stdout);

  if (o.json_path.empty()) return;
  std::ostringstream js;
  js << "{\n  \"tool\": \"capstan-bench\",\n  \"workload\": \"" << JsonEscape(o.workload) << "\",\n"
     << "  \"endpoints\": \"" << JsonEscape(eps) << "\",\n"
     << "  \"conns\": " << o.conns << ", \"clients\": " << o.clients << ", \"rate\": " << o.rate
     << ", \"total\": " << o.total << ", \"duration_s\": " << Num(d.elapsed_s()) << ",\n"
     << "  \"key_size\": " << o.key_size << ", \"val_size\": " << o.val_size
     << ", \"key_space\": " << o.key_space
     << ", \"sequential_keys\": " << (o.sequential_keys ? "true" : "false")
     << ", \"serializable\": " << (o.serializable ? "true" : "false")
     << ", \"watchers\": " << o.watchers << ", \"streams\": " << o.streams << ",\n"
     << "  \"client_cpu_s\": " << Num(cpu_s) << ",\n  \"rows\": [";
  for (size_t i = 0; i < stats.size(); ++i) {
    const auto& s = stats[i];
    js << (i ? "," : "") << "\n    {\"name\": \"" << JsonEscape(s.name)
       << "\", \"count\": " << s.count << ", \"errors\": " << s.errors
       << ", \"events\": " << (s.events ? "true" : "false") << ", \"window_s\": " << Num(s.window_s)
       << ", \"rps\": " << Num(s.rate) << ", \"latency_ms\": {\"avg\": " << Num(s.avg)
       << ", \"p50\": " << Num(s.p50) << ", \"p90\": " << Num(s.p90) << ", \"p99\": " << Num(s.p99)
       << ", \"p999\": " << Num(s.p999) << ", \"max\": " << Num(s.max)
       << "},\n     \"histogram\": [";
    auto buckets = w.rows()[i]->hist.Buckets();
    for (size_t b = 0; b < buckets.size(); ++b) {
      js << (b ? ", " : "") << "[" << Num(Ms(buckets[b].first)) << ", " << buckets[b].second << "]";
    }
    js << "]}";
  }
  js << "\n  ],\n  \"counters\": {";
  bool first = true;
  for (const auto& [name, n] : env.Counters()) {
    js << (first ? "" : ", ") << "\"" << JsonEscape(name) << "\": " << n;
    first = false;
  }
  js << "},\n  \"errors\": {";
  first = true;
  for (const auto& [msg, n] : errors) {
    js << (first ? "" : ", ") << "\"" << JsonEscape(msg) << "\": " << n;
    first = false;
  }
  js << "}\n}\n";
  if (o.json_path == "-") {
    std::cout << js.str();
  } else {
    std::ofstream f(o.json_path);
    f << js.str();
    if (!f) std::cerr << "error: could not write " << o.json_path << "\n";
  }
}

// "10", "10s", "500ms", "2m" -> seconds.
double ParseDuration(const std::string& s) {
  size_t pos = 0;
  double v = std::stod(s, &pos);
  std::string unit = s.substr(pos);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1000;
  if (unit == "m") return v * 60;
  throw std::invalid_argument("bad duration '" + s + "' (use 10s, 500ms, 2m)");
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

int Main(int argc, char** argv) {
  Options o;
  std::string endpoints = "127.0.0.1:2379", duration, timeout = "0";
  bool no_progress = false, no_histogram = false;
  CLI::App app{
      "capstan-bench: an async gRPC load generator for the etcd v3 API (Capstan or etcd).\n"
      "Workloads: put, range, txn-put, delete, watch, lease-keepalive, kube (etcd API) and\n"
      "kube-rest (the Kubernetes REST layer over HTTPS, admission on)."};
  app.add_option("workload", o.workload,
                 "put|range|txn-put|delete|watch|lease-keepalive|kube|kube-rest")
      ->required();
  KubeRestOptions kube_rest;
  app.add_option("--kube-url", kube_rest.url, "kube-rest: the Kubernetes API URL");
  app.add_option("--kube-dir", kube_rest.dir,
                 "kube-rest: <data-dir>/kube of the server (ca.crt, admin.token)");
  app.add_option("--endpoints", endpoints, "comma-separated host:port list");
  app.add_option("--conns", o.conns, "gRPC connections (each its own TCP connection)");
  app.add_option("--clients", o.clients, "concurrent clients (closed loop: requests in flight)");
  app.add_option("--total", o.total, "operations to run (default 10000 unless --duration)");
  app.add_option("--duration", duration, "run time, e.g. 10s (with --total: whichever first)");
  app.add_option("--rate", o.rate, "open loop: requests per second (default: closed loop)");
  app.add_option("--max-inflight", o.max_inflight, "open loop: cap on requests in flight");
  app.add_option("--key-size", o.key_size, "key size in bytes (prefix + zero-padded number)");
  app.add_option("--val-size", o.val_size, "value size in bytes (starts with a timestamp)");
  app.add_option("--key-space", o.key_space, "number of distinct keys");
  app.add_flag("--sequential-keys", o.sequential_keys, "keys 0,1,2,... instead of random");
  app.add_option("--prefix", o.prefix, "key prefix (watch default: /bench/watch/)");
  app.add_option("--prepopulate", o.prepopulate,
                 "keys written before the run (delete default: its total; others 0)");
  app.add_flag("--serializable", o.serializable, "serializable reads (range, kube lists)");
  app.add_flag("--target-leader", o.target_leader, "send everything to the leader");
  app.add_option("--request-timeout", timeout,
                 "per-request deadline, e.g. 10s (default 0 = none: a deadline costs the client "
                 "~20 us per call)");
  app.add_option("--range-key", o.range_key, "range: read this one key (etcd's `range KEY`)");
  app.add_flag("--range-prefix", o.range_prefix, "range: read the whole --prefix (with --limit)");
  app.add_option("--limit", o.limit, "range: limit");
  app.add_option("--watchers", o.watchers, "watch/kube: watchers");
  app.add_option("--streams", o.streams, "watch/kube: watch streams the watchers share");
  app.add_option("--lease-ttl", o.lease_ttl, "lease-keepalive: lease TTL in seconds");
  app.add_option("--mix", o.mix, "kube: operation weights");
  app.add_option("--namespaces", o.namespaces, "kube: namespaces");
  app.add_option("--objects", o.objects, "kube: pods written before the run, then updated");
  app.add_option("--page-size", o.page_size, "kube: list page size (limit)");
  app.add_option("--event-ttl", o.event_ttl, "kube: TTL of the events' leases, seconds");
  app.add_option("--event-lease-reuse", o.event_lease_reuse_s,
                 "kube: seconds one lease is shared by new events");
  app.add_option("--json", o.json_path, "write results as JSON to FILE (- = stdout)");
  app.add_flag("--no-progress", no_progress, "no progress line");
  app.add_flag("--no-histogram", no_histogram, "no histogram in the summary");
  app.add_option("--seed", o.seed, "random seed");
  try {
    app.parse(argc, argv);
    o.endpoints = Split(endpoints);
    if (!duration.empty()) o.duration_s = ParseDuration(duration);
    o.request_timeout_s = ParseDuration(timeout);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  if (o.workload == "kube-rest") {
    if (kube_rest.dir.empty()) {
      std::cerr << "error: kube-rest needs --kube-dir\n";
      return 2;
    }
    kube_rest.clients = std::max(1, o.clients);
    kube_rest.duration = o.duration_s > 0 ? o.duration_s : 10;
    return RunKubeRest(kube_rest);
  }
  o.progress = !no_progress;
  o.histogram = !no_histogram;
  o.clients = std::max(1, o.clients);
  o.conns = std::max(1, std::min(o.conns, o.clients));
  if (o.endpoints.empty()) {
    std::cerr << "error: --endpoints is empty\n";
    return 2;
  }

  Env env(o);
  std::string error;
  auto workload = MakeWorkload(&env, &error);
  if (!workload) {
    std::cerr << "error: " << error << "\n";
    return 2;
  }
  if (!env.Connect(&error) || !workload->Setup(&error)) {
    std::cerr << "error: " << error << "\n";
    return 1;
  }
  Driver driver(&env, workload.get());
  double cpu0 = CpuSeconds();
  bool drained = driver.Run();
  double cpu = CpuSeconds() - cpu0;
  if (drained) workload->Finish();
  Report(env, *workload, driver, cpu);
  if (!drained) {
    // Callbacks may still run: skip destructors rather than race them.
    fflush(stdout);
    std::_Exit(3);
  }
  return 0;
}

}  // namespace
}  // namespace capstan::bench

int main(int argc, char** argv) {
  // As in the server (api/main.cc): Debian's absl checks every gRPC mutex
  // for deadlocks, which the load generator should not pay for either.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return capstan::bench::Main(argc, argv);
}
