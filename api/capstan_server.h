// CapstanServer: one running member: the EtcdServer core plus the gRPC
// server that exposes the etcd v3 services on the client URLs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "api/etcd_server.h"
#include "api/http_endpoints.h"
#include "api/server_config.h"
#include "kube-adapter/kube_api_server.h"

namespace capstan::api {

class CapstanServer {
 public:
  static Status Start(const ServerConfig& config, std::unique_ptr<CapstanServer>* out);
  ~CapstanServer();

  // Stops accepting RPCs, finishes those in flight (bounded), then stops the core.
  void Shutdown();

  EtcdServer* core() const { return core_.get(); }

 private:
  CapstanServer() = default;

  std::unique_ptr<EtcdServer> core_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<HttpEndpoints> http_;  // --listen-metrics-urls
  std::unique_ptr<kube::KubeApiServer> kube_;  // --kube-apiserver-url
};

}  // namespace capstan::api
