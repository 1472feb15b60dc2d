// The kube-rest workload of capstan-bench (issue 6): load on the Kubernetes
// REST layer over HTTPS, with admission on. Every client creates pods in a
// namespace that has a LimitRange and a ResourceQuota (so each create runs
// the LimitRanger and charges the quota in its Txn), updates them with a
// merge patch, lists the namespace with limit, and deletes them; one watcher
// counts the events it receives. Reports operations per second and latency
// percentiles per verb.
//
//   capstan-bench kube-rest --kube-dir <data-dir>/kube --kube-url https://127.0.0.1:6443 \
//     --clients 16 --duration 20s
#include <utility>  // before Asio: Boost 1.74 + C++20

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "bench/kube_rest_workload.h"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using capstan::bench::Histogram;

// One keep-alive HTTPS connection.
class Conn {
 public:
  Conn(net::io_context& io, ssl::context& tls, const std::string& host, const std::string& port,
       std::string token)
      : stream_(io, tls), host_(host), token_(std::move(token)) {
    tcp::resolver resolver(io);
    beast::get_lowest_layer(stream_).connect(resolver.resolve(host, port));
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true));
    stream_.handshake(ssl::stream_base::client);
  }

  // Returns the HTTP status (0 on a transport error).
  int Do(http::verb method, const std::string& target, const std::string& body,
         const std::string& content_type = "application/json", std::string* out = nullptr) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::accept, "application/json");
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    beast::error_code ec;
    http::write(stream_, req, ec);
    if (ec) return 0;
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return 0;
    if (out) *out = std::move(res.body());
    return res.result_int();
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }

 private:
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::string host_;
  std::string token_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

struct Verb {
  const char* name;
  Histogram latency;
  std::atomic<uint64_t> errors{0};
};

}  // namespace

namespace capstan::bench {

int RunKubeRest(const KubeRestOptions& o) {
  std::string rest = o.url.substr(o.url.find("://") + 3);
  const std::string host = rest.substr(0, rest.rfind(':'));
  const std::string port = rest.substr(rest.rfind(':') + 1);
  const std::string token = ReadFile(o.dir + "/admin.token");
  ssl::context tls(ssl::context::tls_client);
  tls.load_verify_file(o.dir + "/ca.crt");
  tls.set_verify_mode(ssl::verify_peer);
  net::io_context io;

  // Set-up: namespace, LimitRange (defaults every container), a large quota.
  {
    Conn c(io, tls, host, port, token);
    const std::string ns_path = "/api/v1/namespaces/" + o.ns;
    c.Do(http::verb::delete_, ns_path, "");
    c.Do(http::verb::post, "/api/v1/namespaces",
         R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + o.ns + R"("}})");
    c.Do(
        http::verb::post, ns_path + "/limitranges",
        R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"defaults"},"spec":{"limits":[{"type":"Container","default":{"cpu":"100m","memory":"64Mi"},"defaultRequest":{"cpu":"50m","memory":"32Mi"}}]}})");
    int st = c.Do(
        http::verb::post, ns_path + "/resourcequotas",
        R"({"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"big"},"spec":{"hard":{"pods":"1000000","requests.cpu":"100000","requests.memory":"100000Gi"}}})");
    if (st != 201) {
      fprintf(stderr, "set-up failed (HTTP %d): is the server at %s?\n", st, o.url.c_str());
      return 1;
    }
  }

  Verb create{"create pod"}, patch{"patch pod"}, list{"list pods"}, del{"delete pod"};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> watch_events{0};

  // A watcher on the namespace's pods, counting events.
  std::thread watcher([&] {
    try {
      Conn c(io, tls, host, port, token);
      http::request<http::string_body> req{
          http::verb::get, "/api/v1/namespaces/" + o.ns + "/pods?watch=true&timeoutSeconds=3600",
          11};
      req.set(http::field::host, host);
      req.set(http::field::authorization, "Bearer " + token);
      http::write(c.stream(), req);
      beast::flat_buffer buf;
      http::response_parser<http::buffer_body> p;
      http::read_header(c.stream(), buf, p);
      char data[65536];
      while (!stop) {
        p.get().body().data = data;
        p.get().body().size = sizeof data;
        beast::error_code ec;
        http::read(c.stream(), buf, p, ec);
        if (ec && ec != http::error::need_buffer) break;
        const size_t n = sizeof data - p.get().body().size;
        for (size_t i = 0; i < n; ++i) {
          if (data[i] == '\n') watch_events.fetch_add(1, std::memory_order_relaxed);
        }
      }
    } catch (const std::exception&) {
    }
  });

  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(o.duration);
  std::vector<std::thread> workers;
  for (int w = 0; w < o.clients; ++w) {
    workers.emplace_back([&, w] {
      try {
        Conn c(io, tls, host, port, token);
        const std::string base = "/api/v1/namespaces/" + o.ns + "/pods";
        auto timed = [](Verb& v, auto&& fn, int want) {
          auto s = std::chrono::steady_clock::now();
          int st = fn();
          v.latency.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - s)
                               .count());
          if (st != want) v.errors.fetch_add(1);
        };
        for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
          const std::string name = "p-" + std::to_string(w) + "-" + std::to_string(i);
          timed(
              create,
              [&] {
                return c.Do(
                    http::verb::post, base,
                    R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                        R"(","labels":{"app":"bench"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}})");
              },
              201);
          timed(
              patch,
              [&] {
                return c.Do(http::verb::patch, base + "/" + name,
                            R"({"metadata":{"labels":{"step":"patched"}}})",
                            "application/merge-patch+json");
              },
              200);
          if (i % 4 == 0) {
            timed(
                list, [&] { return c.Do(http::verb::get, base + "?limit=50", ""); }, 200);
          }
          timed(
              del, [&] { return c.Do(http::verb::delete_, base + "/" + name, ""); }, 200);
        }
      } catch (const std::exception& e) {
        fprintf(stderr, "client %d: %s\n", w, e.what());
      }
    });
  }
  for (auto& t : workers) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  {
    // Ending the namespace ends the watch (its connection is closed by us).
    Conn c(io, tls, host, port, token);
    c.Do(http::verb::delete_, "/api/v1/namespaces/" + o.ns, "");
  }
  watcher.detach();

  uint64_t total = 0;
  printf("capstan-bench kube-rest: %d clients, %.1f s against %s\n", o.clients, secs,
         o.url.c_str());
  printf("%-12s %10s %10s %9s %9s %9s %7s\n", "verb", "ops", "ops/s", "p50 ms", "p99 ms", "max ms",
         "errors");
  for (Verb* v : {&create, &patch, &list, &del}) {
    const uint64_t n = v->latency.Count();
    total += n;
    printf("%-12s %10llu %10.0f %9.2f %9.2f %9.2f %7llu\n", v->name,
           static_cast<unsigned long long>(n), n / secs, v->latency.Percentile(0.5) / 1e6,
           v->latency.Percentile(0.99) / 1e6, v->latency.Max() / 1e6,
           static_cast<unsigned long long>(v->errors.load()));
  }
  printf("%-12s %10llu %10.0f\n", "all", static_cast<unsigned long long>(total), total / secs);
  printf("watch events received: %llu (%.0f/s)\n",
         static_cast<unsigned long long>(watch_events.load()), watch_events.load() / secs);
  std::fflush(stdout);
  std::_Exit(0);  // the watcher may still be blocked in a read
}

}  // namespace capstan::bench
