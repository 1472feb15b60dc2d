#include "api/server_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "api/version.h"

namespace capstan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

using Env = std::map<std::string, std::string>;

struct Result {
  Status status;
  ServerConfig config;
  std::string message;
  bool exit_now = false;
  int exit_code() const { return ExitCodeForConfigError(status); }
};

Result Parse(const std::vector<std::string>& args, const Env& env = {}) {
  Result r;
  r.status = ParseServerConfig(args, env, &r.config, &r.message, &r.exit_now);
  return r;
}

Url U(std::string_view text) {
  Url u;
  Status s = ParseUrl(text, &u);
  EXPECT_TRUE(s.ok()) << text << ": " << s.ToString();
  return u;
}

std::vector<std::string> Strings(const std::vector<Url>& urls) {
  std::vector<std::string> out;
  for (const Url& u : urls) out.push_back(u.ToString());
  return out;
}

// A loopback single-member setup, as the integration harness starts etcd.
std::vector<std::string> Loopback(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--name",
                                   "n1",
                                   "--listen-client-urls",
                                   "http://127.0.0.1:23791",
                                   "--advertise-client-urls",
                                   "http://127.0.0.1:23791",
                                   "--listen-peer-urls",
                                   "http://127.0.0.1:23792",
                                   "--initial-advertise-peer-urls",
                                   "http://127.0.0.1:23792",
                                   "--initial-cluster",
                                   "n1=http://127.0.0.1:23792"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// ---------------------------------------------------------------------------
// Defaults

TEST(ServerConfigTest, DefaultsMatchEtcd) {
  Result r = Parse({});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.exit_now);
  EXPECT_EQ(r.message, "");
  const ServerConfig& c = r.config;
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.data_dir, "default.etcd");
  EXPECT_EQ(c.snapshot_count, 100000u);
  EXPECT_EQ(c.heartbeat_interval_ms, 100u);
  EXPECT_EQ(c.election_timeout_ms, 1000u);
  EXPECT_THAT(Strings(c.listen_peer_urls), ElementsAre("http://localhost:2380"));
  EXPECT_THAT(Strings(c.listen_client_urls), ElementsAre("http://localhost:2379"));
  EXPECT_THAT(Strings(c.initial_advertise_peer_urls), ElementsAre("http://localhost:2380"));
  EXPECT_THAT(Strings(c.advertise_client_urls), ElementsAre("http://localhost:2379"));
  EXPECT_TRUE(c.listen_metrics_urls.empty());
  EXPECT_EQ(c.initial_cluster, "default=http://localhost:2380");
  ASSERT_EQ(c.initial_cluster_members.size(), 1u);
  EXPECT_THAT(Strings(c.initial_cluster_members.at("default")),
              ElementsAre("http://localhost:2380"));
  EXPECT_EQ(c.initial_cluster_state, ClusterState::kNew);
  EXPECT_EQ(c.initial_cluster_token, "etcd-cluster");
  EXPECT_EQ(c.quota_backend_bytes, 0);
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), int64_t{2} * 1024 * 1024 * 1024);
  EXPECT_EQ(c.max_request_bytes, 1572864u);
  EXPECT_EQ(c.max_txn_ops, 128u);
  EXPECT_EQ(c.auto_compaction_mode, CompactionMode::kPeriodic);
  EXPECT_EQ(c.auto_compaction_retention, "0");
  EXPECT_EQ(c.auto_compaction_period, 0ns);
  EXPECT_EQ(c.auto_compaction_revisions, 0);
  EXPECT_EQ(c.logger, "zap");
  EXPECT_THAT(c.log_outputs, ElementsAre("default"));
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.enable_pprof);
  EXPECT_EQ(c.experimental_watch_progress_notify_interval, 10min);
  EXPECT_EQ(c.kube_apiserver_url, "");
  EXPECT_EQ(c.lease_revoke_rate, 1000);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_TRUE(c.info_messages.empty());
}

TEST(ServerConfigTest, DefaultConstructedConfigHoldsTheSameDefaults) {
  ServerConfig c;
  EXPECT_THAT(Strings(c.listen_client_urls), ElementsAre("http://localhost:2379"));
  EXPECT_EQ(c.initial_cluster_members.count("default"), 1u);
  EXPECT_EQ(c.data_dir, "default.etcd");
}

TEST(ServerConfigTest, NameDrivesDataDirAndInitialCluster) {
  Result r = Parse({"--name", "foo"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.config.data_dir, "foo.etcd");
  EXPECT_EQ(r.config.initial_cluster, "foo=http://localhost:2380");

  // One entry per advertised peer URL (sorted), as etcd's InitialClusterFromName.
  r = Parse({"--name", "foo", "--listen-peer-urls", "http://127.0.0.1:23792,http://127.0.0.1:23793",
             "--initial-advertise-peer-urls", "http://127.0.0.1:23793,http://127.0.0.1:23792"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.config.initial_cluster, "foo=http://127.0.0.1:23792,foo=http://127.0.0.1:23793");
  EXPECT_THAT(Strings(r.config.initial_cluster_members.at("foo")),
              ElementsAre("http://127.0.0.1:23792", "http://127.0.0.1:23793"));

  // etcd compares the text with the default, so even an explicit default is rewritten.
  r = Parse({"--name", "foo", "--initial-cluster", "default=http://localhost:2380"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.config.initial_cluster, "foo=http://localhost:2380");

  // An explicit data dir is kept.
  r = Parse({"--name", "foo", "--data-dir", "/var/lib/x"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.config.data_dir, "/var/lib/x");
}

TEST(ServerConfigTest, DefaultNameWithCustomPeerUrlFailsLikeEtcd) {
  // etcd leaves "default=http://localhost:2380" alone for --name=default.
  Result r = Parse({"--listen-peer-urls", "http://127.0.0.1:23792", "--initial-advertise-peer-urls",
                    "http://127.0.0.1:23792"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "--initial-cluster has default=http://localhost:2380 but missing from "
            "--initial-advertise-peer-urls=http://127.0.0.1:23792 (resolved urls: "
            "\"http://127.0.0.1:23792\" != \"http://localhost:2380\")");
}

// ---------------------------------------------------------------------------
// Every flag

TEST(ServerConfigTest, EveryFlag) {
  Result r = Parse({"--name=n1",
                    "--data-dir=/tmp/d",
                    "--snapshot-count=5000",
                    "--heartbeat-interval=50",
                    "--election-timeout=500",
                    "--listen-peer-urls=http://127.0.0.1:23792",
                    "--listen-client-urls=http://127.0.0.1:23791,unix://localhost:23799",
                    "--quota-backend-bytes=8589934592",
                    "--max-txn-ops=1024",
                    "--max-request-bytes=10485760",
                    "--initial-advertise-peer-urls=http://127.0.0.1:23792",
                    "--initial-cluster=n1=http://127.0.0.1:23792,n2=http://127.0.0.2:23792",
                    "--initial-cluster-state=existing",
                    "--initial-cluster-token=tok",
                    "--advertise-client-urls=https://127.0.0.1:23791",
                    "--auto-compaction-retention=1000",
                    "--auto-compaction-mode=revision",
                    "--enable-pprof",
                    "--listen-metrics-urls=http://127.0.0.1:23793",
                    "--logger=zap",
                    "--log-outputs=stdout,stderr,stdout",
                    "--log-level=debug",
                    "--experimental-initial-corrupt-check=true",
                    "--experimental-corrupt-check-time=5m",
                    "--experimental-compact-hash-check-enabled",
                    "--experimental-watch-progress-notify-interval=5s",
                    "--kube-apiserver-url=https://10.0.0.1:6443",
                    "--kube-cert-file=/etc/c.pem",
                    "--kube-key-file=/etc/k.pem",
                    "--lease-revoke-rate=50"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const ServerConfig& c = r.config;
  EXPECT_EQ(c.name, "n1");
  EXPECT_EQ(c.data_dir, "/tmp/d");
  EXPECT_EQ(c.snapshot_count, 5000u);
  EXPECT_EQ(c.heartbeat_interval_ms, 50u);
  EXPECT_EQ(c.election_timeout_ms, 500u);
  EXPECT_THAT(Strings(c.listen_peer_urls), ElementsAre("http://127.0.0.1:23792"));
  EXPECT_THAT(Strings(c.listen_client_urls),
              ElementsAre("http://127.0.0.1:23791", "unix://localhost:23799"));
  EXPECT_EQ(c.quota_backend_bytes, int64_t{8} << 30);
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), int64_t{8} << 30);
  EXPECT_EQ(c.max_txn_ops, 1024u);
  EXPECT_EQ(c.max_request_bytes, 10485760u);
  EXPECT_THAT(Strings(c.initial_advertise_peer_urls), ElementsAre("http://127.0.0.1:23792"));
  EXPECT_EQ(c.initial_cluster_members.size(), 2u);
  EXPECT_EQ(c.initial_cluster_state, ClusterState::kExisting);
  EXPECT_EQ(c.initial_cluster_token, "tok");
  EXPECT_THAT(Strings(c.advertise_client_urls), ElementsAre("https://127.0.0.1:23791"));
  EXPECT_EQ(c.auto_compaction_mode, CompactionMode::kRevision);
  EXPECT_EQ(c.auto_compaction_revisions, 1000);
  EXPECT_EQ(c.auto_compaction_period, 0ns);
  EXPECT_TRUE(c.enable_pprof);
  EXPECT_THAT(Strings(c.listen_metrics_urls), ElementsAre("http://127.0.0.1:23793"));
  EXPECT_EQ(c.logger, "zap");
  EXPECT_THAT(c.log_outputs, ElementsAre("stderr", "stdout"));
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.experimental_initial_corrupt_check);
  EXPECT_EQ(c.experimental_corrupt_check_time, 5min);
  EXPECT_TRUE(c.experimental_compact_hash_check_enabled);
  EXPECT_EQ(c.experimental_watch_progress_notify_interval, 5s);
  EXPECT_EQ(c.kube_apiserver_url, "https://10.0.0.1:6443");
  EXPECT_EQ(c.kube_cert_file, "/etc/c.pem");
  EXPECT_EQ(c.kube_key_file, "/etc/k.pem");
  EXPECT_EQ(c.lease_revoke_rate, 50);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ServerConfigTest, FlagSpellings) {
  // --flag value, --flag=value, -flag value, -flag=value are all the same.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--name", "x"}, {"--name=x"}, {"-name", "x"}, {"-name=x"}}) {
    Result r = Parse(args);
    ASSERT_TRUE(r.status.ok()) << args[0] << ": " << r.status.ToString();
    EXPECT_EQ(r.config.name, "x") << args[0];
  }
  // A value may start with '-' and may contain '='.
  Result r = Parse({"--initial-cluster-token", "-tok=1"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.config.initial_cluster_token, "-tok=1");
  // The last occurrence wins.
  r = Parse({"--max-txn-ops", "1", "--max-txn-ops", "2"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.config.max_txn_ops, 2u);
  // "--" ends the flags.
  r = Parse({"--name", "x", "--"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.config.name, "x");
}

TEST(ServerConfigTest, BoolFlags) {
  EXPECT_TRUE(Parse({"--enable-pprof"}).config.enable_pprof);
  EXPECT_TRUE(Parse({"-enable-pprof"}).config.enable_pprof);
  EXPECT_TRUE(Parse({"--enable-pprof=true"}).config.enable_pprof);
  EXPECT_TRUE(Parse({"--enable-pprof=T"}).config.enable_pprof);
  EXPECT_TRUE(Parse({"--enable-pprof=1"}).config.enable_pprof);
  EXPECT_FALSE(Parse({"--enable-pprof=false"}).config.enable_pprof);
  EXPECT_FALSE(Parse({"--enable-pprof", "--enable-pprof=0"}).config.enable_pprof);

  // A bool flag never consumes the next argument.
  Result r = Parse({"--enable-pprof", "false"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, 'false' is not a valid flag. See 'capstan --help'.");

  r = Parse({"--enable-pprof=maybe"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid boolean value \"maybe\" for -enable-pprof: parse error\nUsage:"));

  // Following flags are still parsed after a bare bool flag.
  r = Parse({"--enable-pprof", "-name", "x"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.config.enable_pprof);
  EXPECT_EQ(r.config.name, "x");
}

TEST(ServerConfigTest, GoIntegerSyntax) {
  // strconv base 0, like Go's flag package.
  Result r =
      Parse({"--quota-backend-bytes=0x10", "--max-txn-ops=0b11", "--snapshot-count=1_000",
             "--max-request-bytes=010", "--heartbeat-interval=0o12", "--election-timeout=1000"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.config.quota_backend_bytes, 16);
  EXPECT_EQ(r.config.max_txn_ops, 3u);
  EXPECT_EQ(r.config.snapshot_count, 1000u);
  EXPECT_EQ(r.config.max_request_bytes, 8u);
  EXPECT_EQ(r.config.heartbeat_interval_ms, 10u);

  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--max-txn-ops", "abc"}, "invalid value \"abc\" for flag -max-txn-ops: parse error"},
           {{"--max-txn-ops", "-1"}, "invalid value \"-1\" for flag -max-txn-ops: parse error"},
           {{"--max-txn-ops=08"}, "invalid value \"08\" for flag -max-txn-ops: parse error"},
           {{"--max-txn-ops=1__0"}, "invalid value \"1__0\" for flag -max-txn-ops: parse error"},
           {{"--max-txn-ops=99999999999999999999"},
            "invalid value \"99999999999999999999\" for flag -max-txn-ops: value out of range"},
           {{"--quota-backend-bytes=abc"},
            "invalid value \"abc\" for flag -quota-backend-bytes: parse error"},
           {{"--quota-backend-bytes=9223372036854775808"},
            "invalid value \"9223372036854775808\" for flag -quota-backend-bytes: value out of "
            "range"},
           {{"--experimental-watch-progress-notify-interval=5"},
            "invalid value \"5\" for flag -experimental-watch-progress-notify-interval: parse "
            "error"},
       }) {
    Result bad = Parse(c.args);
    EXPECT_EQ(bad.exit_code(), 2) << c.args[0];
    EXPECT_THAT(bad.status.message(), StartsWith(c.message + "\nUsage:")) << c.args[0];
  }
  EXPECT_EQ(Parse({"--quota-backend-bytes=-9223372036854775808"}).config.quota_backend_bytes,
            std::numeric_limits<int64_t>::min());
}

TEST(ServerConfigTest, QuotaEffectiveValue) {
  ServerConfig c;
  c.quota_backend_bytes = 0;
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), kDefaultQuotaBackendBytes);
  c.quota_backend_bytes = 1024;
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), 1024);
  c.quota_backend_bytes = -1;  // etcd disables the quota
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), std::numeric_limits<int64_t>::max());

  Result r = Parse({"--quota-backend-bytes", "17179869184"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_THAT(r.config.warnings,
              ElementsAre("backend quota 17179869184 exceeds maximum recommended quota "
                          "8589934592"));
}

// ---------------------------------------------------------------------------
// Command-line errors

TEST(ServerConfigTest, UnknownFlag) {
  for (const char* flag : {"--bogus-flag", "-bogus-flag", "--bogus-flag=1"}) {
    Result r = Parse({flag});
    EXPECT_EQ(r.exit_code(), 2);
    EXPECT_EQ(r.status.code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(r.status.message(),
                StartsWith("flag provided but not defined: -bogus-flag\nUsage:\n\n  capstan "
                           "[flags]\n"));
    EXPECT_FALSE(r.exit_now);
  }
  // etcd-only flags Capstan does not implement are unknown too.
  EXPECT_EQ(Parse({"--enable-v2"}).exit_code(), 2);
}

TEST(ServerConfigTest, FlagSyntaxErrors) {
  Result r = Parse({"--name"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.status.message(), StartsWith("flag needs an argument: -name\n"));

  r = Parse({"---name", "x"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.status.message(), StartsWith("bad flag syntax: ---name\n"));

  r = Parse({"--=x"});
  EXPECT_THAT(r.status.message(), StartsWith("bad flag syntax: --=x\n"));

  // Parsing stops at the first non-flag; etcd then rejects it (exit 1).
  r = Parse({"foo", "--bogus"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, 'foo' is not a valid flag. See 'capstan --help'.");
  r = Parse({"-", "x"});
  EXPECT_EQ(r.status.message(),
            "error verifying flags, '-' is not a valid flag. See 'capstan --help'.");
  r = Parse({"--", "--name", "x"});
  EXPECT_EQ(r.status.message(),
            "error verifying flags, '--name' is not a valid flag. See 'capstan --help'.");
}

TEST(ServerConfigTest, BadEnumValues) {
  Result r = Parse({"--initial-cluster-state", "bogus"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid value \"bogus\" for flag -initial-cluster-state: invalid "
                         "value\nUsage:"));
  r = Parse({"--initial-cluster-state="});
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid value \"\" for flag -initial-cluster-state: invalid value"));

  r = Parse({"--auto-compaction-mode", "bogus"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, unknown auto-compaction-mode \"bogus\". See 'capstan "
            "--help'.");

  r = Parse({"--logger", "bogus"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, unknown logger option \"bogus\". See 'capstan --help'.");

  r = Parse({"--log-level", "bogus"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_THAT(r.status.message(), HasSubstr("unknown log-level \"bogus\""));
  for (const char* level : {"debug", "info", "warn", "error", "panic", "fatal"}) {
    EXPECT_TRUE(Parse({"--log-level", level}).status.ok()) << level;
  }
}

TEST(ServerConfigTest, LoggingRules) {
  Result r = Parse({"--log-outputs", "default,stderr"});
  EXPECT_EQ(r.status.message(),
            "error verifying flags, multi logoutput for \"default\" is not supported yet. See "
            "'capstan --help'.");

  r = Parse({"--logger", "capnslog", "--log-outputs", "stderr,stdout"});
  EXPECT_EQ(r.status.message(),
            "error verifying flags, --logger=capnslog supports only 1 value in '--log-outputs', "
            "got [\"stderr\" \"stdout\"]. See 'capstan --help'.");

  r = Parse({"--logger", "capnslog", "--log-outputs", "/tmp/x.log"});
  EXPECT_THAT(r.status.message(),
              HasSubstr("unknown log-output \"/tmp/x.log\" (only supports \"default\", "
                        "\"stderr\", \"stdout\")"));

  r = Parse({"--logger", "capnslog"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_THAT(r.config.warnings,
              ElementsAre("Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag "
                          "instead"));

  r = Parse({"--log-outputs", "/var/log/capstan.log,stderr"});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(r.config.log_outputs, ElementsAre("/var/log/capstan.log", "stderr"));
}

TEST(ServerConfigTest, ValidationErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--heartbeat-interval", "0"}, "--heartbeat-interval must be >0 (set to 0ms)"},
           {{"--election-timeout", "0"}, "--election-timeout must be >0 (set to 0ms)"},
           {{"--election-timeout", "400"},
            "--election-timeout[400ms] should be at least as 5 times as "
            "--heartbeat-interval[100ms]"},
           {{"--election-timeout", "60000"},
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms"},
           {{"--listen-client-urls", "http://foo:1", "--advertise-client-urls", "http://foo:1"},
            "expected IP in URL for binding (http://foo:1)"},
           {{"--listen-peer-urls", "http://example.com:1"},
            "expected IP in URL for binding (http://example.com:1)"},
           {{"--advertise-client-urls", "http://:1"},
            "--advertise-client-urls \"http://:1\" must be \"host:port\" (unexpected empty host "
            "(http://:1))"},
           {{"--lease-revoke-rate", "0"}, "--lease-revoke-rate must be >0 (set to 0)"},
       }) {
    Result r = Parse(c.args);
    EXPECT_EQ(r.exit_code(), 1) << c.args[0];
    EXPECT_EQ(r.status.message(),
              "error verifying flags, " + c.message + ". See 'capstan --help'.");
  }
  // 5 * heartbeat == election is fine.
  EXPECT_TRUE(Parse({"--heartbeat-interval", "200", "--election-timeout", "1000"}).status.ok());
}

TEST(ServerConfigTest, ListenClientUrlsNeedAdvertiseClientUrls) {
  Result r = Parse({"--listen-client-urls", "http://127.0.0.1:23791"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, --advertise-client-urls is required when "
            "--listen-client-urls is set explicitly. See 'capstan --help'.\n"
            "When listening on specific address(es), this capstan process must advertise "
            "accessible url(s) to each connected client.");
  // Setting it from the environment counts as setting it.
  r = Parse({}, {{"ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:23791"}});
  EXPECT_EQ(r.exit_code(), 1);
  r = Parse({"--listen-client-urls", "http://127.0.0.1:23791"},
            {{"ETCD_ADVERTISE_CLIENT_URLS", "http://127.0.0.1:23791"}});
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
}

TEST(ServerConfigTest, EmptyUrlFlagKeepsDefault) {
  Result r = Parse({"--advertise-client-urls=", "--listen-metrics-urls="});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(Strings(r.config.advertise_client_urls), ElementsAre("http://localhost:2379"));
  EXPECT_TRUE(r.config.listen_metrics_urls.empty());
}

TEST(ServerConfigTest, UrlFlagErrors) {
  Result r = Parse({"--listen-client-urls", "foo"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid value \"foo\" for flag -listen-client-urls: URL scheme must be "
                         "http, https, unix, or unixs: foo\n"));
  r = Parse({"--listen-client-urls", "http://127.0.0.1:1/x"});
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid value \"http://127.0.0.1:1/x\" for flag -listen-client-urls: "
                         "URL must not contain a path: http://127.0.0.1:1/x\n"));
  r = Parse({"--advertise-client-urls", "http://127.0.0.1:x"});
  EXPECT_THAT(r.status.message(),
              StartsWith("invalid value \"http://127.0.0.1:x\" for flag -advertise-client-urls: "
                         "parse \"http://127.0.0.1:x\": invalid port \":x\" after host\n"));
}

// ---------------------------------------------------------------------------
// Environment

TEST(ServerConfigTest, EnvironmentVariables) {
  Result r = Parse({}, {{"ETCD_NAME", "envname"},
                        {"ETCD_DATA_DIR", "/srv/etcd"},
                        {"ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:23791"},
                        {"ETCD_ADVERTISE_CLIENT_URLS", "http://127.0.0.1:23791"},
                        {"ETCD_INITIAL_CLUSTER_STATE", "existing"},
                        {"ETCD_QUOTA_BACKEND_BYTES", "1048576"},
                        {"ETCD_ENABLE_PPROF", "true"},
                        {"ETCD_AUTO_COMPACTION_RETENTION", "30m"},
                        {"ETCD_LOG_OUTPUTS", "stderr"},
                        {"ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK", "true"},
                        {"ETCD_KUBE_APISERVER_URL", "https://k:6443"},
                        {"ETCD_LEASE_REVOKE_RATE", "7"},
                        {"ETCDCTL_API", "3"},
                        {"PATH", "/usr/bin"}});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const ServerConfig& c = r.config;
  EXPECT_EQ(c.name, "envname");
  EXPECT_EQ(c.data_dir, "/srv/etcd");
  EXPECT_EQ(c.initial_cluster, "envname=http://localhost:2380");
  EXPECT_THAT(Strings(c.listen_client_urls), ElementsAre("http://127.0.0.1:23791"));
  EXPECT_EQ(c.initial_cluster_state, ClusterState::kExisting);
  EXPECT_EQ(c.quota_backend_bytes, 1048576);
  EXPECT_TRUE(c.enable_pprof);
  EXPECT_EQ(c.auto_compaction_period, 30min);
  EXPECT_THAT(c.log_outputs, ElementsAre("stderr"));
  EXPECT_TRUE(c.experimental_initial_corrupt_check);
  EXPECT_EQ(c.kube_apiserver_url, "https://k:6443");
  EXPECT_EQ(c.lease_revoke_rate, 7);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_THAT(c.info_messages,
              ::testing::Contains("recognized and used environment variable ETCD_NAME=envname"));
  EXPECT_EQ(c.info_messages.size(), 12u);
}

TEST(ServerConfigTest, UnknownEnvironmentVariableOnlyWarns) {
  Result r = Parse({}, {{"ETCD_BOGUS", "1"}, {"ETCD_HELP", "true"}, {"ETCD_NAME", ""}});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  // An empty variable is never used, so etcd reports it as unrecognized.
  EXPECT_THAT(r.config.warnings, ElementsAre("unrecognized environment variable ETCD_BOGUS=1",
                                             "unrecognized environment variable ETCD_HELP=true",
                                             "unrecognized environment variable ETCD_NAME="));
  EXPECT_EQ(r.config.name, "default");
}

TEST(ServerConfigTest, FlagAndEnvironmentConflict) {
  const std::string conflict =
      "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line "
      "flag (either unset environment variable or disable flag)";
  Result r = Parse({"--name", "default"}, {{"ETCD_NAME", "foo"}});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(), conflict);
  // Even when both say the same, and even when the variable is empty.
  EXPECT_EQ(Parse({"--name", "foo"}, {{"ETCD_NAME", "foo"}}).status.message(), conflict);
  EXPECT_EQ(Parse({"--name", "foo"}, {{"ETCD_NAME", ""}}).status.message(), conflict);
  // A single-dash flag conflicts the same way.
  EXPECT_EQ(Parse({"-name=foo"}, {{"ETCD_NAME", "x"}}).exit_code(), 1);
  // The conflict wins over a bad value in another variable.
  EXPECT_EQ(
      Parse({"--name", "foo"}, {{"ETCD_NAME", "x"}, {"ETCD_MAX_TXN_OPS", "abc"}}).status.message(),
      conflict);
  // --version exits before the environment is looked at.
  r = Parse({"--version", "--name", "x"}, {{"ETCD_NAME", "y"}});
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.exit_now);
}

TEST(ServerConfigTest, BadEnvironmentValue) {
  Result r = Parse({}, {{"ETCD_INITIAL_CLUSTER_STATE", "bogus"}});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error verifying flags, invalid value \"bogus\" for ETCD_INITIAL_CLUSTER_STATE: "
            "invalid value. See 'capstan --help'.");
  r = Parse({}, {{"ETCD_ENABLE_PPROF", "yes"}});
  EXPECT_EQ(r.status.message(),
            "error verifying flags, invalid value \"yes\" for ETCD_ENABLE_PPROF: parse error. "
            "See 'capstan --help'.");
  // etcd visits flags in name order and reports the last bad one.
  r = Parse({}, {{"ETCD_ENABLE_PPROF", "yes"}, {"ETCD_MAX_TXN_OPS", "x"}});
  EXPECT_THAT(r.status.message(), HasSubstr("ETCD_MAX_TXN_OPS"));
}

TEST(ServerConfigTest, EnvironmentVersionIsUsedButIgnored) {
  Result r = Parse({}, {{"ETCD_VERSION", "true"}});
  ASSERT_TRUE(r.status.ok());
  EXPECT_FALSE(r.exit_now);
  EXPECT_THAT(r.config.info_messages,
              ElementsAre("recognized and used environment variable ETCD_VERSION=true"));
}

TEST(ServerConfigTest, CurrentEnvironment) {
  ASSERT_EQ(setenv("CAPSTAN_CONFIG_TEST_VAR", "a=b", 1), 0);
  std::map<std::string, std::string> env = CurrentEnvironment();
  EXPECT_EQ(env["CAPSTAN_CONFIG_TEST_VAR"], "a=b");
  unsetenv("CAPSTAN_CONFIG_TEST_VAR");
}

// ---------------------------------------------------------------------------
// --help / --version

TEST(ServerConfigTest, Version) {
  for (const char* flag : {"--version", "-version", "--version=true"}) {
    Result r = Parse({flag});
    ASSERT_TRUE(r.status.ok()) << flag;
    EXPECT_TRUE(r.exit_now);
    EXPECT_THAT(r.message, StartsWith(std::string("capstan Version: ") + kCapstanVersion +
                                      "\netcd Version: 3.5.17\netcd API Version: 3.5\nGit SHA: "));
    EXPECT_THAT(r.message, HasSubstr("\nGo Version: n/a\nGo OS/Arch: linux/"));
    EXPECT_EQ(r.message.back(), '\n');
  }
  EXPECT_FALSE(Parse({"--version=false"}).exit_now);
  // A stray argument is reported before the version is printed, as in etcd.
  EXPECT_EQ(Parse({"--version", "foo"}).exit_code(), 1);
  EXPECT_EQ(std::string(kEtcdCompatVersion), "3.5.17");
}

TEST(ServerConfigTest, Help) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"-h"},
                                             {"-help"},
                                             {"--h"},
                                             {"--help=false"},
                                             {"--help", "--bogus"},
                                             {"--name", "x", "--help"}}) {
    Result r = Parse(args);
    ASSERT_TRUE(r.status.ok()) << args[0];
    EXPECT_TRUE(r.exit_now);
    EXPECT_THAT(r.message, StartsWith("Usage:\n\n  capstan [flags]\n"));
    EXPECT_THAT(r.message, HasSubstr("\nMember:\n  --name 'default'\n    Human-readable name for "
                                     "this member.\n"));
    EXPECT_THAT(r.message, HasSubstr("  --data-dir '${name}.etcd'\n"));
    EXPECT_THAT(r.message, HasSubstr("  --initial-cluster 'default=http://localhost:2380'\n"));
    EXPECT_THAT(r.message, HasSubstr("  --lease-revoke-rate '1000'\n"));
    EXPECT_THAT(r.message, HasSubstr("  --experimental-watch-progress-notify-interval '10m'\n"));
  }
  // An unknown flag before --help is still an error.
  EXPECT_EQ(Parse({"--bogus", "--help"}).exit_code(), 2);
}

// ---------------------------------------------------------------------------
// URLs

TEST(UrlTest, GoodUrls) {
  Url u = U("http://127.0.0.1:2379");
  EXPECT_EQ(u.scheme, Url::Scheme::kHttp);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 2379);
  EXPECT_EQ(u.GrpcListenAddress(), "127.0.0.1:2379");
  EXPECT_FALSE(u.IsTls());

  u = U("  HTTPS://etcd.example.com:443 ");
  EXPECT_EQ(u.scheme, Url::Scheme::kHttps);
  EXPECT_EQ(u.host, "etcd.example.com");
  EXPECT_TRUE(u.IsTls());
  EXPECT_EQ(u.ToString(), "https://etcd.example.com:443");

  u = U("http://[::1]:2379");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.HostPort(), "[::1]:2379");
  EXPECT_EQ(u.GrpcListenAddress(), "[::1]:2379");
  EXPECT_EQ(u.ToString(), "http://[::1]:2379");

  u = U("unix://localhost:12345");
  EXPECT_EQ(u.scheme, Url::Scheme::kUnix);
  EXPECT_EQ(u.GrpcListenAddress(), "unix:localhost:12345");
  EXPECT_EQ(U("unixs://s:1").scheme, Url::Scheme::kUnixs);

  EXPECT_EQ(U("http://0.0.0.0:0").port, 0);
  EXPECT_EQ(U("http://localhost:2379?x=1#frag").ToString(), "http://localhost:2379");
  EXPECT_EQ(U("http://user@127.0.0.1:1").host, "127.0.0.1");
  EXPECT_EQ(U("http://:2379").host, "");
}

TEST(UrlTest, BadUrls) {
  struct Case {
    const char* in;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "URL scheme must be http, https, unix, or unixs: "},
           {"foo", "URL scheme must be http, https, unix, or unixs: foo"},
           {"ftp://127.0.0.1:1",
            "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1"},
           {"localhost:2379", "URL scheme must be http, https, unix, or unixs: localhost:2379"},
           {"127.0.0.1:2379",
            "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon"},
           {"://x", "parse \"://x\": missing protocol scheme"},
           {"http://127.0.0.1",
            "URL address does not have the form \"host:port\": http://127.0.0.1"},
           {"http://127.0.0.1:",
            "URL address does not have the form \"host:port\": http://127.0.0.1:"},
           {"http://::1:2379", "URL address does not have the form \"host:port\": http://::1:2379"},
           {"http:127.0.0.1:2379",
            "URL address does not have the form \"host:port\": http:127.0.0.1:2379"},
           {"http://127.0.0.1:1/", "URL must not contain a path: http://127.0.0.1:1/"},
           {"http://127.0.0.1:1/x", "URL must not contain a path: http://127.0.0.1:1/x"},
           {"http://127.0.0.1:x", "parse \"http://127.0.0.1:x\": invalid port \":x\" after host"},
           {"http://a b:1", "parse \"http://a b:1\": invalid character \" \" in host name"},
           {"http://[::1:1", "parse \"http://[::1:1\": missing ']' in host"},
           {"http://127.0.0.1:99999", "URL port 99999 is out of range: http://127.0.0.1:99999"},
           {"http://a\n:1", "parse \"http://a\\n:1\": net/url: invalid control character in URL"},
       }) {
    Url u;
    Status s = ParseUrl(c.in, &u);
    EXPECT_FALSE(s.ok()) << c.in;
    EXPECT_EQ(s.message(), c.message) << c.in;
  }
}

TEST(UrlTest, ListsAreSortedAndKeepDuplicates) {
  std::vector<Url> urls;
  ASSERT_TRUE(ParseUrlList("http://b:1,http://a:1, http://a:1", &urls).ok());
  EXPECT_THAT(Strings(urls), ElementsAre("http://a:1", "http://a:1", "http://b:1"));
  Status s = ParseUrlList("http://a:1,", &urls);
  EXPECT_EQ(s.message(), "URL scheme must be http, https, unix, or unixs: ");
}

// ---------------------------------------------------------------------------
// --initial-cluster

TEST(InitialClusterTest, Parse) {
  InitialCluster m;
  ASSERT_TRUE(ParseInitialCluster(
                  "n2=http://10.0.0.2:2380,n1=http://10.0.0.1:2380,,n1=http://10.0.0.11:2380", &m)
                  .ok());
  ASSERT_EQ(m.size(), 2u);
  // Sorted as strings, like etcd's types.URLs ("...11:" < "...1:").
  EXPECT_THAT(Strings(m.at("n1")), ElementsAre("http://10.0.0.11:2380", "http://10.0.0.1:2380"));
  EXPECT_THAT(Strings(m.at("n2")), ElementsAre("http://10.0.0.2:2380"));
  EXPECT_EQ(InitialClusterToString(m),
            "n1=http://10.0.0.11:2380,n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380");

  ASSERT_TRUE(ParseInitialCluster("", &m).ok());
  EXPECT_TRUE(m.empty());
  // An entry without '=' is a name with an empty URL.
  EXPECT_EQ(ParseInitialCluster("n1", &m).message(),
            "URL scheme must be http, https, unix, or unixs: ");
  EXPECT_EQ(ParseInitialCluster("n1=foo", &m).message(),
            "URL scheme must be http, https, unix, or unixs: foo");
}

TEST(InitialClusterTest, ServerChecks) {
  Result r = Parse(Loopback());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(Strings(r.config.initial_cluster_members.at("n1")),
              ElementsAre("http://127.0.0.1:23792"));

  r = Parse(Loopback({"--initial-cluster", "bar=http://127.0.0.1:23792"}));
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "couldn't find local name \"n1\" in the initial cluster configuration");

  r = Parse(Loopback({"--initial-cluster", "n1=foo"}));
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: "
            "foo");

  r = Parse(Loopback({"--initial-cluster", "n1=http://127.0.0.1:23792,x=http://127.0.0.1:23792"}));
  EXPECT_EQ(r.status.message(),
            "initial cluster n1=http://127.0.0.1:23792,x=http://127.0.0.1:23792 has duplicate "
            "url");

  r = Parse(Loopback({"--initial-cluster", "n1=http://127.0.0.1:23799"}));
  EXPECT_EQ(r.status.message(),
            "--initial-cluster has n1=http://127.0.0.1:23799 but missing from "
            "--initial-advertise-peer-urls=http://127.0.0.1:23792 (resolved urls: "
            "\"http://127.0.0.1:23792\" != \"http://127.0.0.1:23799\")");

  r = Parse(
      Loopback({"--initial-advertise-peer-urls", "http://127.0.0.1:23792,http://127.0.0.1:23793"}));
  EXPECT_EQ(r.status.message(),
            "--initial-advertise-peer-urls has http://127.0.0.1:23793 but missing from "
            "--initial-cluster=n1=http://127.0.0.1:23792");

  // A joining member does not compare advertised URLs (etcd's VerifyJoinExisting).
  r = Parse(Loopback({"--initial-cluster", "n1=http://127.0.0.1:23799,n0=http://127.0.0.1:1",
                      "--initial-cluster-state", "existing"}));
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();

  r = Parse({"--name="});
  EXPECT_EQ(r.status.message(),
            "couldn't find local name \"\" in the initial cluster configuration");
}

// ---------------------------------------------------------------------------
// --auto-compaction-retention

TEST(CompactionRetentionTest, Periodic) {
  std::chrono::nanoseconds period;
  int64_t revisions = -1;
  struct Case {
    const char* in;
    std::chrono::nanoseconds want;
  };
  for (const Case& c : std::vector<Case>{{"0", 0ns},
                                         {"", 0ns},
                                         {"1", 1h},
                                         {"100", 100h},
                                         {"+2", 2h},
                                         {"1h", 1h},
                                         {"30m", 30min},
                                         {"1.5h", 90min},
                                         {"2h45m", 165min},
                                         {"300ms", 300ms},
                                         {"1us", 1us},
                                         {"1\xc2\xb5s", 1us},
                                         {".5s", 500ms},
                                         {"0s", 0ns}}) {
    Status s = ParseCompactionRetention(CompactionMode::kPeriodic, c.in, &period, &revisions);
    ASSERT_TRUE(s.ok()) << c.in << ": " << s.ToString();
    EXPECT_EQ(period, c.want) << c.in;
    EXPECT_EQ(revisions, 0) << c.in;
  }
}

TEST(CompactionRetentionTest, Revision) {
  std::chrono::nanoseconds period;
  int64_t revisions = 0;
  ASSERT_TRUE(ParseCompactionRetention(CompactionMode::kRevision, "100", &period, &revisions).ok());
  EXPECT_EQ(revisions, 100);
  EXPECT_EQ(period, 0ns);
  ASSERT_TRUE(ParseCompactionRetention(CompactionMode::kRevision, "0", &period, &revisions).ok());
  EXPECT_EQ(revisions, 0);
  EXPECT_FALSE(ParseCompactionRetention(CompactionMode::kRevision, "1h", &period, &revisions).ok());
}

TEST(CompactionRetentionTest, Errors) {
  std::chrono::nanoseconds period;
  int64_t revisions;
  struct Case {
    const char* in;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"bogus", "error parsing CompactionRetention: time: invalid duration \"bogus\""},
           {"-1", "error parsing CompactionRetention: time: missing unit in duration \"-1\""},
           {"1.5", "error parsing CompactionRetention: time: missing unit in duration \"1.5\""},
           {"1d", "error parsing CompactionRetention: time: unknown unit \"d\" in duration \"1d\""},
           // Go takes everything up to the next digit or '.' as the unit.
           {"1h-",
            "error parsing CompactionRetention: time: unknown unit \"h-\" in duration "
            "\"1h-\""},
           {"1h.", "error parsing CompactionRetention: time: invalid duration \"1h.\""},
           {"-1h", "error parsing CompactionRetention: negative retention \"-1h\""},
       }) {
    Status s = ParseCompactionRetention(CompactionMode::kPeriodic, c.in, &period, &revisions);
    EXPECT_EQ(s.message(), c.message) << c.in;
  }
}

TEST(CompactionRetentionTest, ThroughFlags) {
  Result r = Parse({"--auto-compaction-retention", "1"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.config.auto_compaction_period, 1h);

  r = Parse({"--auto-compaction-retention", "bogus"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.status.message(),
            "error parsing CompactionRetention: time: invalid duration \"bogus\"");

  r = Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "5000"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.config.auto_compaction_revisions, 5000);
}

TEST(GoDurationTest, Parse) {
  std::chrono::nanoseconds d;
  ASSERT_TRUE(ParseGoDuration("-1.5h", &d).ok());
  EXPECT_EQ(d, -90min);
  ASSERT_TRUE(ParseGoDuration("1h1m1s1ms1us1ns", &d).ok());
  EXPECT_EQ(d, 1h + 1min + 1s + 1ms + 1us + 1ns);
  ASSERT_TRUE(ParseGoDuration("2562047h", &d).ok());
  EXPECT_EQ(ParseGoDuration("2562048h", &d).message(), "time: invalid duration \"2562048h\"");
  EXPECT_EQ(ParseGoDuration("", &d).message(), "time: invalid duration \"\"");
  EXPECT_EQ(ParseGoDuration(".", &d).message(), "time: invalid duration \".\"");
  EXPECT_EQ(ParseGoDuration("1\xff", &d).message(),
            "time: unknown unit \"\\xff\" in duration \"1\\xff\"");
}

TEST(ExitCodeTest, Mapping) {
  EXPECT_EQ(ExitCodeForConfigError(Status::OK()), 0);
  EXPECT_EQ(ExitCodeForConfigError(Status::InvalidArgument("x")), 2);
  EXPECT_EQ(ExitCodeForConfigError(Status::FailedPrecondition("x")), 1);
}

}  // namespace
}  // namespace capstan
