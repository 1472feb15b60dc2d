// The kube port's HTTPS listener against slow, idle, oversized and
// unauthenticated clients, with short limits so each deadline shows quickly.
#include <utility>  // before Asio: Boost 1.74 + C++20

#include "kube-adapter/https_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "kube-adapter/kube_credentials.h"

namespace capstan::kube {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("capstan-https-test-" + std::to_string(::getpid()) + "-" + RandomHex(4));
    std::string error;
    ASSERT_TRUE(KubeCredentials::Ensure(dir_.string(), "", "", "127.0.0.1", &creds_, &error))
        << error;
    limits_.handshake_timeout = milliseconds(400);
    limits_.header_timeout = milliseconds(400);
    limits_.idle_timeout = milliseconds(400);
    limits_.body_timeout = milliseconds(400);
    limits_.write_timeout = milliseconds(2000);
    limits_.max_body_bytes = 1000;
    limits_.max_buffered_body_bytes = 64 << 10;
    limits_.max_connections = 16;
    limits_.max_header_bytes = 4096;
  }

  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    std::string error;
    ASSERT_TRUE(server_.Start(
        "127.0.0.1", 0, creds_.cert_file, creds_.key_file,
        [this](const HttpRequest& r, HttpResponder& w) {
          ++handled_;
          if (r.path == "/stream") {
            w.StartStream(200, "application/json");
            for (int i = 0; i < 3; ++i) w.WriteChunk("chunk" + std::to_string(i) + "\n");
            return;
          }
          w.Send(200, "text/plain", "got " + std::to_string(r.body.size()) + " " + r.path);
        },
        &error,
        [this](HttpRequest& r, HttpResponder& w) {
          ++preflights_;
          if (!r.body.empty()) body_seen_in_preflight_ = true;
          if (r.Header("authorization") == "Bearer bad") {
            w.Send(401, "application/json", R"({"kind":"Status","code":401})");
            return false;
          }
          r.context = std::string("user");
          return true;
        },
        limits_))
        << error;
  }

  tcp::endpoint Endpoint() const {
    return tcp::endpoint(net::ip::make_address("127.0.0.1"), server_.port());
  }

  std::unique_ptr<beast::ssl_stream<tcp::socket>> Connect() {
    auto s = std::make_unique<beast::ssl_stream<tcp::socket>>(io_, client_tls_);
    s->next_layer().connect(Endpoint());
    s->handshake(ssl::stream_base::client);
    return s;
  }

  // Reads until the server closes; true if that took less than `within`.
  template <class Stream>
  static bool ClosedWithin(Stream& s, milliseconds within) {
    auto start = Clock::now();
    char buf[4096];
    beast::error_code ec;
    while (!ec) s.read_some(net::buffer(buf), ec);
    return Clock::now() - start < within;
  }

  static http::response<http::string_body> Exchange(beast::ssl_stream<tcp::socket>& s,
                                                    const std::string& raw,
                                                    beast::error_code* ec_out = nullptr) {
    beast::error_code ec;
    net::write(s, net::buffer(raw), ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res, ec);
    if (ec_out) *ec_out = ec;
    return res;
  }

  std::filesystem::path dir_;
  KubeCredentials creds_;
  HttpsServerLimits limits_;
  HttpsServer server_;
  std::atomic<int> handled_{0}, preflights_{0};
  std::atomic<bool> body_seen_in_preflight_{false};
  net::io_context io_;
  ssl::context client_tls_{ssl::context::tls_client};
};

TEST_F(HttpsServerTest, ServesKeepAliveRequestsAndStreams) {
  StartServer();
  auto s = Connect();
  auto r1 = Exchange(*s, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_EQ(r1.body(), "got 0 /a");
  auto r2 = Exchange(*s, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r2.body(), "got 5 /b");
  auto r3 = Exchange(*s,
                     "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(r3.body(), "got 3 /c");
  auto r4 = Exchange(*s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r4.result_int(), 200);
  EXPECT_EQ(r4.body(), "chunk0\nchunk1\nchunk2\n");
  EXPECT_FALSE(body_seen_in_preflight_);
}

TEST_F(HttpsServerTest, RefusedRequestIsAnsweredWithoutReadingItsBody) {
  StartServer();
  auto s = Connect();
  // Announces 50 MB and sends none of it: the 401 comes at once.
  auto start = Clock::now();
  auto res = Exchange(*s,
                      "POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bad\r\n"
                      "Content-Length: 50000000\r\n\r\n");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_LT(Clock::now() - start, milliseconds(300));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpsServerTest, OversizedBodiesGetTheApiserversStatus) {
  StartServer();
  const std::string status =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"("message":"Request entity too large: limit is 1000","reason":"RequestEntityTooLarge",)"
      R"("code":413})";
  {
    auto s = Connect();  // by Content-Length, before any body byte
    auto res = Exchange(*s, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_EQ(res.body(), status);
  }
  {
    auto s = Connect();  // chunked: while reading
    std::string chunk(600, 'a');
    auto res = Exchange(*s,
                        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "258\r\n" +
                            chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n");
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_EQ(res.body(), status);
  }
  {
    auto s = Connect();  // exactly the limit is fine
    auto res = Exchange(
        *s, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'));
    EXPECT_EQ(res.body(), "got 1000 /x");
  }
  EXPECT_EQ(handled_, 1);
}

TEST_F(HttpsServerTest, BodiesBeyondTheMemoryBudgetGet429) {
  limits_.max_buffered_body_bytes = 8192;  // two 4 KiB reservations
  StartServer();
  auto a = Connect();
  auto b = Connect();
  // Two slow bodies hold the budget...
  net::write(*a,
             net::buffer(std::string("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")));
  net::write(*b,
             net::buffer(std::string("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")));
  std::this_thread::sleep_for(milliseconds(100));
  auto c = Connect();
  auto res = Exchange(*c, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(res.result_int(), 429);
  EXPECT_EQ(res[http::field::retry_after], "1");
  // ...until their deadline frees it.
  EXPECT_TRUE(ClosedWithin(*a, milliseconds(2000)));
  EXPECT_TRUE(ClosedWithin(*b, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(50));
  auto d = Connect();
  auto ok = Exchange(*d, "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(ok.body(), "got 10 /d");
}

TEST_F(HttpsServerTest, SlowAndIdleClientsAreCutOff) {
  StartServer();
  const milliseconds bound(2000);
  {
    tcp::socket raw(io_);  // never starts the TLS handshake
    raw.connect(Endpoint());
    EXPECT_TRUE(ClosedWithin(raw, bound));
  }
  {
    tcp::socket raw(io_);  // half a ClientHello
    raw.connect(Endpoint());
    const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    net::write(raw, net::buffer(hello, sizeof hello));
    EXPECT_TRUE(ClosedWithin(raw, bound));
  }
  {
    auto s = Connect();  // slowloris: a header that never ends
    net::write(*s, net::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\nX-a: ")));
    EXPECT_TRUE(ClosedWithin(*s, bound));
  }
  {
    auto s = Connect();  // a body that never comes
    net::write(
        *s, net::buffer(std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12")));
    EXPECT_TRUE(ClosedWithin(*s, bound));
  }
  {
    auto s = Connect();  // keep-alive, then silence
    auto res = Exchange(*s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(ClosedWithin(*s, bound));
  }
  EXPECT_EQ(handled_, 1);
}

TEST_F(HttpsServerTest, OversizedAndMalformedHeadersAreRefused) {
  StartServer();
  {
    auto s = Connect();
    auto res =
        Exchange(*s, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
    EXPECT_EQ(res.result_int(), 431);
  }
  {
    auto s = Connect();
    auto res = Exchange(*s, "GARBAGE\x01\x02 nonsense\r\n\r\n");
    EXPECT_EQ(res.result_int(), 400);
  }
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpsServerTest, ConnectionsAreCappedAndIdleOnesCostNoThread) {
  limits_.handshake_timeout = milliseconds(5000);
  limits_.max_connections = 8;
  StartServer();
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<tcp::socket>(io_));
    idle.back()->connect(Endpoint());
  }
  for (int i = 0; i < 100 && server_.connections() < 8; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(server_.connections(), 8u);
  EXPECT_EQ(server_.handler_threads(), 0u);
  tcp::socket extra(io_);  // over the cap: closed at once
  extra.connect(Endpoint());
  EXPECT_TRUE(ClosedWithin(extra, milliseconds(1000)));
  idle.clear();
  for (int i = 0; i < 100 && server_.connections() > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto s = Connect();
  EXPECT_EQ(Exchange(*s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").result_int(), 200);
}

}  // namespace
}  // namespace capstan::kube
