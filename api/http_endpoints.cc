#include "api/http_endpoints.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility> in C++20.
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <future>
#include <thread>

#include "api/version.h"

namespace capstan::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string QueryParam(const std::string& target, const std::string& name) {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = target.substr(q + 1);
  size_t pos = 0;
  std::string value;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      std::string v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      value += (value.empty() ? "" : ",") + v;
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return value;
}

bool Excluded(const std::string& excludes, const std::string& alarm) {
  size_t pos = 0;
  while (pos <= excludes.size()) {
    size_t c = excludes.find(',', pos);
    if (excludes.substr(pos, c == std::string::npos ? std::string::npos : c - pos) == alarm) {
      return true;
    }
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return false;
}

}  // namespace

HttpEndpoints::Reply HttpEndpoints::Handle(EtcdServer* server, const std::string& target) {
  Reply r;
  const std::string path = target.substr(0, target.find('?'));
  if (path == "/version") {
    r.body = std::string("{\"etcdserver\":\"") + kEtcdCompatVersion + "\",\"etcdcluster\":\"" +
             kEtcdApiVersion + ".0\"}";
    return r;
  }
  if (path == "/health" || path == "/livez" || path == "/readyz") {
    std::string reason;
    for (const auto& [member, type] : server->alarms()->List()) {
      std::string name = etcdserverpb::AlarmType_Name(type);
      if (!Excluded(QueryParam(target, "exclude"), name)) reason = "ALARM " + name;
    }
    if (reason.empty() && server->LogStatus().leader_id == 0) reason = "RAFT NO LEADER";
    if (reason.empty() && QueryParam(target, "serializable") != "true") {
      // A linearizable read must go through: the cluster can serve.
      std::promise<Status> read;
      server->ReadBarrier([&](Status s) { read.set_value(s); });
      auto f = read.get_future();
      if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready || !f.get().ok()) {
        reason = "QGET ERROR";
      }
    }
    r.status = reason.empty() ? 200 : 503;
    r.body = std::string("{\"health\":\"") + (reason.empty() ? "true" : "false") +
             "\",\"reason\":\"" + reason + "\"}";
    return r;
  }
  if (path == "/metrics") {
    const raft::LogStatus ls = server->LogStatus();
    MvccStore* store = server->store();
    r.content_type = "text/plain; version=0.0.4";
    auto gauge = [&](const char* name, const char* help, int64_t v) {
      r.body += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" +
                name + " " + std::to_string(v) + "\n";
    };
    gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
          ls.leader_id != 0 ? 1 : 0);
    gauge("etcd_server_is_leader", "Whether or not this member is a leader.",
          ls.leader_id == server->member_id() ? 1 : 0);
    gauge("etcd_server_proposals_committed_total",
          "The total number of consensus proposals committed.",
          static_cast<int64_t>(ls.commit_index));
    gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.",
          static_cast<int64_t>(store->AppliedIndex()));
    gauge("etcd_mvcc_db_total_size_in_bytes",
          "Total size of the underlying database physically allocated in bytes.",
          static_cast<int64_t>(store->DbSize()));
    gauge("etcd_mvcc_db_total_size_in_use_in_bytes",
          "Total size of the underlying database logically in use in bytes.",
          static_cast<int64_t>(store->DbSizeInUse()));
    gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.",
          static_cast<int64_t>(store->CurrentRevision()));
    gauge("etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.",
          static_cast<int64_t>(store->CompactRevision()));
    // etcd's watch gauges (names and help as etcd 3.4 has them), plus the
    // hub's own counters, so a stalled or lagging watcher shows here.
    const watch::WatchHub::Stats ws = server->watch_hub()->GetStats();
    gauge("etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams.",
          static_cast<int64_t>(ws.streams));
    gauge("etcd_debugging_mvcc_watcher_total", "Total number of watchers.",
          static_cast<int64_t>(ws.synced + ws.unsynced));
    gauge("etcd_debugging_mvcc_slow_watcher_total", "Total number of unsynced slow watchers.",
          static_cast<int64_t>(ws.unsynced));
    gauge("capstan_watch_dispatched_revision", "The revision every synced watcher has been given.",
          ws.dispatched_revision);
    gauge("capstan_watch_overflows_total",
          "Times the watch hub fell behind and resynced all watchers.",
          static_cast<int64_t>(ws.overflows));
    gauge("capstan_watch_catchup_rounds_total", "History reads made for unsynced watchers.",
          static_cast<int64_t>(ws.catchup_rounds));
    gauge("capstan_watch_queued_messages", "Watch responses queued in streams, not yet written.",
          static_cast<int64_t>(ws.queued_messages));
    return r;
  }
  r.status = 404;
  r.content_type = "text/plain";
  r.body = "404 page not found\n";
  return r;
}

class HttpEndpoints::Impl {
 public:
  explicit Impl(EtcdServer* server) : server_(server) {}
  ~Impl() { Stop(); }

  Status Listen(const std::vector<std::string>& addresses) {
    for (const std::string& addr : addresses) {
      size_t colon = addr.rfind(':');
      if (colon == std::string::npos) return Status::InvalidArgument("bad address " + addr);
      boost::system::error_code ec;
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(addr.substr(0, colon), addr.substr(colon + 1), ec);
      if (ec || results.empty()) return Status::IOError("cannot resolve " + addr);
      auto acceptor = std::make_unique<tcp::acceptor>(io_);
      tcp::endpoint ep = results.begin()->endpoint();
      acceptor->open(ep.protocol(), ec);
      if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor->bind(ep, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return Status::IOError("cannot listen on " + addr + ": " + ec.message());
      Accept(acceptor.get());
      acceptors_.push_back(std::move(acceptor));
    }
    // Health checks may wait for a read barrier: two threads keep /metrics responsive.
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    return Status::OK();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    work_.reset();
    asio::post(io_, [this] {
      for (auto& a : acceptors_) a->close();
      io_.stop();
    });
    for (auto& t : threads_) t.join();
  }

 private:
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(tcp::socket s, EtcdServer* srv) : socket(std::move(s)), server(srv) {}
    tcp::socket socket;
    EtcdServer* server;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::response<http::string_body> res;

    void Read() {
      auto self = shared_from_this();
      req = {};
      http::async_read(socket, buffer, req, [self](beast::error_code ec, size_t) {
        if (ec) return;
        Reply r = HttpEndpoints::Handle(self->server, std::string(self->req.target()));
        self->res = http::response<http::string_body>(static_cast<http::status>(r.status),
                                                      self->req.version());
        self->res.set(http::field::content_type, r.content_type);
        self->res.keep_alive(self->req.keep_alive());
        self->res.body() = std::move(r.body);
        self->res.prepare_payload();
        http::async_write(self->socket, self->res, [self](beast::error_code ec, size_t) {
          if (ec || !self->res.keep_alive()) {
            beast::error_code ignored;
            self->socket.shutdown(tcp::socket::shutdown_send, ignored);
            return;
          }
          self->Read();
        });
      });
    }
  };

  void Accept(tcp::acceptor* acceptor) {
    acceptor->async_accept([this, acceptor](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || stopped_) return;
      if (!ec) std::make_shared<Connection>(std::move(socket), server_)->Read();
      Accept(acceptor);
    });
  }

  EtcdServer* server_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

HttpEndpoints::HttpEndpoints(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpEndpoints::~HttpEndpoints() { Stop(); }
void HttpEndpoints::Stop() {
  if (impl_) impl_->Stop();
}

Status HttpEndpoints::Start(EtcdServer* server, const std::vector<std::string>& addresses,
                            std::unique_ptr<HttpEndpoints>* out) {
  auto impl = std::make_unique<Impl>(server);
  Status s = impl->Listen(addresses);
  if (!s.ok()) return s;
  out->reset(new HttpEndpoints(std::move(impl)));
  return Status::OK();
}

}  // namespace capstan::api
