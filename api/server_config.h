// ServerConfig: the server's configuration, parsed from the command line and
// ETCD_* environment variables exactly the way etcd 3.4/3.5 parses them.
//
// Capstan is a drop-in replacement, so scripts, systemd units and kubeadm
// manifests written for etcd must behave the same: Go `flag` package syntax
// (`-name x`, `--name=x`, bool flags that never consume the next argument,
// parsing stops at the first non-flag), the same defaults, the same
// environment-variable rules and the same error texts and exit codes. The
// parser is hand-written rather than built on CLI11 because CLI11 cannot
// express those rules (a value starting with '-', single-dash long names,
// Go's error wording) without fighting it at every step.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace capstan {

// A URL as etcd accepts it in --*-urls flags: scheme://host:port, no path.
// "unix"/"unixs" URLs also carry host:port; etcd uses "host:port" as the
// socket file name.
struct Url {
  enum class Scheme { kHttp, kHttps, kUnix, kUnixs };

  Scheme scheme = Scheme::kHttp;
  std::string host;  // IPv6 literals are stored without brackets
  uint16_t port = 0;

  bool IsTls() const { return scheme == Scheme::kHttps || scheme == Scheme::kUnixs; }
  bool IsUnix() const { return scheme == Scheme::kUnix || scheme == Scheme::kUnixs; }
  // "host:port", with IPv6 hosts bracketed.
  std::string HostPort() const;
  // The address to hand to grpc::ServerBuilder::AddListeningPort:
  // "host:port" for http/https, "unix:host:port" for unix sockets.
  std::string GrpcListenAddress() const;
  // "scheme://host:port", the form etcd prints and sorts by.
  std::string ToString() const;

  bool operator==(const Url&) const = default;
};

// Parses one URL the way etcd's types.NewURLs does (surrounding whitespace is
// trimmed; the scheme must be http, https, unix or unixs; the address must be
// host:port; no path). Query and fragment are accepted and dropped, like etcd.
// The error message is etcd's, e.g. "URL must not contain a path: <url>".
Status ParseUrl(std::string_view text, Url* url);

// Parses a comma-separated URL list. Like etcd the result is sorted by
// ToString() and duplicates are kept.
Status ParseUrlList(std::string_view text, std::vector<Url>* urls);

// Member name -> that member's peer URLs (sorted).
using InitialCluster = std::map<std::string, std::vector<Url>>;

// Parses --initial-cluster ("n1=http://a:2380,n1=http://b:2380,n2=..."):
// repeated names accumulate URLs, empty entries are skipped, an entry
// without '=' is a name with an empty (so invalid) URL, as in etcd.
Status ParseInitialCluster(std::string_view text, InitialCluster* members);

// "n1=http://a:2380,n2=http://b:2380": every name=url pair, sorted (etcd's
// URLsMap.String()).
std::string InitialClusterToString(const InitialCluster& members);

// Go's time.ParseDuration ("300ms", "1.5h", "2h45m", "0"), with Go's error
// texts. Negative durations are returned as such.
Status ParseGoDuration(std::string_view text, std::chrono::nanoseconds* duration);

enum class ClusterState { kNew, kExisting };
enum class CompactionMode { kPeriodic, kRevision };

// Interprets --auto-compaction-retention like etcd: a plain non-negative
// integer is hours in periodic mode and a revision count in revision mode;
// anything else must be a Go duration and is only valid in periodic mode.
// Exactly one of *period / *revisions is set (the other is zeroed); zero
// means auto compaction is off.
Status ParseCompactionRetention(CompactionMode mode, std::string_view text,
                                std::chrono::nanoseconds* period, int64_t* revisions);

// etcd's backend quota: 0 means this default, and more than the maximum only
// draws a warning.
inline constexpr int64_t kDefaultQuotaBackendBytes = int64_t{2} << 30;  // 2 GiB
inline constexpr int64_t kMaxQuotaBackendBytes = int64_t{8} << 30;      // 8 GiB

inline constexpr char kDefaultInitialCluster[] = "default=http://localhost:2380";

struct ServerConfig {
  // Member.
  std::string name = "default";
  std::string data_dir = "default.etcd";  // "<name>.etcd" when not given
  std::string wal_dir;                    // empty: <data-dir>/member/wal
  uint64_t snapshot_count = 100000;
  uint64_t experimental_snapshot_catchup_entries = 5000;
  uint64_t heartbeat_interval_ms = 100;
  uint64_t election_timeout_ms = 1000;
  std::vector<Url> listen_peer_urls = {Url{Url::Scheme::kHttp, "localhost", 2380}};
  std::vector<Url> listen_client_urls = {Url{Url::Scheme::kHttp, "localhost", 2379}};
  int64_t quota_backend_bytes = 0;  // as given; see EffectiveQuotaBackendBytes()
  uint64_t max_request_bytes = 1572864;
  uint64_t max_txn_ops = 128;

  // Clustering.
  std::vector<Url> initial_advertise_peer_urls = {Url{Url::Scheme::kHttp, "localhost", 2380}};
  std::vector<Url> advertise_client_urls = {Url{Url::Scheme::kHttp, "localhost", 2379}};
  // The effective --initial-cluster text: when --name is not "default" and
  // the flag still has its default value, etcd rewrites it to
  // "<name>=<each initial-advertise-peer-url>".
  std::string initial_cluster = kDefaultInitialCluster;
  InitialCluster initial_cluster_members = {  // initial_cluster, parsed
      {"default", {Url{Url::Scheme::kHttp, "localhost", 2380}}}};
  ClusterState initial_cluster_state = ClusterState::kNew;
  std::string initial_cluster_token = "etcd-cluster";
  CompactionMode auto_compaction_mode = CompactionMode::kPeriodic;
  std::string auto_compaction_retention = "0";         // as given
  std::chrono::nanoseconds auto_compaction_period{0};  // periodic mode; 0 = off
  int64_t auto_compaction_revisions = 0;               // revision mode; 0 = off

  // Logging. Validated: logger is "zap" (the default, as in etcd 3.5) or
  // "capnslog"; log_level is debug|info|warn|error|dpanic|panic|fatal;
  // log_outputs is sorted and de-duplicated ("default", "stderr", "stdout"
  // or file paths).
  std::string logger = "zap";
  std::vector<std::string> log_outputs = {"default"};
  std::string log_level = "info";

  // Profiling and monitoring.
  bool enable_pprof = false;  // accepted for compatibility, ignored
  std::vector<Url> listen_metrics_urls;

  // etcd experimental flags that Kubernetes setups pass; accepted and stored,
  // nothing acts on them yet.
  bool experimental_initial_corrupt_check = false;
  std::chrono::nanoseconds experimental_corrupt_check_time{0};
  bool experimental_compact_hash_check_enabled = false;
  std::chrono::nanoseconds experimental_watch_progress_notify_interval{std::chrono::minutes(10)};

  // Security (etcd's flags of the same names).
  struct TlsFiles {
    std::string cert_file;
    std::string key_file;
    std::string trusted_ca_file;
    bool client_cert_auth = false;  // require and verify client certificates
    bool Empty() const { return cert_file.empty() && key_file.empty(); }
  };
  TlsFiles client_tls;  // --cert-file, --key-file, --trusted-ca-file, --client-cert-auth
  TlsFiles peer_tls;    // --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, ...

  // Capstan-only.
  std::string kube_apiserver_url;
  std::string kube_cert_file;
  std::string kube_key_file;
  int64_t lease_revoke_rate = 1000;  // leases revoked per second at most; > 0
  // An etcd snapshot (`etcdctl snapshot save`) to start a new member from;
  // ignored once the data dir holds a store.
  std::string initial_snapshot;

  // What etcd would log while parsing (used environment variables,
  // unrecognized ETCD_* variables, deprecations). The caller logs them once
  // logging is set up: info_messages at info level, warnings at warn level.
  std::vector<std::string> info_messages;
  std::vector<std::string> warnings;

  // The quota the backend enforces: kDefaultQuotaBackendBytes for 0, no
  // limit (INT64_MAX) for a negative value (etcd disables the quota), else
  // the given value.
  int64_t EffectiveQuotaBackendBytes() const;
};

// Parses `args` (argv without argv[0]) and `env` (the process environment;
// see CurrentEnvironment()) into *config, which is reset to defaults first.
//
// --help / -h and --version: *message_out gets the text to print on stdout
// (newline-terminated), *exit_now is set, and the status is OK; the caller
// exits 0. Otherwise *exit_now is false and, on success, *config is fully
// validated (including etcd's bootstrap checks of --initial-cluster).
//
// On error the status message is what to print on stderr (no trailing
// newline), and ExitCodeForConfigError() gives etcd's exit code for it.
Status ParseServerConfig(std::span<const std::string> args,
                         const std::map<std::string, std::string>& env, ServerConfig* config,
                         std::string* message_out, bool* exit_now);

// etcd's exit code for a ParseServerConfig error: 2 for command-line syntax
// errors (Go's flag package; the status is InvalidArgument and its message
// ends with the usage text), 1 for everything else (FailedPrecondition).
int ExitCodeForConfigError(const Status& status);

// The process environment as a map, for ParseServerConfig.
std::map<std::string, std::string> CurrentEnvironment();

}  // namespace capstan
