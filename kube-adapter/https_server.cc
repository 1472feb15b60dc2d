#include <utility>  // before Asio: Boost 1.74 + C++20 (see ../shared/notes/toolchain.md)

#include "kube-adapter/https_server.h"

#include <poll.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <list>

namespace capstan::kube {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

std::string UrlDecode(std::string_view s, bool plus_is_space) {
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int a = hex(s[i + 1]), b = hex(s[i + 2]);
      if (a >= 0 && b >= 0) {
        out += static_cast<char>(a * 16 + b);
        i += 2;
        continue;
      }
    }
    out += (c == '+' && plus_is_space) ? ' ' : c;
  }
  return out;
}

void ParseTarget(std::string_view target, HttpRequest* r) {
  auto q = target.find('?');
  r->path = UrlDecode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    std::string k = UrlDecode(kv.substr(0, eq), true);
    std::string v = eq == std::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
    if (!k.empty()) r->query[k] = v;
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
}

class Responder : public HttpResponder {
 public:
  Responder(beast::ssl_stream<tcp::socket>& s, unsigned version, bool keep_alive)
      : stream_(s), version_(version), keep_alive_(keep_alive) {}

  void Send(int status, const std::string& content_type, const std::string& body) override {
    http::response<http::string_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::content_type, content_type);
    res.set("Cache-Control", "no-cache, private");
    res.keep_alive(keep_alive_);
    res.body() = body;
    res.prepare_payload();
    beast::error_code ec;
    http::write(stream_, res, ec);
    if (ec) failed_ = true;
    sent_ = true;
  }

  bool StartStream(int status, const std::string& content_type) override {
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::content_type, content_type);
    res.set("Cache-Control", "no-cache, private");
    res.chunked(true);
    res.keep_alive(false);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(stream_, sr, ec);
    sent_ = true;
    streaming_ = true;
    if (ec) failed_ = true;
    return !ec;
  }

  bool WriteChunk(const std::string& data) override {
    if (failed_) return false;
    beast::error_code ec;
    net::write(stream_, http::make_chunk(net::buffer(data)), ec);
    if (ec) failed_ = true;
    return !ec;
  }

  bool PeerClosed() override {
    if (failed_) return true;
    pollfd p{};
    p.fd = stream_.next_layer().native_handle();
    p.events = POLLIN | POLLRDHUP;
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return true;
    return false;
  }

  void Finish() {
    if (streaming_ && !failed_) {
      beast::error_code ec;
      net::write(stream_, http::make_chunk_last(), ec);
    }
  }

  bool sent() const { return sent_; }
  bool streaming() const { return streaming_; }
  bool failed() const { return failed_; }

 private:
  beast::ssl_stream<tcp::socket>& stream_;
  unsigned version_;
  bool keep_alive_;
  bool sent_ = false;
  bool streaming_ = false;
  bool failed_ = false;
};

}  // namespace

struct HttpsServer::Impl {
  net::io_context io;
  ssl::context tls{ssl::context::tls_server};
  std::unique_ptr<tcp::acceptor> acceptor;
  HttpHandler handler;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  int active = 0;
  std::list<tcp::socket*> sockets;  // open connections, shut down on Stop

  void Serve(tcp::socket socket) {
    beast::ssl_stream<tcp::socket> stream(std::move(socket), tls);
    std::list<tcp::socket*>::iterator me;
    {
      std::lock_guard l(mu);
      me = sockets.insert(sockets.end(), &stream.next_layer());
    }
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    beast::flat_buffer buffer;
    while (!ec && !stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      http::read(stream, buffer, parser, ec);
      if (ec) break;
      auto& req = parser.get();
      HttpRequest r;
      r.method = std::string(req.method_string());
      ParseTarget(std::string_view(req.target().data(), req.target().size()), &r);
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value(f.value());
        if (name == "impersonate-group") r.impersonate_groups.push_back(value);
        auto [it, inserted] = r.headers.emplace(name, value);
        if (!inserted) it->second += "," + value;
      }
      r.body = std::move(req.body());
      Responder resp(stream, req.version(), req.keep_alive());
      try {
        handler(r, resp);
      } catch (const std::exception& e) {
        // A malformed object that slipped past a check must cost one request,
        // never the server (nlohmann throws on a wrongly typed access).
        if (!resp.sent()) {
          resp.Send(500, "application/json",
                    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                    R"("message":"Internal error occurred: unexpected object shape",)"
                    R"("reason":"InternalError","code":500})");
        }
      }
      if (!resp.sent()) resp.Send(500, "text/plain", "no response\n");
      resp.Finish();
      if (resp.streaming() || resp.failed() || !req.keep_alive()) break;
    }
    stream.shutdown(ec);
    {
      std::lock_guard l(mu);
      sockets.erase(me);
      --active;
    }
    cv.notify_all();
  }
};

HttpsServer::HttpsServer() : impl_(std::make_unique<Impl>()) {}

HttpsServer::~HttpsServer() { Stop(); }

bool HttpsServer::Start(const std::string& host, uint16_t port, const std::string& cert_file,
                        const std::string& key_file, HttpHandler handler, std::string* error) {
  beast::error_code ec;
  impl_->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
  impl_->tls.use_certificate_chain_file(cert_file, ec);
  if (!ec) impl_->tls.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    *error = "kube TLS: " + ec.message();
    return false;
  }
  impl_->handler = std::move(handler);
  auto addr = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    *error = "kube listen address " + host + ": " + ec.message();
    return false;
  }
  auto acc = std::make_unique<tcp::acceptor>(impl_->io);
  tcp::endpoint ep(addr, port);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "listen tcp " + host + ":" + std::to_string(port) + ": " + ec.message();
    return false;
  }
  port_ = acc->local_endpoint().port();
  impl_->acceptor = std::move(acc);
  Impl* impl = impl_.get();
  impl_->accept_thread = std::thread([impl] {
    while (!impl->stopping) {
      beast::error_code aec;
      tcp::socket s(impl->io);
      impl->acceptor->accept(s, aec);
      if (aec || impl->stopping) {
        if (impl->stopping) break;
        continue;
      }
      s.set_option(tcp::no_delay(true), aec);
      {
        std::lock_guard l(impl->mu);
        ++impl->active;
      }
      std::thread([impl, sock = std::move(s)]() mutable { impl->Serve(std::move(sock)); }).detach();
    }
  });
  return true;
}

void HttpsServer::Stop() {
  if (!impl_ || !impl_->acceptor || impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  impl_->acceptor->cancel(ec);
  impl_->acceptor->close(ec);
  // Wake a blocked accept().
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  {
    // Poke the acceptor with a connection in case shutdown did not wake it.
    net::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  }
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::unique_lock l(impl_->mu);
  for (tcp::socket* s : impl_->sockets) s->shutdown(tcp::socket::shutdown_both, ec);
  impl_->cv.wait_for(l, std::chrono::seconds(5), [&] { return impl_->active == 0; });
}

}  // namespace capstan::kube
