// KubeApiServer: the Kubernetes API served by `capstan --kube-apiserver-url`:
// HTTPS listener, authentication (admin token, ServiceAccount tokens,
// anonymous), impersonation, RBAC authorization, discovery, and dispatch of
// resource requests to the Registry.
#pragma once

#include <memory>
#include <string>

#include "kube-adapter/https_server.h"
#include "kube-adapter/kube_credentials.h"
#include "kube-adapter/registry.h"
#include "kube-adapter/resource_catalog.h"
#include "kube-adapter/store_client.h"

namespace capstan::kube {

struct KubeApiServerOptions {
  std::string url;           // https://host:port
  std::string store_target;  // the etcd v3 endpoint to use, e.g. "127.0.0.1:2379"
  // Credentials for it (insecure when null).
  std::shared_ptr<grpc::ChannelCredentials> store_credentials;
  std::string data_dir;   // credentials and admin.kubeconfig go to <data_dir>/kube
  std::string cert_file;  // optional serving pair
  std::string key_file;
};

class KubeApiServer {
 public:
  static bool Start(const KubeApiServerOptions& options, std::unique_ptr<KubeApiServer>* out,
                    std::string* error);
  ~KubeApiServer();
  void Stop();
  uint16_t port() const { return https_.port(); }

 private:
  KubeApiServer() = default;
  void Handle(const HttpRequest& req, HttpResponder& w);
  // Who sent the request, from its headers alone: the admin or a
  // ServiceAccount by bearer token, else anonymous. Unauthorized for a
  // token that is not valid.
  std::optional<ApiError> Authenticate(const HttpRequest& req, UserInfo* user);
  // Before the body is read: a request with bad credentials is answered 401
  // unread; otherwise the user is kept in req.context for Handle.
  bool Preflight(HttpRequest& req, HttpResponder& w);

  KubeApiServerOptions options_;
  KubeCredentials credentials_;
  std::string server_address_;
  std::unique_ptr<StoreClient> store_;
  ResourceCatalog catalog_;
  std::unique_ptr<Registry> registry_;
  HttpsServer https_;
};

}  // namespace capstan::kube
