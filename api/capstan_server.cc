#include "api/capstan_server.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <climits>
#include <fstream>
#include <sstream>

#include "api/auth_service.h"
#include "api/cluster_service.h"
#include "api/grpc_messages.h"
#include "api/kv_service.h"
#include "api/lease_service.h"
#include "api/maintenance_service.h"
#include "api/propose_and_reply.h"
#include "api/watch_service.h"  // watch hub (issue 3)

namespace capstan::api {
namespace {

bool ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// gRPC server credentials for https client URLs (etcd's --cert-file,
// --key-file, --trusted-ca-file, --client-cert-auth).
Status ClientTlsCredentials(const ServerConfig::TlsFiles& t,
                            std::shared_ptr<grpc::ServerCredentials>* out) {
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!ReadWholeFile(t.cert_file, &pair.cert_chain)) {
    return Status::InvalidArgument("open " + t.cert_file + ": no such file or directory");
  }
  if (!ReadWholeFile(t.key_file, &pair.private_key)) {
    return Status::InvalidArgument("open " + t.key_file + ": no such file or directory");
  }
  grpc::SslServerCredentialsOptions o;
  o.pem_key_cert_pairs.push_back(pair);
  if (!t.trusted_ca_file.empty() && !ReadWholeFile(t.trusted_ca_file, &o.pem_root_certs)) {
    return Status::InvalidArgument("open " + t.trusted_ca_file + ": no such file or directory");
  }
  if (t.client_cert_auth) {
    o.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else if (!o.pem_root_certs.empty()) {
    o.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    o.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  *out = grpc::SslServerCredentials(o);
  return Status::OK();
}

}  // namespace
namespace {}  // namespace

Status CapstanServer::Start(const ServerConfig& config, std::unique_ptr<CapstanServer>* out) {
  std::unique_ptr<CapstanServer> srv(new CapstanServer());
  EtcdServerOptions opts;
  opts.data_dir = config.data_dir;
  opts.wal_dir = config.wal_dir;
  opts.name = config.name;
  for (const Url& u : config.initial_advertise_peer_urls) opts.peer_urls.push_back(u.ToString());
  for (const Url& u : config.advertise_client_urls) opts.client_urls.push_back(u.ToString());
  for (const auto& [name, urls] : config.initial_cluster_members) {
    EtcdServerOptions::InitialMember m;
    m.name = name;
    for (const Url& u : urls) m.peer_urls.push_back(u.ToString());
    opts.initial_members.push_back(std::move(m));
  }
  opts.new_cluster = config.initial_cluster_state == ClusterState::kNew;
  for (const Url& u : config.listen_peer_urls) opts.listen_peer_addresses.push_back(u.HostPort());
  // Peer TLS is on when a pair is given (etcd requires one for https peer URLs).
  if (!config.peer_tls.Empty()) {
    opts.peer_tls.enabled = true;
    opts.peer_tls.cert_file = config.peer_tls.cert_file;
    opts.peer_tls.key_file = config.peer_tls.key_file;
    opts.peer_tls.trusted_ca_file = config.peer_tls.trusted_ca_file;
    opts.peer_tls.client_cert_auth = config.peer_tls.client_cert_auth;
  }
  opts.heartbeat_ms = static_cast<int>(config.heartbeat_interval_ms);
  opts.election_ms = static_cast<int>(config.election_timeout_ms);
  opts.initial_cluster_token = config.initial_cluster_token;
  opts.quota_backend_bytes = config.EffectiveQuotaBackendBytes();
  opts.max_request_bytes = static_cast<int64_t>(config.max_request_bytes);
  opts.watch_progress_notify_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.experimental_watch_progress_notify_interval);  // watch hub (issue 3)
  opts.max_txn_ops = static_cast<int>(config.max_txn_ops);
  opts.lease_revoke_rate = config.lease_revoke_rate;
  opts.auto_compaction_period = config.auto_compaction_period;
  opts.auto_compaction_revisions = config.auto_compaction_revisions;
  opts.initial_snapshot = config.initial_snapshot;
  opts.snapshot_count = config.snapshot_count;
  opts.snapshot_catchup_entries = config.experimental_snapshot_catchup_entries;
  Status s = EtcdServer::Start(opts, &srv->core_);
  if (!s.ok()) return s;

  EtcdServer* core = srv->core_.get();
  srv->services_.push_back(std::make_unique<KvService>(core));
  srv->services_.push_back(std::make_unique<MaintenanceService>(core));
  srv->services_.push_back(std::make_unique<ClusterService>(core));
  srv->services_.push_back(std::make_unique<AuthService>(core));
  srv->services_.push_back(std::make_unique<LeaseService>(core));
  srv->services_.push_back(std::make_unique<WatchService>(core));  // watch hub (issue 3)

  grpc::ServerBuilder builder;
  std::vector<int> ports(config.listen_client_urls.size(), 0);
  for (size_t i = 0; i < config.listen_client_urls.size(); ++i) {
    const Url& u = config.listen_client_urls[i];
    std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
    if (u.IsTls()) {
      s = ClientTlsCredentials(config.client_tls, &creds);
      if (!s.ok()) return s;
    }
    builder.AddListeningPort(u.GrpcListenAddress(), creds, &ports[i]);
  }
  for (auto& svc : srv->services_) builder.RegisterService(svc.get());
  // etcd's receive limit is --max-request-bytes plus grpc overhead, and
  // CheckReceivedSize answers a message over it as grpc-go words it. The
  // transport refuses, before buffering it whole, a message over twice that
  // (same code and sizes, in C++ gRPC's words: "Received message larger than
  // max (N vs. M)"), so a client cannot make a member hold more per call.
  const uint64_t receive_limit = config.max_request_bytes + kGrpcOverheadBytes;
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(2 * receive_limit, INT_MAX)));
  builder.SetMaxSendMessageSize(INT_MAX);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewUnmarshalErrorInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Clients keep connections open with pings, as they do against etcd.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  srv->grpc_ = builder.BuildAndStart();
  if (!srv->grpc_) return Status::IOError("cannot start the gRPC server on the client URLs");
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i] == 0) {
      return Status::IOError("cannot listen on " + config.listen_client_urls[i].ToString());
    }
    spdlog::info("serving client traffic {} on {}",
                 config.listen_client_urls[i].IsTls() ? "securely" : "insecurely",
                 config.listen_client_urls[i].ToString());
  }
  // Until the Auth service exists, nothing on the client port checks who asks.
  spdlog::warn(
      "authentication is not implemented: any client that can reach the client URLs can read "
      "and write every key");
  if (!config.listen_metrics_urls.empty()) {
    std::vector<std::string> addresses;
    for (const Url& u : config.listen_metrics_urls) addresses.push_back(u.HostPort());
    s = HttpEndpoints::Start(core, addresses, &srv->http_);
    if (!s.ok()) return s;
  }
  if (!config.kube_apiserver_url.empty()) {
    // The Kubernetes layer is a client of our own etcd API, like kube-apiserver.
    kube::KubeApiServerOptions ko;
    ko.url = config.kube_apiserver_url;
    const Url& c = config.listen_client_urls.front();
    std::string host = c.host;
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "localhost")
      host = "127.0.0.1";
    ko.store_target = c.IsUnix() ? "unix:" + c.host
                                 : (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                                       ":" + std::to_string(ports[0]);
    ko.data_dir = config.data_dir;
    if (c.IsTls()) {
      // The adapter dials our TLS listener with the member's own pair.
      std::string ca, cert, key;
      const auto& t = config.client_tls;
      if (!ReadWholeFile(t.trusted_ca_file.empty() ? t.cert_file : t.trusted_ca_file, &ca) ||
          !ReadWholeFile(t.cert_file, &cert) || !ReadWholeFile(t.key_file, &key)) {
        return Status::InvalidArgument("cannot read the client TLS files for the kube adapter");
      }
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = ca;
      o.pem_cert_chain = cert;
      o.pem_private_key = key;
      ko.store_credentials = grpc::SslCredentials(o);
    }
    ko.cert_file = config.kube_cert_file;
    ko.key_file = config.kube_key_file;
    std::string error;
    if (!kube::KubeApiServer::Start(ko, &srv->kube_, &error)) return Status::InvalidArgument(error);
    spdlog::info("serving the Kubernetes API on {} (kubeconfig {}/kube/admin.kubeconfig)",
                 config.kube_apiserver_url, config.data_dir);
  }
  *out = std::move(srv);
  return Status::OK();
}

CapstanServer::~CapstanServer() { Shutdown(); }

void CapstanServer::Shutdown() {
  if (kube_) {
    kube_->Stop();
    kube_.reset();
  }
  if (http_) {
    http_->Stop();
    http_.reset();
  }
  if (grpc_) {
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc_.reset();
  }
  if (core_) {
    core_->Stop();
    core_.reset();
  }
}

}  // namespace capstan::api
