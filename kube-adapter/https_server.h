// HttpsServer: the kube-adapter's HTTPS/1.1 listener (Boost.Beast over Asio
// with OpenSSL).
//
// Connections live on an Asio event loop (a couple of I/O threads): the TLS
// handshake, request headers and bodies are read asynchronously under
// deadlines, so idle, slow or half-open clients cost a socket and a buffer,
// never a thread. Handlers, which block (store reads, watches that stream for
// minutes), run on a bounded pool of handler threads with large stacks
// (stack_thread.h), created on demand and retired when idle.
//
// Each request goes: header (read on the loop) → `preflight` on a handler
// thread, which authenticates from the headers alone and may refuse → body
// (read on the loop, at most max_body_bytes, within a memory budget shared
// by all connections) → `handler` on a handler thread. A refused, oversized
// or over-budget request is answered without reading its body, and its
// connection is closed.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace capstan::kube {

struct HttpRequest {
  std::string method;                           // GET, POST, ...
  std::string path;                             // decoded path, without the query
  std::map<std::string, std::string> query;     // decoded
  std::map<std::string, std::string> headers;   // lower-case names; repeated ones joined by ","
  std::vector<std::string> impersonate_groups;  // every Impersonate-Group header
  std::string body;                             // empty during the preflight
  // What the preflight learned (e.g. the authenticated user), for the handler.
  std::any context;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? "" : it->second;
  }
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
};

// How a handler answers: either one Send, or StartStream + WriteChunk... (a
// chunked response; WriteChunk returns false once the client has gone or
// has not taken a write within write_timeout).
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void Send(int status, const std::string& content_type, const std::string& body) = 0;
  virtual bool StartStream(int status, const std::string& content_type) = 0;
  virtual bool WriteChunk(const std::string& data) = 0;
  // True once the peer closed its side (checked without blocking).
  virtual bool PeerClosed() = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;
// Runs before the body is read (req.body is empty). Returns true to go on
// (it may fill req.context), or answers with w.Send and returns false: the
// body is then never read and the connection is closed.
using HttpPreflight = std::function<bool(HttpRequest& req, HttpResponder& w)>;

class HttpsConnection;

struct HttpsServerLimits {
  size_t max_connections = 1000;       // more are accepted and closed at once
  size_t max_header_bytes = 64 << 10;  // → 431
  // kube-apiserver's MaxRequestBodyBytes (3 MiB) → 413 RequestEntityTooLarge.
  size_t max_body_bytes = 3 << 20;
  // Bodies held at once (being read or being handled) across all
  // connections; a request that does not fit gets 429 with Retry-After, as
  // the apiserver's max-in-flight filter answers. Each request counts its
  // Content-Length (at least 4 KiB), or max_body_bytes when chunked.
  size_t max_buffered_body_bytes = 32 << 20;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds header_timeout{32000};  // the apiserver's ReadHeaderTimeout
  std::chrono::milliseconds idle_timeout{90000};    // keep-alive; the apiserver's IdleTimeout
  std::chrono::milliseconds body_timeout{60000};    // the whole body, once the header is in
  std::chrono::milliseconds write_timeout{60000};   // each write of a response
  int io_threads = 2;
  int max_handler_threads = 128;  // watches hold one each while they stream
};

class HttpsServer {
 public:
  HttpsServer();
  ~HttpsServer();

  // Binds host:port and starts accepting. Returns false with *error set.
  // `preflight` may be empty (every request goes on).
  bool Start(const std::string& host, uint16_t port, const std::string& cert_file,
             const std::string& key_file, HttpHandler handler, std::string* error,
             HttpPreflight preflight = nullptr, HttpsServerLimits limits = {});
  void Stop();
  uint16_t port() const { return port_; }

  // Open connections and live handler threads (for tests and diagnostics).
  size_t connections() const;
  size_t handler_threads() const;

 private:
  friend class HttpsConnection;  // one connection, in https_server.cc
  struct Impl;
  std::shared_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace capstan::kube
