#include <utility>  // before Asio: Boost 1.74 + C++20 (see ../shared/notes/toolchain.md)

#include "kube-adapter/https_server.h"

#include <poll.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "kube-adapter/stack_thread.h"

namespace capstan::kube {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;

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

// kube-apiserver's answer to a body over MaxRequestBodyBytes
// (errors.NewRequestEntityTooLargeError("limit is N")).
std::string TooLargeStatus(size_t limit) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
         R"("message":"Request entity too large: limit is )" +
         std::to_string(limit) + R"(","reason":"RequestEntityTooLarge","code":413})";
}

// Handler threads: created on demand up to a maximum, with
// kHandlerStackBytes stacks; a thread idle for a while exits. Tasks beyond
// the maximum wait in the queue (bounded by the connection limit: each
// connection has at most one task queued or running).
class HandlerPool {
 public:
  explicit HandlerPool(int max_threads) : st_(std::make_shared<State>()) {
    st_->max_threads = max_threads < 1 ? 1 : max_threads;
  }

  // False (task dropped) once draining.
  bool Post(std::function<void()> task) {
    std::unique_lock l(st_->mu);
    if (st_->stopping) return false;
    st_->tasks.push_back(std::move(task));
    if (st_->idle < static_cast<int>(st_->tasks.size()) && st_->threads < st_->max_threads) {
      ++st_->threads;
      l.unlock();
      std::shared_ptr<State> st = st_;
      StackThread t(kHandlerStackBytes, [st] { Run(st); });
      if (t.joinable()) {
        t.detach();
      } else {
        std::lock_guard g(st_->mu);
        --st_->threads;  // no thread: an idle or later one takes the task
      }
      return true;
    }
    l.unlock();
    st_->cv.notify_one();
    return true;
  }

  size_t threads() const {
    std::lock_guard l(st_->mu);
    return static_cast<size_t>(st_->threads);
  }

  // Stops taking tasks, lets the queued ones run, and waits up to `timeout`
  // for every thread to exit. Threads still busy after that keep only the
  // shared state alive.
  bool Drain(std::chrono::milliseconds timeout) {
    std::unique_lock l(st_->mu);
    st_->stopping = true;
    st_->cv.notify_all();
    return st_->done_cv.wait_for(l, timeout, [&] { return st_->threads == 0; });
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv, done_cv;
    std::deque<std::function<void()>> tasks;
    int threads = 0, idle = 0, max_threads = 1;
    bool stopping = false;
  };

  static void Run(std::shared_ptr<State> st) {
    std::unique_lock l(st->mu);
    for (;;) {
      if (st->tasks.empty()) {
        if (st->stopping) break;
        ++st->idle;
        bool woken = st->cv.wait_for(l, std::chrono::seconds(30),
                                     [&] { return !st->tasks.empty() || st->stopping; });
        --st->idle;
        if (!woken) break;  // idle for long: retire
        continue;
      }
      std::function<void()> task = std::move(st->tasks.front());
      st->tasks.pop_front();
      l.unlock();
      task();
      task = nullptr;
      l.lock();
    }
    --st->threads;
    st->done_cv.notify_all();
  }

  std::shared_ptr<State> st_;
};

}  // namespace

class HttpsConnection;

struct HttpsServer::Impl {
  net::io_context io;
  ssl::context tls{ssl::context::tls_server};
  std::unique_ptr<tcp::acceptor> acceptor;
  HttpHandler handler;
  HttpPreflight preflight;
  HttpsServerLimits limits;
  std::unique_ptr<HandlerPool> pool;
  std::vector<std::thread> io_threads;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> connections{0};
  std::atomic<size_t> buffered_body_bytes{0};
  std::mutex mu;
  std::list<std::weak_ptr<HttpsConnection>> sessions;  // closed on Stop

  bool TakeBodyBudget(size_t n) {
    size_t used = buffered_body_bytes.load();
    do {
      if (used + n > limits.max_buffered_body_bytes) return false;
    } while (!buffered_body_bytes.compare_exchange_weak(used, used + n));
    return true;
  }
  void GiveBodyBudget(size_t n) { buffered_body_bytes.fetch_sub(n); }

  static void Accept(const std::shared_ptr<Impl>& self);
};

// One connection. Its I/O runs on its strand (the socket's executor); its
// preflight and handler run on a handler thread, which hands the connection
// back to the strand when done. At most one of the two touches it at a time.
class HttpsConnection : public std::enable_shared_from_this<HttpsConnection> {
 public:
  HttpsConnection(std::shared_ptr<HttpsServer::Impl> server, tcp::socket socket)
      : server_(std::move(server)), stream_(std::move(socket), server_->tls) {
    ++server_->connections;
  }

  ~HttpsConnection() {
    ReleaseBudget();
    {
      std::lock_guard l(server_->mu);
      if (registered_) server_->sessions.erase(me_);
    }
    --server_->connections;
  }

  void Start() {
    {
      std::lock_guard l(server_->mu);
      me_ = server_->sessions.insert(server_->sessions.end(), weak_from_this());
      registered_ = true;
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Handshake(); });
  }

  // From any thread: closes the socket on the strand (pending I/O fails).
  void CloseSoon() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

  // ---- for the Responder (on a handler thread)

  // Runs the async operation `start(done)` on the strand, under the write
  // deadline, and waits for it. Whatever the operation uses must be owned by
  // it (not by the caller's stack): once the server is stopping, the wait
  // gives up after a few seconds even if the operation never completes.
  template <class Start>
  beast::error_code Io(Start&& start) {
    auto done = std::make_shared<std::promise<beast::error_code>>();
    auto result = done->get_future();
    net::dispatch(stream_.get_executor(), [this, self = shared_from_this(), done,
                                           start = std::forward<Start>(start)]() mutable {
      if (closed_) {
        done->set_value(net::error::operation_aborted);
        return;
      }
      beast::get_lowest_layer(stream_).expires_after(server_->limits.write_timeout);
      start([done](beast::error_code ec, size_t) { done->set_value(ec); });
    });
    int waited = 0;
    while (result.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
      if (server_->stopping && ++waited >= 2) {
        CloseSoon();
        return net::error::operation_aborted;
      }
    }
    return result.get();
  }

  Stream& stream() { return stream_; }
  int native_handle() { return beast::get_lowest_layer(stream_).socket().native_handle(); }

 private:
  const HttpsServerLimits& limits() const { return server_->limits; }

  void Handshake() {
    beast::get_lowest_layer(stream_).expires_after(limits().handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (ec) return self->Close();
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    if (server_->stopping || closed_) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().max_header_bytes));
    // Checked after the preflight. (Not boost::none: Beast 1.74 compares the
    // Content-Length with the optional limit, and every length exceeds none.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::get_lowest_layer(stream_).expires_after(first_request_ ? limits().header_timeout
                                                                  : limits().idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    beast::get_lowest_layer(stream_).expires_never();
    if (ec == http::error::header_limit) {
      return WriteAndClose(
          "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; "
          "charset=utf-8\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"
          "431 Request Header Fields Too Large");
    }
    if (ec) {
      const bool malformed =
          ec.category() == http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (malformed) {
        return WriteAndClose(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 15\r\nConnection: close\r\n\r\n400 Bad Request");
      }
      return Close();
    }
    auto& head = parser_->get();
    request_ = std::make_unique<HttpRequest>();
    HttpRequest& r = *request_;
    r.method = std::string(head.method_string());
    ParseTarget(std::string_view(head.target().data(), head.target().size()), &r);
    for (const auto& f : head) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value(f.value());
      if (name == "impersonate-group") r.impersonate_groups.push_back(value);
      auto [it, inserted] = r.headers.emplace(name, value);
      if (!inserted) it->second += "," + value;
    }
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    if (!server_->pool->Post([self = shared_from_this()] { self->Preflight(); })) Close();
  }

  // On a handler thread.
  void Preflight();
  void RunHandler();

  void ReadBody() {
    if (closed_) return;
    auto self = shared_from_this();
    auto read = [this, self] {
      parser_->body_limit(limits().max_body_bytes);
      beast::get_lowest_layer(stream_).expires_after(limits().body_timeout);
      http::async_read(stream_, buffer_, *parser_, [this, self](beast::error_code ec, size_t) {
        beast::get_lowest_layer(stream_).expires_never();
        if (ec == http::error::body_limit) {
          if (!server_->pool->Post([self] { self->RefuseTooLarge(); })) Close();
          return;
        }
        if (ec) return Close();
        if (!server_->pool->Post([self] { self->RunHandler(); })) Close();
      });
    };
    std::string expect(parser_->get()[http::field::expect]);
    for (auto& c : expect) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (expect != "100-continue") return read();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
    net::async_write(stream_, net::buffer(kContinue),
                     [this, self, read](beast::error_code ec, size_t) {
                       if (ec) return Close();
                       read();
                     });
  }

  void RefuseTooLarge();
  // After a response on a connection that will not be read again: send FIN,
  // then read and drop what the client still sends for a moment (at most
  // max_body_bytes + 1 MiB, for 2 s) before closing, so that closing over
  // unread request data (an RST) does not destroy the response before the
  // client reads it. Dropped bytes cost no memory.
  void CloseFromHandler() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Linger(); });
  }

  void Linger() {
    if (closed_) return;
    beast::error_code ec;
    auto& tcp_stream = beast::get_lowest_layer(stream_);
    tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    tcp_stream.expires_after(std::chrono::seconds(2));
    linger_buffer_ = std::make_unique<std::array<char, 16384>>();
    DrainSome(limits().max_body_bytes + (1 << 20));
  }

  void DrainSome(size_t budget) {
    beast::get_lowest_layer(stream_).async_read_some(
        net::buffer(*linger_buffer_),
        [self = shared_from_this(), budget](beast::error_code ec, size_t n) {
          if (ec || n >= budget) return self->Close();
          self->DrainSome(budget - n);
        });
  }

  void WriteAndClose(std::string raw) {
    auto buf = std::make_shared<std::string>(std::move(raw));
    beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
    net::async_write(stream_, net::buffer(*buf),
                     [self = shared_from_this(), buf](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->Linger();
                     });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::get_lowest_layer(stream_).close();
  }

  void ReleaseBudget() {
    if (reserved_ > 0) server_->GiveBodyBudget(reserved_);
    reserved_ = 0;
  }

  std::shared_ptr<HttpsServer::Impl> server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<HttpRequest> request_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool first_request_ = true;
  bool closed_ = false;  // on the strand
  size_t reserved_ = 0;  // body budget held
  bool registered_ = false;
  std::unique_ptr<std::array<char, 16384>> linger_buffer_;
  std::list<std::weak_ptr<HttpsConnection>>::iterator me_;
};

namespace {

class Responder : public HttpResponder {
 public:
  Responder(HttpsConnection* session, unsigned version, bool keep_alive)
      : session_(session), version_(version), keep_alive_(keep_alive) {}

  void Send(int status, const std::string& content_type, const std::string& body) override {
    SendWith(status, content_type, body, {});
  }

  void SendWith(int status, const std::string& content_type, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& extra) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(status), version_);
    res->set(http::field::content_type, content_type);
    res->set("Cache-Control", "no-cache, private");
    for (const auto& [k, v] : extra) res->set(k, v);
    res->keep_alive(keep_alive_);
    res->body() = body;
    res->prepare_payload();
    sent_ = true;
    if (failed_) return;
    auto ec = session_->Io([s = session_, res](auto done) {
      http::async_write(s->stream(), *res,
                        [res, done](beast::error_code e, size_t n) { done(e, n); });
    });
    if (ec) failed_ = true;
  }

  bool StartStream(int status, const std::string& content_type) override {
    header_ = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(status),
                                                                 version_);
    header_->set(http::field::content_type, content_type);
    header_->set("Cache-Control", "no-cache, private");
    header_->chunked(true);
    header_->keep_alive(false);
    serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*header_);
    sent_ = true;
    streaming_ = true;
    if (failed_) return false;
    auto ec = session_->Io([s = session_, header = header_, sr = serializer_](auto done) {
      http::async_write_header(s->stream(), *sr,
                               [header, sr, done](beast::error_code e, size_t n) { done(e, n); });
    });
    if (ec) failed_ = true;
    return !failed_;
  }

  bool WriteChunk(const std::string& data) override {
    if (failed_) return false;
    auto copy = std::make_shared<std::string>(data);
    auto ec = session_->Io([s = session_, copy](auto done) {
      net::async_write(s->stream(), http::make_chunk(net::buffer(*copy)),
                       [copy, done](beast::error_code e, size_t n) { done(e, n); });
    });
    if (ec) failed_ = true;
    return !failed_;
  }

  bool PeerClosed() override {
    if (failed_) return true;
    pollfd p{};
    p.fd = session_->native_handle();
    if (p.fd < 0) return true;
    p.events = POLLIN | POLLRDHUP;
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      return true;
    }
    return false;
  }

  void Finish() {
    if (streaming_ && !failed_) {
      auto ec = session_->Io([s = session_](auto done) {
        net::async_write(s->stream(), http::make_chunk_last(), done);
      });
      if (ec) failed_ = true;
    }
  }

  bool sent() const { return sent_; }
  bool streaming() const { return streaming_; }
  bool failed() const { return failed_; }

 private:
  HttpsConnection* session_;
  unsigned version_;
  bool keep_alive_;
  bool sent_ = false;
  bool streaming_ = false;
  bool failed_ = false;
  // Shared with the writes, which may outlive this responder at shutdown.
  std::shared_ptr<http::response<http::empty_body>> header_;
  std::shared_ptr<http::response_serializer<http::empty_body>> serializer_;
};

}  // namespace

void HttpsConnection::Preflight() {
  if (server_->preflight) {
    Responder w(this, version_, /*keep_alive=*/false);
    bool go = false;
    try {
      go = server_->preflight(*request_, w);
    } catch (const std::exception&) {
      go = false;
    }
    if (!go) {
      if (!w.sent()) w.Send(500, "text/plain", "no response\n");
      return CloseFromHandler();
    }
  }
  const auto length = parser_->content_length();
  if (length && *length > limits().max_body_bytes) return RefuseTooLarge();
  size_t need = 0;
  if (length && *length > 0) {
    need = std::max<size_t>(static_cast<size_t>(*length), 4096);
  } else if (parser_->chunked()) {
    need = limits().max_body_bytes;
  }
  if (need == 0) return RunHandler();
  if (!server_->TakeBodyBudget(need)) {
    Responder w(this, version_, false);
    w.SendWith(429, "text/plain; charset=utf-8", "Too many requests, please try again later.\n",
               {{"Retry-After", "1"}});
    return CloseFromHandler();
  }
  reserved_ = need;
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadBody(); });
}

void HttpsConnection::RefuseTooLarge() {
  ReleaseBudget();
  Responder w(this, version_, false);
  w.Send(413, "application/json", TooLargeStatus(limits().max_body_bytes));
  CloseFromHandler();
}

void HttpsConnection::RunHandler() {
  request_->body = std::move(parser_->get().body());
  Responder w(this, version_, keep_alive_);
  try {
    server_->handler(*request_, w);
  } catch (const std::exception&) {
    // A malformed object that slipped past a check must cost one request,
    // never the server (nlohmann throws on a wrongly typed access).
    if (!w.sent()) {
      w.Send(500, "application/json",
             R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
             R"("message":"Internal error occurred: unexpected object shape",)"
             R"("reason":"InternalError","code":500})");
    }
  }
  if (!w.sent()) w.Send(500, "text/plain", "no response\n");
  w.Finish();
  request_.reset();
  ReleaseBudget();
  if (w.streaming() || w.failed() || !keep_alive_ || server_->stopping) return CloseFromHandler();
  first_request_ = false;
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
}

void HttpsServer::Impl::Accept(const std::shared_ptr<Impl>& self) {
  self->acceptor->async_accept(
      net::make_strand(self->io), [self](beast::error_code ec, tcp::socket socket) {
        if (self->stopping) return;
        if (ec) {
          // Out of descriptors, say: try again shortly rather than spin.
          auto timer = std::make_shared<net::steady_timer>(self->io, std::chrono::milliseconds(50));
          timer->async_wait([self, timer](beast::error_code) {
            if (!self->stopping) Accept(self);
          });
          return;
        }
        if (self->connections.load() >= self->limits.max_connections) {
          socket.close(ec);
        } else {
          socket.set_option(tcp::no_delay(true), ec);
          std::make_shared<HttpsConnection>(self, std::move(socket))->Start();
        }
        Accept(self);
      });
}

HttpsServer::HttpsServer() : impl_(std::make_shared<Impl>()) {}

HttpsServer::~HttpsServer() { Stop(); }

size_t HttpsServer::connections() const { return impl_->connections.load(); }

size_t HttpsServer::handler_threads() const { return impl_->pool ? impl_->pool->threads() : 0; }

bool HttpsServer::Start(const std::string& host, uint16_t port, const std::string& cert_file,
                        const std::string& key_file, HttpHandler handler, std::string* error,
                        HttpPreflight preflight, HttpsServerLimits limits) {
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
  impl_->preflight = std::move(preflight);
  impl_->limits = limits;
  impl_->pool = std::make_unique<HandlerPool>(limits.max_handler_threads);
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
  Impl::Accept(impl_);
  const int n = limits.io_threads < 1 ? 1 : limits.io_threads;
  for (int i = 0; i < n; ++i) {
    impl_->io_threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
  }
  return true;
}

void HttpsServer::Stop() {
  if (!impl_ || !impl_->acceptor || impl_->stopping.exchange(true)) return;
  std::shared_ptr<Impl> impl = impl_;
  net::post(impl->io, [impl] {
    beast::error_code ec;
    impl->acceptor->close(ec);
  });
  {
    std::lock_guard l(impl->mu);
    for (auto& weak : impl->sessions) {
      if (auto s = weak.lock()) s->CloseSoon();
    }
  }
  // Handlers see their sockets closed (and the registry stopping) and end.
  impl->pool->Drain(std::chrono::seconds(5));
  impl->io.stop();
  for (auto& t : impl->io_threads) t.join();
  impl->io_threads.clear();
  // Run what the stop left queued so that every session is released.
  impl->io.restart();
  impl->io.poll();
}

}  // namespace capstan::kube
