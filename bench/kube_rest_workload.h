// The kube-rest workload of capstan-bench: HTTPS load on the Kubernetes REST
// layer (create, merge-patch, list, delete pods and a watch) with LimitRange and
// ResourceQuota admission on. See kube_rest_workload.cc.
#pragma once

#include <string>

namespace capstan::bench {

struct KubeRestOptions {
  std::string url = "https://127.0.0.1:6443";
  std::string dir;  // <data-dir>/kube of the server: ca.crt and admin.token
  int clients = 8;
  double duration = 10;  // seconds
  std::string ns = "bench";
};

// Runs the workload and prints its report; never returns (exits the process,
// since the watcher may still be blocked in a read).
int RunKubeRest(const KubeRestOptions& options);

}  // namespace capstan::bench
