// capstan-bench workloads: put, range, txn-put, delete, watch,
// lease-keepalive and kube (a Kubernetes-apiserver-like mix).
//
// A workload prepares the cluster (Setup), then the driver calls Start once
// per operation, from its pacer (open loop) or from the completion of the
// client's previous operation (closed loop). Start must not block: every RPC
// goes through gRPC's callback API, so a few threads carry any number of
// clients and streams.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_env.h"

namespace capstan::bench {

// Called exactly once when an operation finishes: the index of the row it
// records into (see rows()) and whether it succeeded.
using DoneFn = std::function<void(int row, bool ok)>;

class Workload {
 public:
  explicit Workload(Env* env) : env_(env) {}
  virtual ~Workload() = default;
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Prepares the run: writes keys, grants leases, opens watchers.
  virtual bool Setup(std::string* error) { return true; }
  // Starts one operation for `client`.
  virtual void Start(int client, DoneFn done) = 0;
  // After the last operation has finished: drains watch events and closes
  // streams. Must leave no callback pending.
  virtual void Finish() {}
  // Extra text for the progress line.
  virtual std::string Progress() const { return ""; }

  // Result rows: one per operation kind, plus event rows of the workload.
  std::vector<Row*> rows() const;

 protected:
  Row* AddRow(const std::string& name);

  Env* env_;
  std::vector<std::unique_ptr<Row>> rows_;
};

// Names accepted by MakeWorkload.
const std::vector<std::string>& WorkloadNames();
std::unique_ptr<Workload> MakeWorkload(Env* env, std::string* error);

}  // namespace capstan::bench
