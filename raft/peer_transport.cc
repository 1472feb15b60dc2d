#include "raft/peer_transport.h"

#include <pthread.h>

// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility> in C++20.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace capstan::raft {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr uint64_t kMagic = 0x3154464152504143ULL;  // "CAPRAFT1" little-endian
constexpr size_t kHandshakeBytes = 25;              // magic, cluster id, from id, channel
constexpr uint32_t kMaxFrameBytes = 512u << 20;
constexpr size_t kReadChunk = 256 << 10;  // inbound read buffer
constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);

enum Channel : uint8_t { kData = 0, kControl = 1, kClusterIdQuery = 2 };

Channel ChannelOf(const raftpb::Message& m) {
  return (m.type() == raftpb::MSG_APP || m.type() == raftpb::MSG_SNAP ||
          m.type() == raftpb::MSG_SNAP_CHUNK)
             ? kData
             : kControl;
}

void PutLE64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetLE64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string Frame(const raftpb::Message& m) {
  const size_t n = m.ByteSizeLong();
  std::string f(4 + n, '\0');
  const auto len = static_cast<uint32_t>(n);
  for (int i = 0; i < 4; ++i) f[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  m.SerializeToArray(f.data() + 4, static_cast<int>(n));
  return f;
}

bool SplitHostPort(const std::string& addr, std::string* host, std::string* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  *host = addr.substr(0, colon);
  *port = addr.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return true;
}

namespace ssl = asio::ssl;

// One connection to or from a peer: plain TCP, or TLS over it.
class PeerConn {
 public:
  PeerConn(asio::io_context& io, ssl::context* tls)
      : tls_(tls != nullptr), stream_(tcp::socket(io), tls ? *tls : PlainContext()) {}
  PeerConn(tcp::socket socket, ssl::context* tls)
      : tls_(tls != nullptr), stream_(std::move(socket), tls ? *tls : PlainContext()) {}

  tcp::socket& socket() { return stream_.next_layer(); }

  template <typename Handler>
  void AsyncHandshake(ssl::stream_base::handshake_type type, Handler&& h) {
    if (!tls_) {
      asio::post(socket().get_executor(),
                 [h = std::forward<Handler>(h)]() mutable { h(boost::system::error_code()); });
      return;
    }
    stream_.async_handshake(type, std::forward<Handler>(h));
  }
  template <typename Buffers, typename Handler>
  void AsyncWrite(const Buffers& b, Handler&& h) {
    if (tls_) {
      asio::async_write(stream_, b, std::forward<Handler>(h));
    } else {
      asio::async_write(socket(), b, std::forward<Handler>(h));
    }
  }
  template <typename Buffers, typename Handler>
  void AsyncRead(const Buffers& b, Handler&& h) {
    if (tls_) {
      asio::async_read(stream_, b, std::forward<Handler>(h));
    } else {
      asio::async_read(socket(), b, std::forward<Handler>(h));
    }
  }
  template <typename Buffers, typename Handler>
  void AsyncReadSome(const Buffers& b, Handler&& h) {
    if (tls_) {
      stream_.async_read_some(b, std::forward<Handler>(h));
    } else {
      socket().async_read_some(b, std::forward<Handler>(h));
    }
  }
  void Close() {
    boost::system::error_code ec;
    socket().close(ec);
  }

 private:
  // ssl::stream needs a context even when TLS is off; it is never used then.
  static ssl::context& PlainContext() {
    static ssl::context ctx(ssl::context::tls);
    return ctx;
  }

  bool tls_;
  ssl::stream<tcp::socket> stream_;
};

// TLS contexts for both directions; null when TLS is off.
Status MakeTlsContext(const PeerTlsOptions& o, bool server, std::unique_ptr<ssl::context>* out) {
  if (!o.enabled) return Status::OK();
  auto ctx =
      std::make_unique<ssl::context>(server ? ssl::context::tls_server : ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(o.cert_file, ec);
  if (ec) return Status::InvalidArgument("peer TLS: " + o.cert_file + ": " + ec.message());
  ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("peer TLS: " + o.key_file + ": " + ec.message());
  if (!o.trusted_ca_file.empty()) {
    ctx->load_verify_file(o.trusted_ca_file, ec);
    if (ec) return Status::InvalidArgument("peer TLS: " + o.trusted_ca_file + ": " + ec.message());
  }
  if (server) {
    ctx->set_verify_mode(o.client_cert_auth
                             ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                             : (o.trusted_ca_file.empty() ? ssl::verify_none : ssl::verify_peer));
  } else {
    ctx->set_verify_mode(o.trusted_ca_file.empty() ? ssl::verify_none : ssl::verify_peer);
  }
  *out = std::move(ctx);
  return Status::OK();
}

}  // namespace

class PeerTransport::Impl {
 public:
  Impl(PeerTransportOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)), work_(io_.get_executor()) {}

  ~Impl() { Stop(); }

  Status Listen() {
    Status ts = MakeTlsContext(options_.tls, true, &server_tls_);
    if (ts.ok()) ts = MakeTlsContext(options_.tls, false, &client_tls_);
    if (!ts.ok()) return ts;
    for (const std::string& addr : options_.listen_addresses) {
      std::string host, port;
      if (!SplitHostPort(addr, &host, &port))
        return Status::InvalidArgument("bad peer address " + addr);
      boost::system::error_code ec;
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(host, port, ec);
      if (ec || results.empty())
        return Status::IOError("cannot resolve " + addr + ": " + ec.message());
      auto acceptor = std::make_unique<tcp::acceptor>(io_);
      tcp::endpoint ep = results.begin()->endpoint();
      acceptor->open(ep.protocol(), ec);
      if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor->bind(ep, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return Status::IOError("cannot listen for peers on " + addr + ": " + ec.message());
      ports_.push_back(acceptor->local_endpoint().port());
      Accept(acceptor.get());
      acceptors_.push_back(std::move(acceptor));
    }
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "cap-peer-io");
      io_.run();
    });
    return Status::OK();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    work_.reset();
    asio::post(io_, [this] {
      for (auto& a : acceptors_) a->close();
      for (auto& [id, p] : peers_) ClosePeer(*p);
      peers_.clear();
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  void AddPeer(uint64_t id, std::vector<std::string> addresses) {
    asio::post(io_, [this, id, addresses = std::move(addresses)]() mutable {
      auto& p = peers_[id];
      if (!p) p = std::make_shared<Peer>(id);
      p->addresses = std::move(addresses);
    });
  }

  void RemovePeer(uint64_t id) {
    asio::post(io_, [this, id] {
      auto it = peers_.find(id);
      if (it == peers_.end()) return;
      ClosePeer(*it->second);
      peers_.erase(it);
    });
  }

  void Send(std::vector<raftpb::Message> messages) {
    asio::post(io_, [this, messages = std::move(messages)] {
      for (const raftpb::Message& m : messages) {
        auto it = peers_.find(m.to());
        if (it == peers_.end()) {
          MarkUnreachable(m.to());
          continue;
        }
        Enqueue(it->second, ChannelOf(m), Frame(m));
      }
    });
  }

  std::vector<uint64_t> TakeUnreachable() {
    std::lock_guard l(unreachable_mu_);
    std::vector<uint64_t> out(unreachable_.begin(), unreachable_.end());
    unreachable_.clear();
    return out;
  }

  std::vector<uint16_t> ports() const { return ports_; }

  void Probe() {
    asio::post(io_, [this] {
      const auto now = std::chrono::steady_clock::now();
      for (auto& [id, p] : peers_) {
        Out& o = p->out[kControl];
        if (o.state == Out::State::kConnected) {
          // An empty frame: the write notices a peer that went away.
          if (!o.writing && o.queue.empty()) {
            o.queue.push_back(std::string(4, '\0'));
            Flush(p, kControl);
          }
        } else if (o.state == Out::State::kIdle && now >= o.next_connect) {
          Connect(p, kControl);
        }
      }
    });
  }

  std::optional<std::chrono::steady_clock::time_point> ActiveSince(uint64_t id) {
    std::lock_guard l(stats_mu_);
    auto it = active_since_.find(id);
    if (it == active_since_.end() || it->second == std::chrono::steady_clock::time_point{}) {
      return std::nullopt;
    }
    return it->second;
  }

  DataChannelStats DataStats(uint64_t id) {
    std::lock_guard l(stats_mu_);
    auto it = stats_.find(id);
    return it == stats_.end() ? DataChannelStats{} : it->second;
  }

 private:
  struct Out {
    std::unique_ptr<PeerConn> conn;  // a new one per connection attempt
    enum class State { kIdle, kConnecting, kConnected } state = State::kIdle;
    std::deque<std::string> queue;
    size_t queued_bytes = 0;
    std::vector<std::string> inflight;
    size_t inflight_bytes = 0;
    bool writing = false;
    std::chrono::steady_clock::time_point next_connect{};
  };
  struct Peer {
    explicit Peer(uint64_t peer_id) : id(peer_id) {}
    uint64_t id;
    std::vector<std::string> addresses;
    size_t next_address = 0;
    bool closed = false;
    std::array<Out, 2> out;
  };

  // Publishes the data channel's backlog for DataStats; `dropped` counts a
  // lost frame (or a whole lost backlog).
  void PublishData(const Peer& p, bool dropped) {
    const Out& o = p.out[kData];
    std::lock_guard l(stats_mu_);
    DataChannelStats& st = stats_[p.id];
    st.pending_bytes = o.queued_bytes + o.inflight_bytes;
    if (dropped) st.drops++;
  }

  void PublishActive(const Peer& p, std::chrono::steady_clock::time_point since) {
    std::lock_guard l(stats_mu_);
    active_since_[p.id] = since;
  }

  void MarkUnreachable(uint64_t id) {
    std::lock_guard l(unreachable_mu_);
    unreachable_.insert(id);
  }

  void ClosePeer(Peer& p) {
    p.closed = true;
    for (Out& o : p.out) {
      if (o.conn) o.conn->Close();
    }
  }

  void Fail(const std::shared_ptr<Peer>& p, Channel ch) {
    Out& o = p->out[ch];
    if (o.conn) o.conn->Close();
    o.state = Out::State::kIdle;
    o.writing = false;
    o.queue.clear();
    o.inflight.clear();
    o.queued_bytes = 0;
    o.inflight_bytes = 0;
    o.next_connect = std::chrono::steady_clock::now() + kReconnectBackoff;
    p->next_address++;
    MarkUnreachable(p->id);
    if (ch == kControl) PublishActive(*p, {});
    if (ch == kData) PublishData(*p, true);
  }

  void Enqueue(const std::shared_ptr<Peer>& p, Channel ch, std::string frame) {
    Out& o = p->out[ch];
    if (o.state == Out::State::kIdle && std::chrono::steady_clock::now() < o.next_connect) {
      MarkUnreachable(p->id);  // recently failed: drop rather than pile up
      if (ch == kData) PublishData(*p, true);
      return;
    }
    if (o.queued_bytes + frame.size() > options_.max_queued_bytes) {
      MarkUnreachable(p->id);
      if (ch == kData) PublishData(*p, true);
      return;
    }
    o.queued_bytes += frame.size();
    o.queue.push_back(std::move(frame));
    if (ch == kData) PublishData(*p, false);
    if (o.state == Out::State::kIdle) {
      Connect(p, ch);
    } else if (o.state == Out::State::kConnected) {
      Flush(p, ch);
    }
  }

  void Connect(const std::shared_ptr<Peer>& p, Channel ch) {
    if (p->addresses.empty()) {
      Fail(p, ch);
      return;
    }
    Out& o = p->out[ch];
    o.state = Out::State::kConnecting;
    std::string host, port;
    if (!SplitHostPort(p->addresses[p->next_address % p->addresses.size()], &host, &port)) {
      Fail(p, ch);
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(io_);
    resolver->async_resolve(host, port, [this, p, ch, resolver](auto ec, auto results) {
      if (p->closed) return;
      if (ec) {
        Fail(p, ch);
        return;
      }
      Out& o = p->out[ch];
      o.conn = std::make_unique<PeerConn>(io_, client_tls_.get());
      asio::async_connect(o.conn->socket(), results, [this, p, ch](auto ec, const auto&) {
        if (p->closed) return;
        if (ec) {
          Fail(p, ch);
          return;
        }
        Out& o = p->out[ch];
        boost::system::error_code oec;
        o.conn->socket().set_option(tcp::no_delay(true), oec);
        o.conn->AsyncHandshake(ssl::stream_base::client, [this, p, ch](auto ec) {
          if (p->closed) return;
          if (ec) {
            Fail(p, ch);
            return;
          }
          Out& o = p->out[ch];
          std::string hs(kHandshakeBytes, '\0');
          PutLE64(hs.data(), kMagic);
          PutLE64(hs.data() + 8, options_.cluster_id);
          PutLE64(hs.data() + 16, options_.local_id);
          hs[24] = static_cast<char>(ch);
          o.queue.push_front(std::move(hs));
          o.state = Out::State::kConnected;
          if (ch == kControl) PublishActive(*p, std::chrono::steady_clock::now());
          Flush(p, ch);
        });
      });
    });
  }

  void Flush(const std::shared_ptr<Peer>& p, Channel ch) {
    Out& o = p->out[ch];
    if (o.writing || o.queue.empty()) return;
    o.writing = true;
    o.inflight.assign(std::make_move_iterator(o.queue.begin()),
                      std::make_move_iterator(o.queue.end()));
    o.queue.clear();
    o.inflight_bytes = o.queued_bytes;
    o.queued_bytes = 0;
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(o.inflight.size());
    for (const std::string& f : o.inflight) bufs.emplace_back(f.data(), f.size());
    o.conn->AsyncWrite(bufs, [this, p, ch](auto ec, size_t) {
      if (p->closed) return;
      Out& o = p->out[ch];
      o.writing = false;
      o.inflight.clear();
      o.inflight_bytes = 0;
      if (ec) {
        Fail(p, ch);
        return;
      }
      if (ch == kData) PublishData(*p, false);
      Flush(p, ch);
    });
  }

  // ---------------------------------------------------------------- inbound
  struct Session : std::enable_shared_from_this<Session> {
    Session(tcp::socket s, Impl* owner)
        : conn(std::move(s), owner->server_tls_.get()), impl(owner) {}
    PeerConn conn;
    Impl* impl;
    std::array<char, kHandshakeBytes> handshake{};
    std::string buf;  // frames read but not yet handed over: [0, end)
    size_t end = 0;

    void Start() {
      auto self = shared_from_this();
      conn.AsyncHandshake(ssl::stream_base::server, [self](auto ec) {
        if (!ec) self->ReadHandshake();
      });
    }
    void ReadHandshake() {
      auto self = shared_from_this();
      conn.AsyncRead(asio::buffer(handshake), [self](auto ec, size_t) {
        if (ec) return;
        if (GetLE64(self->handshake.data()) != kMagic) return;
        if (self->handshake[24] == kClusterIdQuery) {
          // A joining member asks who we are: answer and close.
          auto answer = std::make_shared<std::string>(8, '\0');
          PutLE64(answer->data(), self->impl->options_.cluster_id);
          self->conn.AsyncWrite(asio::buffer(*answer), [self, answer](auto, size_t) {});
          return;
        }
        if (GetLE64(self->handshake.data() + 8) != self->impl->options_.cluster_id) {
          return;  // not ours, or another cluster: drop the connection
        }
        self->ReadFrames();
      });
    }
    // Frames are read in bulk: one read takes whatever arrived, often many
    // small frames (appends' answers, heartbeats), each parsed in place,
    // instead of two reads per frame.
    void ReadFrames() {
      auto self = shared_from_this();
      if (buf.size() - end < kReadChunk / 4) buf.resize(std::max(buf.size() * 2, kReadChunk));
      conn.AsyncReadSome(asio::buffer(buf.data() + end, buf.size() - end),
                         [self](auto ec, size_t n) {
                           if (ec) return;
                           self->end += n;
                           if (self->DeliverFrames()) self->ReadFrames();
                         });
    }
    // Hands over every whole frame buffered; false to drop the connection.
    bool DeliverFrames() {
      size_t start = 0;
      while (end - start >= 4) {
        uint32_t len = 0;
        for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(buf[start + i]);
        if (len > kMaxFrameBytes) return false;
        if (end - start - 4 < len) {
          // Not all here yet. The buffer grows as bytes arrive (ReadFrames),
          // never by the announced length: a peer that only claims a large
          // frame costs nothing.
          break;
        }
        if (len > 0) {  // len 0: a keep-alive (Probe)
          raftpb::Message m;
          if (!m.ParseFromArray(buf.data() + start + 4, static_cast<int>(len))) return false;
          impl->handler_(std::move(m));
        }
        start += 4 + len;
      }
      // Only what follows a delivered frame moves: a large frame arriving in
      // many reads is not copied onto itself at each one.
      if (start > 0) {
        std::memmove(buf.data(), buf.data() + start, end - start);
        end -= start;
      }
      if (end == 0 && buf.size() > 4 * kReadChunk) {  // after a big frame
        buf.resize(kReadChunk);
        buf.shrink_to_fit();
      }
      return true;
    }
  };

  void Accept(tcp::acceptor* acceptor) {
    acceptor->async_accept([this, acceptor](auto ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || stopped_) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<Session>(std::move(socket), this)->Start();
      }
      Accept(acceptor);
    });
  }

  PeerTransportOptions options_;
  Handler handler_;
  std::unique_ptr<ssl::context> server_tls_;  // null when TLS is off
  std::unique_ptr<ssl::context> client_tls_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<uint16_t> ports_;
  std::map<uint64_t, std::shared_ptr<Peer>> peers_;  // I/O thread only
  std::mutex stats_mu_;
  std::map<uint64_t, DataChannelStats> stats_;
  std::map<uint64_t, std::chrono::steady_clock::time_point> active_since_;
  std::mutex unreachable_mu_;
  std::set<uint64_t> unreachable_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

PeerTransport::PeerTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PeerTransport::~PeerTransport() { Stop(); }

Status PeerTransport::Start(const PeerTransportOptions& options, Handler handler,
                            std::unique_ptr<PeerTransport>* out) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  Status s = impl->Listen();
  if (!s.ok()) return s;
  out->reset(new PeerTransport(std::move(impl)));
  return Status::OK();
}

Status PeerTransport::FetchClusterId(const std::vector<std::string>& addresses,
                                     std::chrono::milliseconds timeout, uint64_t* cluster_id,
                                     const PeerTlsOptions& tls) {
  std::unique_ptr<ssl::context> client_tls;
  Status ts = MakeTlsContext(tls, false, &client_tls);
  if (!ts.ok()) return ts;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const std::string& addr : addresses) {
      std::string host, port;
      if (!SplitHostPort(addr, &host, &port)) continue;
      asio::io_context io;
      PeerConn conn(io, client_tls.get());
      std::string hs(kHandshakeBytes, '\0');
      PutLE64(hs.data(), kMagic);
      hs[24] = static_cast<char>(kClusterIdQuery);
      std::array<char, 8> answer{};
      bool done = false;
      tcp::resolver resolver(io);
      boost::system::error_code rec;
      auto results = resolver.resolve(host, port, rec);
      if (rec) continue;
      asio::async_connect(conn.socket(), results, [&](auto ec, const auto&) {
        if (ec) return;
        conn.AsyncHandshake(ssl::stream_base::client, [&](auto ec) {
          if (ec) return;
          conn.AsyncWrite(asio::buffer(hs), [&](auto ec, size_t) {
            if (ec) return;
            conn.AsyncRead(asio::buffer(answer), [&](auto ec, size_t) { done = !ec; });
          });
        });
      });
      io.run_for(std::chrono::milliseconds(500));
      if (done && GetLE64(answer.data()) != 0) {
        *cluster_id = GetLE64(answer.data());
        return Status::OK();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable("could not retrieve cluster information from the given URLs");
}

void PeerTransport::Stop() {
  if (impl_) impl_->Stop();
}
void PeerTransport::AddPeer(uint64_t id, const std::vector<std::string>& addresses) {
  impl_->AddPeer(id, addresses);
}
void PeerTransport::RemovePeer(uint64_t id) { impl_->RemovePeer(id); }
void PeerTransport::Send(std::vector<raftpb::Message> messages) {
  impl_->Send(std::move(messages));
}
DataChannelStats PeerTransport::DataStats(uint64_t peer) { return impl_->DataStats(peer); }
void PeerTransport::Probe() { impl_->Probe(); }
std::optional<std::chrono::steady_clock::time_point> PeerTransport::ActiveSince(uint64_t peer) {
  return impl_->ActiveSince(peer);
}
std::vector<uint64_t> PeerTransport::TakeUnreachable() { return impl_->TakeUnreachable(); }
std::vector<uint16_t> PeerTransport::ListeningPorts() const { return impl_->ports(); }

}  // namespace capstan::raft
