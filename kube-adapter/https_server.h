// HttpsServer: the kube-adapter's HTTPS/1.1 listener (Boost.Beast over Asio
// with OpenSSL). One thread per connection: kubectl and client-go keep few
// connections, and a watch holds its connection for minutes anyway.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace capstan::kube {

struct HttpRequest {
  std::string method;                           // GET, POST, ...
  std::string path;                             // decoded path, without the query
  std::map<std::string, std::string> query;     // decoded
  std::map<std::string, std::string> headers;   // lower-case names; repeated ones joined by ","
  std::vector<std::string> impersonate_groups;  // every Impersonate-Group header
  std::string body;

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
// chunked response; WriteChunk returns false once the client has gone).
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

class HttpsServer {
 public:
  HttpsServer();
  ~HttpsServer();

  // Binds host:port and starts accepting. Returns false with *error set.
  bool Start(const std::string& host, uint16_t port, const std::string& cert_file,
             const std::string& key_file, HttpHandler handler, std::string* error);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace capstan::kube
