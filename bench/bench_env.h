// What every capstan-bench workload shares: the options, the gRPC
// connections, key and value generation, and a recorder for results.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "bench/histogram.h"
#include "rpc.grpc.pb.h"

namespace capstan::bench {

using Clock = std::chrono::steady_clock;

inline uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Options {
  std::string workload;
  std::vector<std::string> endpoints{"127.0.0.1:2379"};
  int conns = 1;
  int clients = 1;
  int64_t total = 0;              // operations; 0 = until --duration
  double duration_s = 0;          // 0 = until --total
  double rate = 0;                // ops/s, open loop; 0 = closed loop
  int64_t max_inflight = 100000;  // open loop: cap on requests outstanding
  int key_size = 8;
  int val_size = 256;
  int64_t key_space = 100000;
  bool sequential_keys = false;
  std::string prefix;  // prepended to generated keys
  bool serializable = false;
  bool target_leader = false;
  double request_timeout_s = 0;  // 0 = no per-call deadline
  int64_t prepopulate = -1;      // keys written before the run; -1 = the workload's default

  // range
  std::string range_key;      // a fixed key (etcd's `range KEY`); empty = random keys
  bool range_prefix = false;  // range over the whole prefix (with --limit)
  int64_t limit = 0;

  // watch (and kube's watchers)
  int watchers = 100;
  int streams = 10;

  // lease-keepalive
  int64_t lease_ttl = 100;

  // kube
  std::string mix = "list=5,create=10,update=60,delete=5,event=20";
  int namespaces = 10;
  int64_t objects = 2000;
  int64_t page_size = 500;
  int64_t event_ttl = 5;
  double event_lease_reuse_s = 1;

  // output
  std::string json_path;
  bool progress = true;
  bool histogram = true;
  int seed = 1;
};

// The channels and stubs of one connection.
struct Conn {
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
};

// One result row: an operation kind (or an event stream) with its latencies.
struct Row {
  explicit Row(std::string n) : name(std::move(n)) {}
  std::string name;
  Histogram hist;
  std::atomic<uint64_t> errors{0};
  // Rows that count something other than requests (watch events) set this;
  // their rate is over the whole measured window including the drain.
  bool events = false;
  double window_s = 0;  // if set, the rate's denominator instead of the run's
};

class Env {
 public:
  explicit Env(Options opts);
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Opens --conns channels spread over the endpoints (or the leader only,
  // with --target-leader) and waits until they are connected.
  bool Connect(std::string* error);

  const Options& opts() const { return opts_; }
  Conn& conn_for_client(int client) { return *conns_[client % conns_.size()]; }
  size_t conn_count() const { return conns_.size(); }
  Conn& conn(size_t i) { return *conns_[i]; }

  // Key number i (or a random one) as prefix + zero-padded decimal, at least
  // --key-size bytes.
  std::string Key(int64_t i) const;
  std::string KeyWithPrefix(const std::string& prefix, int64_t i) const;
  int64_t NextKeyIndex();     // sequential or random in [0, key_space)
  int64_t Random(int64_t n);  // uniform in [0, n), thread-safe
  // A value of --val-size bytes starting with the current time (8 bytes,
  // little endian, steady clock ns) so watchers can measure put→event.
  std::string Value() const { return ValueOfSize(opts_.val_size); }
  static std::string ValueOfSize(int size);
  // The send time stored by Value(), or 0.
  static uint64_t ValueTime(const std::string& v);

  // Sets --request-timeout on a call (none if 0: saves gRPC a timer per call).
  void SetDeadline(grpc::ClientContext* ctx) const;
  // Bound for connecting and setup calls.
  double SetupTimeout() const { return opts_.request_timeout_s > 0 ? opts_.request_timeout_s : 10; }

  // Errors by message, for the summary.
  void CountError(const grpc::Status& s);
  std::map<std::string, uint64_t> Errors() const;

  // Extra counters a workload reports (conflicts, retries, pages...).
  void AddCounter(const std::string& name, uint64_t n);
  std::map<std::string, uint64_t> Counters() const;

 private:
  Options opts_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<int64_t> seq_{0};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> errors_;
  std::map<std::string, uint64_t> counters_;
};

// The end of etcd's prefix range: the prefix with its last byte incremented.
std::string PrefixEnd(const std::string& prefix);

}  // namespace capstan::bench
