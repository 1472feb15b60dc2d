#include "api/server_config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <set>

#include "api/version.h"
#include "storage/go_quote.h"

namespace capstan {

namespace {

constexpr std::string_view kBinary = "capstan";

// ---------------------------------------------------------------------------
// Go formatting. Error texts quote values the way Go's %q does, so messages
// read exactly like etcd's.

// The time package's own quote(): every non-ASCII or control byte as \xNN.
std::string DurationQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c >= 0x80 || c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

// %q of a []string: ["a" "b"].
std::string GoQuoteList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ' ';
    out += GoQuote(v[i]);
  }
  return out + "]";
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += sep;
    out += v[i];
  }
  return out;
}

std::vector<std::string> UrlStrings(const std::vector<Url>& urls) {
  std::vector<std::string> out;
  out.reserve(urls.size());
  for (const Url& u : urls) out.push_back(u.ToString());
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// ---------------------------------------------------------------------------
// Go number and bool parsing (strconv with base 0, as the flag package uses):
// "0x10", "0o17", "0b11", "017" (octal!) and "1_000" are all valid, "08" is
// not. Reproducing this keeps flags that etcd accepts accepted and vice versa.

enum class NumResult { kOk, kSyntax, kRange };

// strconv's underscoreOK: underscores only between digits / after a prefix.
bool UnderscoreOk(std::string_view s) {
  char saw = '^';
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (Lower(s[1]) == 'b' || Lower(s[1]) == 'o' || Lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = Lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    if (IsDigit(s[i]) || (hex && Lower(s[i]) >= 'a' && Lower(s[i]) <= 'f')) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

// strconv.ParseUint(s, 0, 64).
NumResult ParseGoUint(std::string_view s0, uint64_t* out) {
  if (s0.empty()) return NumResult::kSyntax;
  std::string_view s = s0;
  int base = 10;
  if (s[0] == '0') {
    if (s.size() >= 3 && Lower(s[1]) == 'b') {
      base = 2;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'o') {
      base = 8;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'x') {
      base = 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  const uint64_t cutoff = std::numeric_limits<uint64_t>::max() / base + 1;
  uint64_t n = 0;
  bool underscores = false;
  for (char c : s) {
    int d;
    if (c == '_') {
      underscores = true;
      continue;
    } else if (IsDigit(c)) {
      d = c - '0';
    } else if (Lower(c) >= 'a' && Lower(c) <= 'z') {
      d = Lower(c) - 'a' + 10;
    } else {
      return NumResult::kSyntax;
    }
    if (d >= base) return NumResult::kSyntax;
    if (n >= cutoff) return NumResult::kRange;
    n *= base;
    const uint64_t n1 = n + static_cast<uint64_t>(d);
    if (n1 < n) return NumResult::kRange;
    n = n1;
  }
  if (underscores && !UnderscoreOk(s0)) return NumResult::kSyntax;
  *out = n;
  return NumResult::kOk;
}

// strconv.ParseInt(s, 0, 64).
NumResult ParseGoInt(std::string_view s, int64_t* out) {
  if (s.empty()) return NumResult::kSyntax;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  uint64_t un = 0;
  NumResult r = ParseGoUint(s, &un);
  if (r == NumResult::kSyntax) return r;
  constexpr uint64_t kCutoff = uint64_t{1} << 63;
  if (r == NumResult::kRange || (!neg && un >= kCutoff) || (neg && un > kCutoff)) {
    return NumResult::kRange;
  }
  *out = neg ? static_cast<int64_t>(0 - un) : static_cast<int64_t>(un);
  return NumResult::kOk;
}

// strconv.Atoi: base 10, optional sign, nothing else.
bool GoAtoi(std::string_view s, int64_t* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  uint64_t n = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    if (n > (uint64_t{1} << 63) / 10) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if ((!neg && n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
      (neg && n > (uint64_t{1} << 63))) {
    return false;
  }
  *out = neg ? static_cast<int64_t>(0 - n) : static_cast<int64_t>(n);
  return true;
}

// strconv.ParseBool.
bool ParseGoBool(std::string_view s, bool* out) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (std::string_view t : kTrue) {
    if (s == t) return *out = true, true;
  }
  for (std::string_view f : kFalse) {
    if (s == f) return *out = false, true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// URLs: Go's net/url.Parse (the subset an http/unix listen URL can hit) plus
// net.SplitHostPort, so the same strings are accepted and rejected as in
// etcd.

// url.URL fields etcd looks at.
struct GoUrl {
  std::string scheme;
  std::string host;  // still "host:port", brackets kept
  std::string path;
};

// shouldEscape(c, encodeHost) for ASCII: which characters url.Parse refuses
// in a host name.
bool IsBadHostChar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return false;
  static constexpr std::string_view kOk = "-_.~!$&'()*+,;=:[]<>\"";
  return kOk.find(c) == std::string_view::npos;
}

bool ValidOptionalPort(std::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  return std::all_of(port.begin() + 1, port.end(), IsDigit);
}

Status ParseGoHost(std::string_view host, std::string* out) {
  if (!host.empty() && host[0] == '[') {
    const size_t i = host.rfind(']');
    if (i == std::string_view::npos) return Status::InvalidArgument("missing ']' in host");
    std::string_view colon_port = host.substr(i + 1);
    if (!ValidOptionalPort(colon_port)) {
      return Status::InvalidArgument("invalid port " + GoQuote(colon_port) + " after host");
    }
  } else if (const size_t i = host.rfind(':'); i != std::string_view::npos) {
    std::string_view colon_port = host.substr(i);
    if (!ValidOptionalPort(colon_port)) {
      return Status::InvalidArgument("invalid port " + GoQuote(colon_port) + " after host");
    }
  }
  for (char c : host) {
    // Go would percent-decode; a percent-encoded listen address is not
    // something anyone writes, so it is simply refused.
    if (static_cast<unsigned char>(c) < 0x80 && IsBadHostChar(c)) {
      return Status::InvalidArgument("invalid character " + GoQuote(std::string_view(&c, 1)) +
                                     " in host name");
    }
  }
  *out = std::string(host);
  return Status::OK();
}

Status ParseGoUrl(std::string_view raw, GoUrl* u) {
  *u = GoUrl();
  raw = raw.substr(0, raw.find('#'));
  for (char c : raw) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("net/url: invalid control character in URL");
    }
  }
  if (raw.empty()) return Status::OK();
  if (raw == "*") {
    u->path = "*";
    return Status::OK();
  }
  // getScheme: [a-zA-Z][a-zA-Z0-9+-.]* followed by ':'.
  std::string_view rest = raw;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (IsAlpha(c)) continue;
    if (IsDigit(c) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return Status::InvalidArgument("missing protocol scheme");
      u->scheme = std::string(raw.substr(0, i));
      std::transform(u->scheme.begin(), u->scheme.end(), u->scheme.begin(), Lower);
      rest = raw.substr(i + 1);
    }
    break;
  }
  if (!rest.empty() && rest.back() == '?' && std::count(rest.begin(), rest.end(), '?') == 1) {
    rest.remove_suffix(1);
  } else {
    rest = rest.substr(0, rest.find('?'));
  }
  if (rest.empty() || rest[0] != '/') {
    if (!u->scheme.empty()) return Status::OK();  // opaque ("http:x"): no host
    if (rest.substr(0, rest.find('/')).find(':') != std::string_view::npos) {
      return Status::InvalidArgument("first path segment in URL cannot contain colon");
    }
  }
  if ((!u->scheme.empty() || !rest.starts_with("///")) && rest.starts_with("//")) {
    std::string_view authority = rest.substr(2);
    const size_t slash = authority.find('/');
    rest = slash == std::string_view::npos ? std::string_view() : authority.substr(slash);
    authority = authority.substr(0, slash);
    // User info is accepted (as by Go) and dropped.
    if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
      authority = authority.substr(at + 1);
    }
    Status s = ParseGoHost(authority, &u->host);
    if (!s.ok()) return s;
  }
  u->path = std::string(rest);
  return Status::OK();
}

// net.SplitHostPort.
bool SplitHostPort(std::string_view hostport, std::string_view* host, std::string_view* port) {
  const size_t i = hostport.rfind(':');
  if (i == std::string_view::npos) return false;
  size_t j = 0, k = 0;
  if (hostport[0] == '[') {
    const size_t end = hostport.find(']');
    if (end == std::string_view::npos || end + 1 != i) return false;
    *host = hostport.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    *host = hostport.substr(0, i);
    if (host->find(':') != std::string_view::npos) return false;
  }
  if (hostport.substr(j).find('[') != std::string_view::npos) return false;
  if (hostport.substr(k).find(']') != std::string_view::npos) return false;
  *port = hostport.substr(i + 1);
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

std::string_view SchemeName(Url::Scheme scheme) {
  switch (scheme) {
    case Url::Scheme::kHttp:
      return "http";
    case Url::Scheme::kHttps:
      return "https";
    case Url::Scheme::kUnix:
      return "unix";
    case Url::Scheme::kUnixs:
      return "unixs";
  }
  return "http";
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void SortUrls(std::vector<Url>* urls) {
  std::stable_sort(urls->begin(), urls->end(),
                   [](const Url& a, const Url& b) { return a.ToString() < b.ToString(); });
}

// etcd's netutil resolution before comparing advertised and configured peer
// URLs: DNS names become addresses (IPv4 preferred, like Go's resolver);
// IP literals, "localhost" and unix sockets are compared as written.
Status ResolveUrl(const Url& url, Url* out) {
  *out = url;
  if (url.IsUnix() || url.host == "localhost" || IsIpLiteral(url.host)) return Status::OK();
  struct FreeAddrInfo {
    void operator()(addrinfo* p) const { freeaddrinfo(p); }
  };
  std::unique_ptr<addrinfo, FreeAddrInfo> result;
  int rc = EAI_FAIL;
  for (int family : {AF_INET, AF_UNSPEC}) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &res);
    if (rc == 0) {
      result.reset(res);
      break;
    }
  }
  if (rc != 0 || result == nullptr) {
    return Status::Unavailable("failed to resolve " + GoQuote(url.ToString()) + ": " +
                               gai_strerror(rc));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  const void* addr =
      result->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(result->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr);
  if (inet_ntop(result->ai_family, addr, buf, sizeof(buf)) == nullptr) {
    return Status::Unavailable("failed to resolve " + GoQuote(url.ToString()));
  }
  out->host = buf;
  return Status::OK();
}

// netutil.URLStringsEqual: OK when both lists name the same endpoints after
// resolution, else the reason in etcd's words.
Status UrlsEqual(const std::vector<Url>& a, const std::vector<Url>& b) {
  if (a.size() != b.size()) {
    return Status::InvalidArgument("len(" + GoQuoteList(UrlStrings(a)) + ") != len(" +
                                   GoQuoteList(UrlStrings(b)) + ")");
  }
  std::vector<Url> ra(a.size()), rb(b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    Status s = ResolveUrl(a[i], &ra[i]);
    if (s.ok()) s = ResolveUrl(b[i], &rb[i]);
    if (!s.ok()) return s;
  }
  SortUrls(&ra);
  SortUrls(&rb);
  for (size_t i = 0; i < ra.size(); ++i) {
    if (ra[i].ToString() != rb[i].ToString()) {
      return Status::InvalidArgument("resolved urls: " + GoQuote(ra[i].ToString()) +
                                     " != " + GoQuote(rb[i].ToString()));
    }
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Flags.

constexpr std::string_view kLogLevels[] = {"debug",  "info",  "warn", "error",
                                           "dpanic", "panic", "fatal"};

// Raw values that etcd validates only after all flags and variables are in
// (so an invalid one yields etcd's "error verifying flags" and exit 1, not
// a usage error).
struct ParseState {
  ServerConfig* cfg;
  std::string auto_compaction_mode = "periodic";
  bool print_version = false;
};

using Setter = Status (*)(ParseState&, std::string_view);

struct FlagDef {
  std::string_view name;
  bool is_bool;
  std::string_view section;  // empty: not listed in --help
  std::string_view default_text;
  std::string_view usage;
  Setter set;
};

// The errors Go's flag values return; they end up after "invalid value ...:".
Status ParseError() { return Status::InvalidArgument("parse error"); }

Status SetUint(uint64_t* out, std::string_view v) {
  switch (ParseGoUint(v, out)) {
    case NumResult::kOk:
      return Status::OK();
    case NumResult::kSyntax:
      return ParseError();
    case NumResult::kRange:
      return Status::InvalidArgument("value out of range");
  }
  return ParseError();
}

Status SetInt(int64_t* out, std::string_view v) {
  switch (ParseGoInt(v, out)) {
    case NumResult::kOk:
      return Status::OK();
    case NumResult::kSyntax:
      return ParseError();
    case NumResult::kRange:
      return Status::InvalidArgument("value out of range");
  }
  return ParseError();
}

Status SetBool(bool* out, std::string_view v) {
  return ParseGoBool(v, out) ? Status::OK() : ParseError();
}

Status SetDuration(std::chrono::nanoseconds* out, std::string_view v) {
  return ParseGoDuration(v, out).ok() ? Status::OK() : ParseError();
}

Status SetString(std::string* out, std::string_view v) {
  *out = std::string(v);
  return Status::OK();
}

// etcd's URL flags treat an empty value as "keep the default" (they allow ""
// as an exception), so `--listen-client-urls=` only marks the flag as set.
Status SetUrls(std::vector<Url>* out, std::string_view v) {
  if (v.empty()) return Status::OK();
  std::vector<Url> urls;
  Status s = ParseUrlList(v, &urls);
  if (s.ok()) *out = std::move(urls);
  return s;
}

// flags.UniqueStringsValue: comma-separated, de-duplicated, sorted; empty
// items are kept (and later rejected or used as etcd would).
Status SetUniqueStrings(std::vector<std::string>* out, std::string_view v) {
  std::set<std::string> items;
  while (true) {
    const size_t comma = v.find(',');
    items.emplace(v.substr(0, comma));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  out->assign(items.begin(), items.end());
  return Status::OK();
}

constexpr char kMember[] = "Member";
constexpr char kClustering[] = "Clustering";
constexpr char kProfiling[] = "Profiling and Monitoring";
constexpr char kLogging[] = "Logging";
constexpr char kExperimental[] = "Experimental feature (accepted for compatibility, no effect yet)";
constexpr char kCapstan[] = "Capstan";
constexpr char kSecurity[] = "Security";

// In --help order. Help texts are etcd's, so `--help` reads like etcd's.
const FlagDef kFlags[] = {
    {"name", false, kMember, "default", "Human-readable name for this member.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->name, v); }},
    {"data-dir", false, kMember, "${name}.etcd", "Path to the data directory.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->data_dir, v); }},
    {"wal-dir", false, kMember, "", "Path to the dedicated wal directory.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->wal_dir, v); }},
    {"snapshot-count", false, kMember, "100000",
     "Number of committed transactions to trigger a snapshot to disk.",
     [](ParseState& s, std::string_view v) { return SetUint(&s.cfg->snapshot_count, v); }},
    {"heartbeat-interval", false, kMember, "100", "Time (in milliseconds) of a heartbeat interval.",
     [](ParseState& s, std::string_view v) { return SetUint(&s.cfg->heartbeat_interval_ms, v); }},
    {"election-timeout", false, kMember, "1000",
     "Time (in milliseconds) for an election to timeout. See tuning documentation for details.",
     [](ParseState& s, std::string_view v) { return SetUint(&s.cfg->election_timeout_ms, v); }},
    {"listen-peer-urls", false, kMember, "http://localhost:2380",
     "List of URLs to listen on for peer traffic.",
     [](ParseState& s, std::string_view v) { return SetUrls(&s.cfg->listen_peer_urls, v); }},
    {"listen-client-urls", false, kMember, "http://localhost:2379",
     "List of URLs to listen on for client traffic.",
     [](ParseState& s, std::string_view v) { return SetUrls(&s.cfg->listen_client_urls, v); }},
    {"quota-backend-bytes", false, kMember, "0",
     "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota, "
     "2 GiB; negative disables the quota).",
     [](ParseState& s, std::string_view v) { return SetInt(&s.cfg->quota_backend_bytes, v); }},
    {"max-txn-ops", false, kMember, "128",
     "Maximum number of operations permitted in a transaction.",
     [](ParseState& s, std::string_view v) { return SetUint(&s.cfg->max_txn_ops, v); }},
    {"max-request-bytes", false, kMember, "1572864",
     "Maximum client request size in bytes the server will accept.",
     [](ParseState& s, std::string_view v) { return SetUint(&s.cfg->max_request_bytes, v); }},

    {"initial-advertise-peer-urls", false, kClustering, "http://localhost:2380",
     "List of this member's peer URLs to advertise to the rest of the cluster.",
     [](ParseState& s, std::string_view v) {
       return SetUrls(&s.cfg->initial_advertise_peer_urls, v);
     }},
    {"initial-cluster", false, kClustering, kDefaultInitialCluster,
     "Initial cluster configuration for bootstrapping.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->initial_cluster, v); }},
    {"initial-cluster-state", false, kClustering, "new",
     "Initial cluster state ('new' or 'existing').",
     [](ParseState& s, std::string_view v) {
       if (v == "new") {
         s.cfg->initial_cluster_state = ClusterState::kNew;
       } else if (v == "existing") {
         s.cfg->initial_cluster_state = ClusterState::kExisting;
       } else {
         return Status::InvalidArgument("invalid value");  // flags.SelectiveStringValue
       }
       return Status::OK();
     }},
    {"initial-cluster-token", false, kClustering, "etcd-cluster",
     "Initial cluster token for the etcd cluster during bootstrap.\n"
     "Specifying this can protect you from unintended cross-cluster interaction when running "
     "multiple clusters.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->initial_cluster_token, v); }},
    {"advertise-client-urls", false, kClustering, "http://localhost:2379",
     "List of this member's client URLs to advertise to the public.\n"
     "The client URLs advertised should be accessible to machines that talk to etcd cluster. "
     "etcd client libraries parse these URLs to connect to the cluster.",
     [](ParseState& s, std::string_view v) { return SetUrls(&s.cfg->advertise_client_urls, v); }},
    {"auto-compaction-retention", false, kClustering, "0",
     "Auto compaction retention length. 0 means disable auto compaction.",
     [](ParseState& s, std::string_view v) {
       return SetString(&s.cfg->auto_compaction_retention, v);
     }},
    {"auto-compaction-mode", false, kClustering, "periodic",
     "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration "
     "based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' "
     "for revision number based retention.",
     [](ParseState& s, std::string_view v) { return SetString(&s.auto_compaction_mode, v); }},

    {"enable-pprof", true, kProfiling, "false",
     "Enable runtime profiling data via HTTP server. Accepted for compatibility; Capstan "
     "serves no pprof endpoint.",
     [](ParseState& s, std::string_view v) { return SetBool(&s.cfg->enable_pprof, v); }},
    {"listen-metrics-urls", false, kProfiling, "",
     "List of URLs to listen on for the metrics and health endpoints.",
     [](ParseState& s, std::string_view v) { return SetUrls(&s.cfg->listen_metrics_urls, v); }},

    {"logger", false, kLogging, "zap", "Specify 'zap' for structured logging or 'capnslog'.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->logger, v); }},
    {"log-outputs", false, kLogging, "default",
     "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or "
     "list of comma separated output targets.",
     [](ParseState& s, std::string_view v) { return SetUniqueStrings(&s.cfg->log_outputs, v); }},
    {"log-level", false, kLogging, "info",
     "Configures log level. Only supports debug, info, warn, error, panic, or fatal.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->log_level, v); }},

    {"experimental-initial-corrupt-check", true, kExperimental, "false",
     "Enable to check data corruption before serving any client/peer traffic.",
     [](ParseState& s, std::string_view v) {
       return SetBool(&s.cfg->experimental_initial_corrupt_check, v);
     }},
    {"experimental-corrupt-check-time", false, kExperimental, "0s",
     "Duration of time between cluster corruption check passes.",
     [](ParseState& s, std::string_view v) {
       return SetDuration(&s.cfg->experimental_corrupt_check_time, v);
     }},
    {"experimental-compact-hash-check-enabled", true, kExperimental, "false",
     "Enable leader to periodically check followers compaction hashes.",
     [](ParseState& s, std::string_view v) {
       return SetBool(&s.cfg->experimental_compact_hash_check_enabled, v);
     }},
    {"experimental-snapshot-catchup-entries", false, kExperimental, "5000",
     "Number of entries for a slow follower to catch up after compacting the raft storage entries.",
     [](ParseState& s, std::string_view v) {
       return SetUint(&s.cfg->experimental_snapshot_catchup_entries, v);
     }},
    {"experimental-watch-progress-notify-interval", false, kExperimental, "10m",
     "Duration of periodical watch progress notification.",
     [](ParseState& s, std::string_view v) {
       return SetDuration(&s.cfg->experimental_watch_progress_notify_interval, v);
     }},

    {"cert-file", false, kSecurity, "", "Path to the client server TLS cert file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->client_tls.cert_file, v); }},
    {"key-file", false, kSecurity, "", "Path to the client server TLS key file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->client_tls.key_file, v); }},
    {"client-cert-auth", true, kSecurity, "false", "Enable client cert authentication.",
     [](ParseState& s, std::string_view v) {
       return SetBool(&s.cfg->client_tls.client_cert_auth, v);
     }},
    {"trusted-ca-file", false, kSecurity, "", "Path to the client server TLS trusted CA file.",
     [](ParseState& s, std::string_view v) {
       return SetString(&s.cfg->client_tls.trusted_ca_file, v);
     }},
    {"peer-cert-file", false, kSecurity, "", "Path to the peer server TLS cert file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->peer_tls.cert_file, v); }},
    {"peer-key-file", false, kSecurity, "", "Path to the peer server TLS key file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->peer_tls.key_file, v); }},
    {"peer-client-cert-auth", true, kSecurity, "false", "Enable peer client cert authentication.",
     [](ParseState& s, std::string_view v) {
       return SetBool(&s.cfg->peer_tls.client_cert_auth, v);
     }},
    {"peer-trusted-ca-file", false, kSecurity, "", "Path to the peer server TLS trusted CA file.",
     [](ParseState& s, std::string_view v) {
       return SetString(&s.cfg->peer_tls.trusted_ca_file, v);
     }},

    {"kube-apiserver-url", false, kCapstan, "",
     "Serve the Kubernetes API (kube-adapter) on this https URL, e.g. https://127.0.0.1:6443.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->kube_apiserver_url, v); }},
    {"kube-cert-file", false, kCapstan, "", "Path to the kube adapter's TLS cert file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->kube_cert_file, v); }},
    {"kube-key-file", false, kCapstan, "", "Path to the kube adapter's TLS key file.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->kube_key_file, v); }},
    {"lease-revoke-rate", false, kCapstan, "1000",
     "Maximum number of expired leases revoked per second.",
     [](ParseState& s, std::string_view v) { return SetInt(&s.cfg->lease_revoke_rate, v); }},
    {"initial-snapshot", false, kCapstan, "",
     "Path to an etcd snapshot (from 'etcdctl snapshot save') to start a new member from, "
     "keeping its revisions, leases and compaction point. Ignored once the data dir holds data. "
     "An etcd data dir given as --data-dir is imported without it.",
     [](ParseState& s, std::string_view v) { return SetString(&s.cfg->initial_snapshot, v); }},

    // Listed under "Usage:" rather than with the other flags, as in etcd.
    {"version", true, "", "false", "Print the version and exit.",
     [](ParseState& s, std::string_view v) { return SetBool(&s.print_version, v); }},
};

const FlagDef* FindFlag(std::string_view name) {
  for (const FlagDef& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// flags.FlagToEnv: "listen-client-urls" -> "ETCD_LISTEN_CLIENT_URLS".
std::string FlagToEnv(std::string_view name) {
  std::string env = "ETCD_";
  for (char c : name) {
    env += c == '-' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return env;
}

// What Go's flag package prints after a command-line error (etcd's usageline).
constexpr char kUsageLine[] =
    "Usage:\n\n"
    "  capstan [flags]\n"
    "    Start a Capstan server (an etcd v3 API compatible key-value store).\n\n"
    "  capstan --version\n"
    "    Show the version of Capstan.\n\n"
    "  capstan -h | --help\n"
    "    Show the help information about Capstan.\n";

std::string HelpText() {
  std::string out = kUsageLine;
  std::string_view section;
  for (const FlagDef& f : kFlags) {
    if (f.section.empty()) continue;
    if (f.section != section) {
      section = f.section;
      out += "\n" + std::string(section) + ":\n";
    }
    out += "  --" + std::string(f.name) + " '" + std::string(f.default_text) + "'\n";
    std::string_view usage = f.usage;
    while (!usage.empty()) {
      const size_t nl = usage.find('\n');
      out += "    " + std::string(usage.substr(0, nl)) + "\n";
      usage = nl == std::string_view::npos ? std::string_view() : usage.substr(nl + 1);
    }
  }
  return out;
}

std::string VersionText() {
#ifdef CAPSTAN_GIT_SHA
  const char* sha = CAPSTAN_GIT_SHA;
#else
  const char* sha = "Not provided";
#endif
#if defined(__linux__)
  const char* os = "linux";
#elif defined(__APPLE__)
  const char* os = "darwin";
#else
  const char* os = "unknown";
#endif
#if defined(__x86_64__)
  const char* arch = "amd64";
#elif defined(__aarch64__)
  const char* arch = "arm64";
#else
  const char* arch = "unknown";
#endif
  return std::string("capstan Version: ") + kCapstanVersion + "\n" +
         "etcd Version: " + kEtcdCompatVersion + "\n" + "etcd API Version: " + kEtcdApiVersion +
         "\n" + "Git SHA: " + sha + "\n" + "Go Version: n/a\n" + "Go OS/Arch: " + os + "/" + arch +
         "\n";
}

// Go flag-package errors: exit 2, followed by the usage text.
Status UsageError(const std::string& message) {
  std::string usage = kUsageLine;
  while (!usage.empty() && usage.back() == '\n') usage.pop_back();
  return Status::InvalidArgument(message + "\n" + usage);
}

// etcdmain's "error verifying flags": exit 1.
Status VerifyError(const std::string& message) {
  return Status::FailedPrecondition("error verifying flags, " + message + ". See '" +
                                    std::string(kBinary) + " --help'.");
}

// Any other fatal start-up error: exit 1, message as is.
Status Fatal(const std::string& message) { return Status::FailedPrecondition(message); }

// embed.Config.setupLogging's checks, in its order.
Status ValidateLogging(const ServerConfig& cfg) {
  const std::vector<std::string>& outputs = cfg.log_outputs;
  if (outputs.size() > 1 && std::find(outputs.begin(), outputs.end(), "default") != outputs.end()) {
    return Status::InvalidArgument("multi logoutput for \"default\" is not supported yet");
  }
  if (cfg.logger != "zap" && cfg.logger != "capnslog") {
    return Status::InvalidArgument("unknown logger option " + GoQuote(cfg.logger));
  }
  // etcd panics here; an error is kinder and exits just the same.
  if (std::find(std::begin(kLogLevels), std::end(kLogLevels), cfg.log_level) ==
      std::end(kLogLevels)) {
    return Status::InvalidArgument("unknown log-level " + GoQuote(cfg.log_level) +
                                   " (only supports debug, info, warn, error, panic, or fatal)");
  }
  if (cfg.logger == "capnslog") {
    if (outputs.size() > 1) {
      return Status::InvalidArgument(
          "--logger=capnslog supports only 1 value in '--log-outputs', got " +
          GoQuoteList(outputs));
    }
    const std::string& out = outputs.empty() ? std::string("default") : outputs[0];
    if (out != "default" && out != "stderr" && out != "stdout") {
      return Status::InvalidArgument("unknown log-output " + GoQuote(out) +
                                     " (only supports \"default\", \"stderr\", \"stdout\")");
    }
  } else {
    for (const std::string& out : outputs) {
      if (out.empty()) return Status::InvalidArgument("unknown log-output \"\"");
    }
  }
  return Status::OK();
}

// checkBindURLs: a listener needs an IP (or "localhost"), not a DNS name.
Status CheckBindUrls(const std::vector<Url>& urls) {
  for (const Url& u : urls) {
    if (u.IsUnix() || u.host == "localhost") continue;
    if (!IsIpLiteral(u.host)) {
      return Status::InvalidArgument("expected IP in URL for binding (" + u.ToString() + ")");
    }
  }
  return Status::OK();
}

// checkHostURLs, wrapped the way embed.Config.Validate reports it.
Status CheckHostUrls(std::string_view flag, const std::vector<Url>& urls) {
  for (const Url& u : urls) {
    if (u.host.empty()) {
      return Status::InvalidArgument(
          "--" + std::string(flag) + " " + GoQuote(Join(UrlStrings(urls), ",")) +
          " must be \"host:port\" (unexpected empty host (" + u.ToString() + "))");
    }
  }
  return Status::OK();
}

// embed.Config.Validate, in its order (the first failure is what etcd
// reports).
Status Validate(const ParseState& st) {
  const ServerConfig& cfg = *st.cfg;
  Status s = ValidateLogging(cfg);
  if (s.ok()) s = CheckBindUrls(cfg.listen_peer_urls);
  if (s.ok()) s = CheckBindUrls(cfg.listen_client_urls);
  if (s.ok()) s = CheckBindUrls(cfg.listen_metrics_urls);
  if (s.ok()) s = CheckHostUrls("initial-advertise-peer-urls", cfg.initial_advertise_peer_urls);
  if (s.ok()) s = CheckHostUrls("advertise-client-urls", cfg.advertise_client_urls);
  if (!s.ok()) return VerifyError(s.message());

  if (cfg.heartbeat_interval_ms == 0) {
    return VerifyError("--heartbeat-interval must be >0 (set to 0ms)");
  }
  if (cfg.election_timeout_ms == 0) {
    return VerifyError("--election-timeout must be >0 (set to 0ms)");
  }
  const std::string tick = std::to_string(cfg.heartbeat_interval_ms);
  const std::string election = std::to_string(cfg.election_timeout_ms);
  // 5 * tick > election, without overflowing.
  if (cfg.heartbeat_interval_ms > cfg.election_timeout_ms / 5) {
    return VerifyError("--election-timeout[" + election +
                       "ms] should be at least as 5 times as --heartbeat-interval[" + tick + "ms]");
  }
  if (cfg.election_timeout_ms > 50000) {
    return VerifyError("--election-timeout[" + election +
                       "ms] is too long, and should be set less than 50000ms");
  }
  if (!cfg.listen_client_urls.empty() && cfg.advertise_client_urls.empty()) {
    // etcd logs the second sentence as a separate error line.
    return Fatal(
        VerifyError(
            "--advertise-client-urls is required when --listen-client-urls is set explicitly")
            .message() +
        "\nWhen listening on specific address(es), this " + std::string(kBinary) +
        " process must advertise accessible url(s) to each connected client.");
  }
  if (st.auto_compaction_mode != "periodic" && st.auto_compaction_mode != "revision") {
    return VerifyError("unknown auto-compaction-mode " + GoQuote(st.auto_compaction_mode));
  }
  for (const Url& u : cfg.listen_client_urls) {
    if (u.IsTls() && (cfg.client_tls.cert_file.empty() || cfg.client_tls.key_file.empty())) {
      return Fatal("TLS key/cert (--cert-file, --key-file) must be provided for client url " +
                   u.ToString() + " with HTTPS scheme");
    }
  }
  for (const Url& u : cfg.listen_peer_urls) {
    if (u.IsTls() && (cfg.peer_tls.cert_file.empty() || cfg.peer_tls.key_file.empty())) {
      return Fatal(
          "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer "
          "url " +
          u.ToString() + " with HTTPS scheme");
    }
  }
  if (cfg.lease_revoke_rate <= 0) {
    return VerifyError("--lease-revoke-rate must be >0 (set to " +
                       std::to_string(cfg.lease_revoke_rate) + ")");
  }
  return Status::OK();
}

// etcdserver.ServerConfig.advertiseMatchesCluster.
Status AdvertiseMatchesCluster(const ServerConfig& cfg) {
  std::vector<Url> cluster = cfg.initial_cluster_members.at(cfg.name);
  std::vector<Url> advertised = cfg.initial_advertise_peer_urls;
  SortUrls(&cluster);
  SortUrls(&advertised);
  Status eq = UrlsEqual(advertised, cluster);
  if (eq.ok()) return eq;

  const std::vector<std::string> ap = UrlStrings(advertised);
  const std::vector<std::string> init = UrlStrings(cluster);
  const std::set<std::string> ap_set(ap.begin(), ap.end());
  const std::set<std::string> init_set(init.begin(), init.end());
  std::vector<std::string> missing;
  for (const std::string& u : init_set) {
    if (!ap_set.count(u)) missing.push_back(cfg.name + "=" + u);
  }
  if (!missing.empty()) {
    return Fatal("--initial-cluster has " + Join(missing, ",") +
                 " but missing from --initial-advertise-peer-urls=" + Join(ap, ",") + " (" +
                 eq.message() + ")");
  }
  InitialCluster own;
  own[cfg.name] = cluster;
  for (const std::string& u : ap_set) {
    if (!init_set.count(u)) missing.push_back(u);
  }
  if (!missing.empty()) {
    return Fatal("--initial-advertise-peer-urls has " + Join(missing, ",") +
                 " but missing from --initial-cluster=" + InitialClusterToString(own));
  }
  return Fatal("failed to resolve " + Join(ap, ",") + " to match --initial-cluster=" +
               InitialClusterToString(own) + " (" + eq.message() + ")");
}

// etcdserver's VerifyBootstrap (new cluster) / VerifyJoinExisting.
Status VerifyInitialCluster(const ServerConfig& cfg) {
  if (!cfg.initial_cluster_members.count(cfg.name)) {
    return Fatal("couldn't find local name " + GoQuote(cfg.name) +
                 " in the initial cluster configuration");
  }
  if (cfg.initial_cluster_state == ClusterState::kNew) {
    Status s = AdvertiseMatchesCluster(cfg);
    if (!s.ok()) return s;
  }
  std::set<std::string> seen;
  for (const auto& [name, urls] : cfg.initial_cluster_members) {
    for (const Url& u : urls) {
      if (!seen.insert(u.ToString()).second) {
        return Fatal("initial cluster " + InitialClusterToString(cfg.initial_cluster_members) +
                     " has duplicate url");
      }
    }
  }
  return Status::OK();
}

}  // namespace

// ---------------------------------------------------------------------------

std::string Url::HostPort() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::GrpcListenAddress() const { return IsUnix() ? "unix:" + HostPort() : HostPort(); }

std::string Url::ToString() const { return std::string(SchemeName(scheme)) + "://" + HostPort(); }

Status ParseUrl(std::string_view text, Url* url) {
  const std::string_view in = TrimSpace(text);
  const std::string in_text(in);
  GoUrl u;
  Status s = ParseGoUrl(in, &u);
  if (!s.ok()) return Status::InvalidArgument("parse " + GoQuote(in) + ": " + s.message());

  Url out;
  if (u.scheme == "http") {
    out.scheme = Url::Scheme::kHttp;
  } else if (u.scheme == "https") {
    out.scheme = Url::Scheme::kHttps;
  } else if (u.scheme == "unix") {
    out.scheme = Url::Scheme::kUnix;
  } else if (u.scheme == "unixs") {
    out.scheme = Url::Scheme::kUnixs;
  } else {
    return Status::InvalidArgument("URL scheme must be http, https, unix, or unixs: " + in_text);
  }
  std::string_view host, port;
  // Go accepts an empty port ("http://h:"); a listener on it is never what
  // was meant, so it is refused here with the same message.
  if (!SplitHostPort(u.host, &host, &port) || port.empty()) {
    return Status::InvalidArgument("URL address does not have the form \"host:port\": " + in_text);
  }
  if (!u.path.empty()) return Status::InvalidArgument("URL must not contain a path: " + in_text);
  uint64_t port_number = 0;
  for (char c : port) {
    port_number = port_number * 10 + static_cast<uint64_t>(c - '0');
    if (port_number > 65535) {
      // etcd only finds out when it listens ("address 99999: invalid port").
      return Status::InvalidArgument("URL port " + std::string(port) +
                                     " is out of range: " + in_text);
    }
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(port_number);
  *url = std::move(out);
  return Status::OK();
}

Status ParseUrlList(std::string_view text, std::vector<Url>* urls) {
  std::vector<Url> out;
  while (true) {
    const size_t comma = text.find(',');
    Url u;
    Status s = ParseUrl(text.substr(0, comma), &u);
    if (!s.ok()) return s;
    out.push_back(std::move(u));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  SortUrls(&out);
  *urls = std::move(out);
  return Status::OK();
}

Status ParseInitialCluster(std::string_view text, InitialCluster* members) {
  std::map<std::string, std::vector<std::string>> raw;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : entry.substr(eq + 1);
    raw[std::string(entry.substr(0, eq))].emplace_back(value);
  }
  InitialCluster out;
  for (const auto& [name, values] : raw) {
    std::vector<Url>& urls = out[name];
    for (const std::string& v : values) {
      Url u;
      Status s = ParseUrl(v, &u);
      if (!s.ok()) return s;
      urls.push_back(std::move(u));
    }
    SortUrls(&urls);
  }
  *members = std::move(out);
  return Status::OK();
}

std::string InitialClusterToString(const InitialCluster& members) {
  std::vector<std::string> pairs;
  for (const auto& [name, urls] : members) {
    for (const Url& u : urls) pairs.push_back(name + "=" + u.ToString());
  }
  std::sort(pairs.begin(), pairs.end());
  return Join(pairs, ",");
}

Status ParseGoDuration(std::string_view orig, std::chrono::nanoseconds* duration) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  auto invalid = [&] {
    return Status::InvalidArgument("time: invalid duration " + DurationQuote(orig));
  };
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *duration = std::chrono::nanoseconds(0);
    return Status::OK();
  }
  if (s.empty()) return invalid();
  uint64_t d = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return invalid();
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (v > kLimit / 10) return invalid();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return invalid();
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction: digits past what fits are ignored, as in Go.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && IsDigit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid();
    // Unit.
    size_t k = 0;
    while (k < s.size() && s[k] != '.' && !IsDigit(s[k])) ++k;
    if (k == 0) {
      return Status::InvalidArgument("time: missing unit in duration " + DurationQuote(orig));
    }
    const std::string_view unit_name = s.substr(0, k);
    s.remove_prefix(k);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xc2\xb5s" || unit_name == "\xce\xbcs") {
      unit = 1000;
    } else if (unit_name == "ms") {
      unit = 1000 * 1000;
    } else if (unit_name == "s") {
      unit = 1000 * 1000 * 1000;
    } else if (unit_name == "m") {
      unit = uint64_t{60} * 1000 * 1000 * 1000;
    } else if (unit_name == "h") {
      unit = uint64_t{3600} * 1000 * 1000 * 1000;
    } else {
      return Status::InvalidArgument("time: unknown unit " + DurationQuote(unit_name) +
                                     " in duration " + DurationQuote(orig));
    }
    if (v > kLimit / unit) return invalid();
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return invalid();
    }
    d += v;
    if (d > kLimit) return invalid();
  }
  if (neg) {
    *duration = std::chrono::nanoseconds(d == kLimit ? std::numeric_limits<int64_t>::min()
                                                     : -static_cast<int64_t>(d));
    return Status::OK();
  }
  if (d > kLimit - 1) return invalid();
  *duration = std::chrono::nanoseconds(static_cast<int64_t>(d));
  return Status::OK();
}

Status ParseCompactionRetention(CompactionMode mode, std::string_view text,
                                std::chrono::nanoseconds* period, int64_t* revisions) {
  const std::string prefix = "error parsing CompactionRetention: ";
  *period = std::chrono::nanoseconds(0);
  *revisions = 0;
  if (text.empty()) text = "0";  // etcd: "defaults to "0" if not set"
  int64_t n = 0;
  if (GoAtoi(text, &n) && n >= 0) {
    if (mode == CompactionMode::kRevision) {
      *revisions = n;
      return Status::OK();
    }
    constexpr int64_t kHourNs = int64_t{3600} * 1000 * 1000 * 1000;
    if (n > std::numeric_limits<int64_t>::max() / kHourNs) {
      return Status::InvalidArgument(prefix + "time: invalid duration " + DurationQuote(text));
    }
    *period = std::chrono::nanoseconds(n * kHourNs);
    return Status::OK();
  }
  std::chrono::nanoseconds d;
  Status s = ParseGoDuration(text, &d);
  if (!s.ok()) return Status::InvalidArgument(prefix + s.message());
  // etcd would take a duration's nanosecond count as a revision count, and a
  // negative period as is; both are configuration mistakes.
  if (mode == CompactionMode::kRevision) {
    const std::string what = "--auto-compaction-mode=revision needs a revision count, got ";
    return Status::InvalidArgument(prefix + what + GoQuote(text));
  }
  if (d < std::chrono::nanoseconds(0)) {
    return Status::InvalidArgument(prefix + "negative retention " + GoQuote(text));
  }
  *period = d;
  return Status::OK();
}

int64_t ServerConfig::EffectiveQuotaBackendBytes() const {
  if (quota_backend_bytes == 0) return kDefaultQuotaBackendBytes;
  if (quota_backend_bytes < 0) return std::numeric_limits<int64_t>::max();
  return quota_backend_bytes;
}

Status ParseServerConfig(std::span<const std::string> args,
                         const std::map<std::string, std::string>& env, ServerConfig* config,
                         std::string* message_out, bool* exit_now) {
  *config = ServerConfig();
  config->data_dir.clear();  // so "<name>.etcd" can be derived below
  message_out->clear();
  *exit_now = false;
  ParseState st{config};
  std::set<std::string_view> set_on_command_line;

  // 1. The command line, as Go's flag.FlagSet.Parse reads it.
  size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') break;  // first non-flag ends the flags
    size_t dashes = 1;
    if (arg[1] == '-') {
      dashes = 2;
      if (arg.size() == 2) {  // "--" ends the flags
        ++i;
        break;
      }
    }
    std::string_view name = std::string_view(arg).substr(dashes);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return UsageError("bad flag syntax: " + arg);
    }
    ++i;
    bool has_value = false;
    std::string_view value;
    if (const size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const FlagDef* flag = FindFlag(name);
    if (flag == nullptr) {
      if (name == "help" || name == "h") {
        *message_out = HelpText();
        *exit_now = true;
        return Status::OK();
      }
      return UsageError("flag provided but not defined: -" + std::string(name));
    }
    if (flag->is_bool) {
      // A bool flag never takes the next argument: `--enable-pprof false`
      // leaves "false" as a stray positional argument, as in etcd.
      if (!has_value) value = "true";
      if (!flag->set(st, value).ok()) {
        return UsageError("invalid boolean value " + GoQuote(value) + " for -" + std::string(name) +
                          ": parse error");
      }
    } else {
      if (!has_value && i < args.size()) {
        value = args[i++];
        has_value = true;
      }
      if (!has_value) return UsageError("flag needs an argument: -" + std::string(name));
      Status s = flag->set(st, value);
      if (!s.ok()) {
        return UsageError("invalid value " + GoQuote(value) + " for flag -" + std::string(name) +
                          ": " + s.message());
      }
    }
    set_on_command_line.insert(flag->name);
  }
  if (i < args.size()) return VerifyError("'" + args[i] + "' is not a valid flag");

  // 2. --version wins over everything parsed later (environment, checks).
  if (st.print_version) {
    *message_out = VersionText();
    *exit_now = true;
    return Status::OK();
  }

  // 3. ETCD_* variables (pkg/flags.SetFlagsFromEnv): each flag not given on
  //    the command line takes a non-empty variable; a variable for a flag
  //    that *was* given is fatal even if empty; unknown ETCD_* variables
  //    only draw a warning. Flags are visited in name order and the last bad
  //    value is reported, after the conflict check.
  std::set<std::string_view> set_flags = set_on_command_line;
  std::set<std::string> shadowed;
  for (std::string_view name : set_on_command_line) shadowed.insert(FlagToEnv(name));
  std::vector<const FlagDef*> by_name;
  for (const FlagDef& f : kFlags) by_name.push_back(&f);
  std::sort(by_name.begin(), by_name.end(),
            [](const FlagDef* a, const FlagDef* b) { return a->name < b->name; });
  std::set<std::string> used;
  std::string env_error;
  for (const FlagDef* flag : by_name) {
    const std::string key = FlagToEnv(flag->name);
    if (shadowed.count(key)) continue;
    const auto it = env.find(key);
    if (it == env.end() || it->second.empty()) continue;
    used.insert(key);
    Status s = flag->set(st, it->second);
    if (!s.ok()) {
      env_error = "invalid value " + GoQuote(it->second) + " for " + key + ": " + s.message();
      continue;
    }
    set_flags.insert(flag->name);
    config->info_messages.push_back("recognized and used environment variable " + key + "=" +
                                    it->second);
  }
  for (const auto& [key, value] : env) {
    if (used.count(key)) continue;
    if (shadowed.count(key)) {
      return Fatal("conflicting environment variable " + GoQuote(key) +
                   " is shadowed by corresponding command-line flag (either unset environment "
                   "variable or disable flag)");
    }
    if (key.starts_with("ETCD_")) {
      config->warnings.push_back("unrecognized environment variable " + key + "=" + value);
    }
  }
  if (!env_error.empty()) return VerifyError(env_error);

  // 4. etcdmain: listening on chosen client URLs without saying which to
  //    advertise is an error, not a silent "http://localhost:2379".
  if (set_flags.count("listen-client-urls") && !set_flags.count("advertise-client-urls")) {
    config->advertise_client_urls.clear();
  }

  // 5. embed.Config.Validate.
  Status s = Validate(st);
  if (!s.ok()) return s;
  config->auto_compaction_mode =
      st.auto_compaction_mode == "revision" ? CompactionMode::kRevision : CompactionMode::kPeriodic;
  if (config->logger == "capnslog") {
    config->warnings.push_back(
        "Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
  }

  // 6. Defaults that follow --name (UpdateDefaultClusterFromName): only an
  //    --initial-cluster still equal to the default text is rewritten, even
  //    if it was given explicitly.
  if (config->name != "default" && config->initial_cluster == kDefaultInitialCluster) {
    const std::string n = config->name.empty() ? "default" : config->name;
    std::vector<std::string> entries;
    for (const Url& u : config->initial_advertise_peer_urls)
      entries.push_back(n + "=" + u.ToString());
    config->initial_cluster = Join(entries, ",");
  }
  if (config->data_dir.empty()) config->data_dir = config->name + ".etcd";

  // 7. embed.StartEtcd / etcdserver.NewServer: initial cluster, compaction
  //    retention, then the bootstrap checks. etcd runs the bootstrap checks
  //    only when the data dir has no member yet; Capstan runs them always, so
  //    a restart must keep passing consistent flags (kubeadm does).
  s = ParseInitialCluster(config->initial_cluster, &config->initial_cluster_members);
  if (!s.ok()) return Fatal("error setting up initial cluster: " + s.message());
  s = ParseCompactionRetention(config->auto_compaction_mode, config->auto_compaction_retention,
                               &config->auto_compaction_period, &config->auto_compaction_revisions);
  if (!s.ok()) return Fatal(s.message());
  s = VerifyInitialCluster(*config);
  if (!s.ok()) return s;

  if (config->quota_backend_bytes > kMaxQuotaBackendBytes) {
    config->warnings.push_back("backend quota " + std::to_string(config->quota_backend_bytes) +
                               " exceeds maximum recommended quota " +
                               std::to_string(kMaxQuotaBackendBytes));
  }
  return Status::OK();
}

int ExitCodeForConfigError(const Status& status) {
  if (status.ok()) return 0;
  return status.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

}  // namespace capstan
