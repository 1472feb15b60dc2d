// HttpEndpoints: the HTTP side etcd serves beside gRPC, on --listen-metrics-urls:
// /health (what Kubernetes' probes ask, with etcd's `exclude` and
// `serializable` parameters), /version and /metrics (Prometheus text).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/etcd_server.h"

namespace capstan::api {

class HttpEndpoints {
 public:
  // `addresses` are "host:port".
  static Status Start(EtcdServer* server, const std::vector<std::string>& addresses,
                      std::unique_ptr<HttpEndpoints>* out);
  ~HttpEndpoints();
  void Stop();

  // The answer to one request: status code, content type, body. Public for tests.
  struct Reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
  };
  static Reply Handle(EtcdServer* server, const std::string& target);

 private:
  class Impl;
  explicit HttpEndpoints(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::api
