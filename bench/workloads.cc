#include "bench/workloads.h"

#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace capstan::bench {

namespace {

using etcdserverpb::Compare;

template <typename Req, typename Resp>
struct Call {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// Runs `n` operations with at most `concurrency` in flight and waits for
// them (setup phases). `op(i, done)` starts operation i. Returns failures.
using BatchOp = std::function<void(int64_t, std::function<void(bool)>)>;

class Batch : public std::enable_shared_from_this<Batch> {
 public:
  Batch(int64_t n, const BatchOp* op) : n_(n), op_(op) {}

  int64_t Run(int concurrency) {
    for (int c = 0; c < std::max(1, concurrency) && c < n_; ++c) Launch();
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return finished_ >= n_; });
    return failed_;
  }

 private:
  void Launch() {
    int64_t i;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (next_ >= n_) return;  // op_ may be gone once every op has started
      i = next_++;
    }
    auto self = shared_from_this();
    (*op_)(i, [self](bool ok) { self->Finished(ok); });
  }

  void Finished(bool ok) {
    bool more;
    {
      std::lock_guard<std::mutex> l(mu_);
      ++finished_;
      if (!ok) ++failed_;
      more = next_ < n_;
      if (finished_ == n_) cv_.notify_all();
    }
    if (more) Launch();
  }

  const int64_t n_;
  const BatchOp* op_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_ = 0, finished_ = 0, failed_ = 0;
};

int64_t RunBatch(int64_t n, int concurrency, const BatchOp& op) {
  if (n <= 0) return 0;
  return std::make_shared<Batch>(n, &op)->Run(concurrency);
}

// Writes keys 0..n-1 (keyfn) with values of --val-size.
bool Prepopulate(Env* env, int64_t n, const std::function<std::string(int64_t)>& keyfn,
                 std::string* error) {
  if (n <= 0) return true;
  auto t0 = Clock::now();
  int conc = std::min(256, std::max(16, env->opts().clients));
  int64_t failed = RunBatch(n, conc, [env, &keyfn](int64_t i, std::function<void(bool)> done) {
    auto call = std::make_shared<Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
    env->SetDeadline(&call->ctx);
    call->req.set_key(keyfn(i));
    call->req.set_value(env->Value());
    env->conn_for_client(static_cast<int>(i))
        .kv->async()
        ->Put(&call->ctx, &call->req, &call->resp, [call, done](grpc::Status s) { done(s.ok()); });
  });
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cerr << "# prepopulated " << n << " keys in " << secs << " s (" << failed << " failed)\n";
  if (failed == n) {
    *error = "prepopulate: every put failed";
    return false;
  }
  return true;
}

Compare ModEquals(const std::string& key, int64_t rev) {
  Compare c;
  c.set_result(Compare::EQUAL);
  c.set_target(Compare::MOD);
  c.set_key(key);
  c.set_mod_revision(rev);
  return c;
}

// The apiserver's GuaranteedUpdate (and its create and delete): a Txn that
// writes only if the key's mod_revision is still `rev` (0 = absent), and
// otherwise reads the key, whose current mod_revision the retry uses.
// done(ok, revision of the write or 0, conflicts seen).
void GuaranteedUpdate(Env* env, Conn* conn, std::string key, int64_t rev, bool del, int64_t lease,
                      int tries_left, int conflicts,
                      std::function<void(bool ok, int64_t rev, int conflicts)> done) {
  auto call = std::make_shared<Call<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>>();
  env->SetDeadline(&call->ctx);
  *call->req.add_compare() = ModEquals(key, rev);
  if (del) {
    call->req.add_success()->mutable_request_delete_range()->set_key(key);
  } else {
    auto* put = call->req.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(env->Value());
    put->set_lease(lease);
  }
  call->req.add_failure()->mutable_request_range()->set_key(key);
  conn->kv->async()->Txn(&call->ctx, &call->req, &call->resp,
                         [env, conn, call, key = std::move(key), del, lease, tries_left, conflicts,
                          done = std::move(done)](grpc::Status s) mutable {
                           if (!s.ok()) {
                             env->CountError(s);
                             done(false, 0, conflicts);
                             return;
                           }
                           if (call->resp.succeeded()) {
                             done(true, call->resp.header().revision(), conflicts);
                             return;
                           }
                           int64_t cur = 0;
                           if (call->resp.responses_size() > 0 &&
                               call->resp.responses(0).response_range().kvs_size() > 0) {
                             cur = call->resp.responses(0).response_range().kvs(0).mod_revision();
                           }
                           if (tries_left <= 1 || (del && cur == 0)) {
                             // Out of tries, or nothing left to delete.
                             done(del && cur == 0, 0, conflicts + 1);
                             return;
                           }
                           GuaranteedUpdate(env, conn, std::move(key), cur, del, lease,
                                            tries_left - 1, conflicts + 1, std::move(done));
                         });
}

// ---------------------------------------------------------------- streams

// A client bidi stream whose requests are written in order, one write in
// flight at a time; Stop() cancels and waits for OnDone.
template <typename Request, typename Response>
class OrderedStream : public grpc::ClientBidiReactor<Request, Response> {
 public:
  void Stop() {
    ctx_.TryCancel();
    std::unique_lock<std::mutex> l(mu_);
    done_cv_.wait(l, [&] { return done_; });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    writes_.pop_front();
    if (ok && !writes_.empty()) {
      this->StartWrite(&writes_.front());
    } else {
      writing_ = false;
    }
  }

 protected:
  // Queues `req`; the caller holds mu_.
  void EnqueueLocked(Request req) {
    writes_.push_back(std::move(req));
    if (!writing_) {
      writing_ = true;
      this->StartWrite(&writes_.front());
    }
  }
  // For OnDone: Stop() may return.
  void MarkDone() {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  grpc::ClientContext ctx_;
  Response resp_;
  std::mutex mu_;

 private:
  std::condition_variable done_cv_;
  std::deque<Request> writes_;
  bool writing_ = false;
  bool done_ = false;
};

// One Watch stream carrying any number of watchers. Events whose value
// starts with a send time (Env::Value) record their put→event latency.
class WatchStream final
    : public OrderedStream<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  WatchStream(Env* env, Conn* conn, Row* row, std::atomic<uint64_t>* events,
              std::atomic<uint64_t>* last_event_ns)
      : env_(env), row_(row), events_(events), last_event_ns_(last_event_ns) {
    conn->watch->async()->Watch(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }

  void Create(const std::string& key, const std::string& end) {
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    req.mutable_create_request()->set_range_end(end);
    std::lock_guard<std::mutex> l(mu_);
    EnqueueLocked(std::move(req));
  }

  int created() const { return created_.load(); }
  bool failed() const { return finished_.load(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    if (resp_.created()) created_.fetch_add(1);
    if (resp_.canceled() && !resp_.cancel_reason().empty()) {
      env_->CountError(grpc::Status(grpc::StatusCode::CANCELLED, resp_.cancel_reason()));
    }
    if (resp_.events_size() > 0) {
      uint64_t now = NowNs();
      for (const auto& ev : resp_.events()) {
        if (ev.type() == mvccpb::Event::PUT) {
          uint64_t t = Env::ValueTime(ev.kv().value());
          if (t > 0 && t <= now) row_->hist.Record(now - t);
        }
      }
      events_->fetch_add(static_cast<uint64_t>(resp_.events_size()));
      last_event_ns_->store(now);
    }
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& s) override {
    finished_.store(true);
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) env_->CountError(s);
    MarkDone();
  }

 private:
  Env* env_;
  Row* row_;
  std::atomic<uint64_t>* events_;
  std::atomic<uint64_t>* last_event_ns_;
  std::atomic<int> created_{0};
  std::atomic<bool> finished_{false};
};

// A set of watch streams with watchers spread over them.
class Watchers {
 public:
  Watchers(Env* env, Row* row) : env_(env), row_(row) {}

  // Opens `streams` streams (over the connections) carrying `watchers`
  // watchers; watcher i watches prefixes[i % size]. Waits until created.
  bool Open(int watchers, int streams, const std::vector<std::string>& prefixes,
            std::string* error) {
    streams = std::max(1, std::min(streams, watchers));
    for (int s = 0; s < streams; ++s) {
      streams_.push_back(std::make_unique<WatchStream>(
          env_, &env_->conn(static_cast<size_t>(s) % env_->conn_count()), row_, &events_,
          &last_event_ns_));
    }
    for (int w = 0; w < watchers; ++w) {
      const std::string& p = prefixes[static_cast<size_t>(w) % prefixes.size()];
      streams_[static_cast<size_t>(w % streams)]->Create(p, PrefixEnd(p));
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Created() < watchers) {
      if (Clock::now() > deadline) {
        *error = "watchers: only " + std::to_string(Created()) + " of " + std::to_string(watchers) +
                 " created in 30 s";
        return false;
      }
      for (auto& s : streams_) {
        if (s->failed()) {
          *error = "watch stream closed during setup";
          return false;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::cerr << "# " << watchers << " watchers on " << streams << " streams\n";
    return true;
  }

  int Created() const {
    int n = 0;
    for (const auto& s : streams_) n += s->created();
    return n;
  }

  // Waits (bounded) until `expected` events arrived, then closes the streams.
  void Drain(uint64_t expected, double max_wait_s) {
    auto deadline =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(max_wait_s * 1000));
    while (events_.load() < expected && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (events_.load() < expected) {
      std::cerr << "\n# watch: " << events_.load() << " of " << expected
                << " expected events arrived before the drain timeout\n";
    }
  }

  void Stop() {
    for (auto& s : streams_) s->Stop();
    streams_.clear();
  }

  uint64_t events() const { return events_.load(); }
  uint64_t last_event_ns() const { return last_event_ns_.load(); }

 private:
  Env* env_;
  Row* row_;
  std::vector<std::unique_ptr<WatchStream>> streams_;
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> last_event_ns_{0};
};

// A LeaseKeepAlive stream: keep-alives are written in order, and each
// response completes the oldest outstanding one.
class KeepAliveStream final : public OrderedStream<etcdserverpb::LeaseKeepAliveRequest,
                                                   etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveStream(Env* env, Conn* conn) : env_(env) {
    conn->lease->async()->LeaseKeepAlive(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }

  void Send(int64_t id, std::function<void(bool)> done) {
    std::unique_lock<std::mutex> l(mu_);
    if (closed_) {
      l.unlock();
      done(false);
      return;
    }
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(id);
    waiting_.push_back(std::move(done));
    EnqueueLocked(std::move(req));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::function<void(bool)> done;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!waiting_.empty()) {
        done = std::move(waiting_.front());
        waiting_.pop_front();
      }
    }
    bool alive = resp_.ttl() > 0;
    if (!alive) env_->CountError(grpc::Status(grpc::StatusCode::NOT_FOUND, "lease expired"));
    StartRead(&resp_);
    if (done) done(alive);
  }

  void OnDone(const grpc::Status& s) override {
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) env_->CountError(s);
    std::deque<std::function<void(bool)>> waiting;
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      waiting.swap(waiting_);
    }
    for (auto& d : waiting) d(false);
    MarkDone();
  }

 private:
  Env* env_;
  std::deque<std::function<void(bool)>> waiting_;
  bool closed_ = false;
};

// Grants a lease synchronously (setup).
bool GrantLease(Env* env, Conn* conn, int64_t ttl, int64_t* id, std::string* error) {
  grpc::ClientContext ctx;
  env->SetDeadline(&ctx);
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl);
  etcdserverpb::LeaseGrantResponse resp;
  grpc::Status s = conn->lease->LeaseGrant(&ctx, req, &resp);
  if (!s.ok() || !resp.error().empty()) {
    *error = "lease grant: " + (s.ok() ? resp.error() : s.error_message());
    return false;
  }
  *id = resp.id();
  return true;
}

// ---------------------------------------------------------------- workloads

class PutWorkload final : public Workload {
 public:
  explicit PutWorkload(Env* env) : Workload(env) { row_ = AddRow("put"); }

  bool Setup(std::string* error) override {
    int64_t n = std::max<int64_t>(0, env_->opts().prepopulate);
    return Prepopulate(
        env_, n, [this](int64_t i) { return env_->Key(i); }, error);
  }

  void Start(int client, DoneFn done) override {
    auto call = std::make_shared<Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
    env_->SetDeadline(&call->ctx);
    call->req.set_key(env_->Key(env_->NextKeyIndex()));
    call->req.set_value(env_->Value());
    env_->conn_for_client(client).kv->async()->Put(&call->ctx, &call->req, &call->resp,
                                                   [this, call, done](grpc::Status s) {
                                                     if (!s.ok()) env_->CountError(s);
                                                     done(0, s.ok());
                                                   });
  }

 private:
  Row* row_;
};

class RangeWorkload final : public Workload {
 public:
  explicit RangeWorkload(Env* env) : Workload(env) {
    AddRow(env->opts().serializable ? "range-serializable" : "range-linearizable");
  }

  bool Setup(std::string* error) override {
    const Options& o = env_->opts();
    if (!o.range_key.empty()) {
      // Make sure the key exists (like run-bench.sh's seed).
      return Prepopulate(
          env_, 1, [&o](int64_t) { return o.range_key; }, error);
    }
    int64_t n = std::max<int64_t>(0, o.prepopulate);
    return Prepopulate(
        env_, n, [this](int64_t i) { return env_->Key(i); }, error);
  }

  void Start(int client, DoneFn done) override {
    const Options& o = env_->opts();
    auto call = std::make_shared<Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>>();
    env_->SetDeadline(&call->ctx);
    if (!o.range_key.empty()) {
      call->req.set_key(o.range_key);
    } else if (o.range_prefix) {
      call->req.set_key(o.prefix);
      call->req.set_range_end(PrefixEnd(o.prefix));
    } else {
      call->req.set_key(env_->Key(env_->NextKeyIndex()));
    }
    call->req.set_limit(o.limit);
    call->req.set_serializable(o.serializable);
    env_->conn_for_client(client).kv->async()->Range(&call->ctx, &call->req, &call->resp,
                                                     [this, call, done](grpc::Status s) {
                                                       if (!s.ok()) env_->CountError(s);
                                                       done(0, s.ok());
                                                     });
  }
};

// Txn(mod_revision(key) == known) { put } else { get }, retried with the
// revision the get returned: the apiserver's GuaranteedUpdate.
class TxnPutWorkload final : public Workload {
 public:
  explicit TxnPutWorkload(Env* env) : Workload(env) {
    AddRow("txn-put");
    int64_t space = env->opts().key_space;
    if (space > 0 && space <= 10'000'000) revs_ = std::vector<std::atomic<int64_t>>(space);
  }

  bool Setup(std::string* error) override {
    int64_t n = std::max<int64_t>(0, env_->opts().prepopulate);
    return Prepopulate(
        env_, n, [this](int64_t i) { return env_->Key(i); }, error);
  }

  void Start(int client, DoneFn done) override {
    int64_t k = env_->NextKeyIndex();
    int64_t rev = static_cast<size_t>(k) < revs_.size() ? revs_[k].load() : 0;
    GuaranteedUpdate(env_, &env_->conn_for_client(client), env_->Key(k), rev, false, 0, 10, 0,
                     [this, k, done](bool ok, int64_t new_rev, int conflicts) {
                       if (ok && static_cast<size_t>(k) < revs_.size()) revs_[k].store(new_rev);
                       if (conflicts > 0) conflicts_.fetch_add(static_cast<uint64_t>(conflicts));
                       done(0, ok);
                     });
  }

  void Finish() override { env_->AddCounter("txn conflicts (retried)", conflicts_.load()); }
  std::string Progress() const override { return "conflicts " + std::to_string(conflicts_.load()); }

 private:
  std::vector<std::atomic<int64_t>> revs_;
  std::atomic<uint64_t> conflicts_{0};
};

class DeleteWorkload final : public Workload {
 public:
  explicit DeleteWorkload(Env* env) : Workload(env) { AddRow("delete"); }

  bool Setup(std::string* error) override {
    const Options& o = env_->opts();
    int64_t n = o.prepopulate;
    if (n < 0) n = o.total > 0 ? std::min(o.total, o.key_space) : o.key_space;
    return Prepopulate(
        env_, n, [this](int64_t i) { return env_->Key(i); }, error);
  }

  void Start(int client, DoneFn done) override {
    auto call = std::make_shared<
        Call<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>>();
    env_->SetDeadline(&call->ctx);
    int64_t i = next_.fetch_add(1) % std::max<int64_t>(1, env_->opts().key_space);
    call->req.set_key(env_->Key(i));
    env_->conn_for_client(client).kv->async()->DeleteRange(
        &call->ctx, &call->req, &call->resp, [this, call, done](grpc::Status s) {
          if (!s.ok()) env_->CountError(s);
          if (s.ok() && call->resp.deleted() == 0) missing_.fetch_add(1);
          done(0, s.ok());
        });
  }

  void Finish() override { env_->AddCounter("deletes of absent keys", missing_.load()); }

 private:
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> missing_{0};
};

// Puts under a prefix watched by --watchers watchers on --streams streams.
class WatchWorkload final : public Workload {
 public:
  explicit WatchWorkload(Env* env)
      : Workload(env),
        prefix_(env->opts().prefix.empty() ? "/bench/watch/" : env->opts().prefix),
        put_row_(AddRow("put")),
        event_row_(AddRow("watch-event")),
        watchers_(env, event_row_) {
    event_row_->events = true;
  }

  bool Setup(std::string* error) override {
    const Options& o = env_->opts();
    if (!watchers_.Open(o.watchers, o.streams, {prefix_}, error)) return false;
    start_ns_ = NowNs();
    return true;
  }

  void Start(int client, DoneFn done) override {
    auto call = std::make_shared<Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
    env_->SetDeadline(&call->ctx);
    call->req.set_key(env_->KeyWithPrefix(prefix_, env_->NextKeyIndex()));
    call->req.set_value(env_->Value());
    env_->conn_for_client(client).kv->async()->Put(&call->ctx, &call->req, &call->resp,
                                                   [this, call, done](grpc::Status s) {
                                                     if (!s.ok()) env_->CountError(s);
                                                     if (s.ok()) puts_ok_.fetch_add(1);
                                                     done(0, s.ok());
                                                   });
  }

  void Finish() override {
    uint64_t expected = puts_ok_.load() * static_cast<uint64_t>(env_->opts().watchers);
    watchers_.Drain(expected, 15);
    uint64_t last = watchers_.last_event_ns();
    if (last > start_ns_) event_row_->window_s = static_cast<double>(last - start_ns_) / 1e9;
    env_->AddCounter("watch events expected", expected);
    env_->AddCounter("watch events received", watchers_.events());
    watchers_.Stop();
  }

  std::string Progress() const override { return "events " + std::to_string(watchers_.events()); }

 private:
  std::string prefix_;
  Row* put_row_;
  Row* event_row_;
  Watchers watchers_;
  std::atomic<uint64_t> puts_ok_{0};
  uint64_t start_ns_ = 0;
};

// One lease and one keep-alive stream per client; each operation is one
// keep-alive round trip on that stream.
class LeaseKeepAliveWorkload final : public Workload {
 public:
  explicit LeaseKeepAliveWorkload(Env* env) : Workload(env) { AddRow("lease-keepalive"); }

  bool Setup(std::string* error) override {
    const Options& o = env_->opts();
    int n = std::max(1, o.clients);
    leases_.resize(static_cast<size_t>(n));
    int64_t failed = RunBatch(n, 64, [this, &o](int64_t i, std::function<void(bool)> done) {
      auto call = std::make_shared<
          Call<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>>();
      env_->SetDeadline(&call->ctx);
      call->req.set_ttl(o.lease_ttl);
      env_->conn_for_client(static_cast<int>(i))
          .lease->async()
          ->LeaseGrant(&call->ctx, &call->req, &call->resp, [this, call, i, done](grpc::Status s) {
            if (!s.ok()) env_->CountError(s);
            leases_[static_cast<size_t>(i)] = call->resp.id();
            done(s.ok() && call->resp.error().empty());
          });
    });
    if (failed > 0) {
      *error = "lease grant failed for " + std::to_string(failed) + " clients";
      return false;
    }
    for (int c = 0; c < n; ++c) {
      streams_.push_back(std::make_unique<KeepAliveStream>(env_, &env_->conn_for_client(c)));
    }
    std::cerr << "# " << n << " leases (TTL " << o.lease_ttl << " s), one keep-alive stream each\n";
    return true;
  }

  void Start(int client, DoneFn done) override {
    auto c = static_cast<size_t>(client) % streams_.size();
    streams_[c]->Send(leases_[c], [done](bool ok) { done(0, ok); });
  }

  void Finish() override {
    for (auto& s : streams_) s->Stop();
    streams_.clear();
  }

 private:
  std::vector<int64_t> leases_;
  std::vector<std::unique_ptr<KeepAliveStream>> streams_;
};

// A Kubernetes-apiserver-like mix over /registry/: paginated lists (limit
// --page-size, later pages at the first page's revision), creates, updates
// and deletes as Txns on mod_revision with a get-retry on conflict, events
// attached to short-TTL leases shared for --event-lease-reuse seconds (the
// apiserver's lease manager), and --watchers watchers on resource and
// namespace prefixes.
class KubeWorkload final : public Workload {
  enum Op { kList, kCreate, kUpdate, kDelete, kEvent, kNumOps };

 public:
  explicit KubeWorkload(Env* env)
      : Workload(env),
        run_(std::to_string(NowNs() % 1'000'000'007) + "-"),
        event_row_(AddRows()),
        watchers_(env, event_row_) {}

  bool Setup(std::string* error) override {
    const Options& o = env_->opts();
    if (!ParseMix(o.mix, error)) return false;
    objects_ = std::max<int64_t>(1, o.objects);
    revs_ = std::vector<std::atomic<int64_t>>(static_cast<size_t>(objects_));
    if (!Prepopulate(
            env_, objects_, [this](int64_t i) { return PodKey(i); }, error)) {
      return false;
    }
    // The apiserver knows each object's revision from its watch cache: so
    // does this client, from one list.
    if (!LoadRevisions(error)) return false;
    if (!GrantLease(env_, &env_->conn(0), o.event_ttl, &lease_id_, error)) return false;
    lease_ns_ = NowNs();
    std::vector<std::string> prefixes = {"/registry/pods/", "/registry/events/"};
    for (int n = 0; n < o.namespaces; ++n) prefixes.push_back("/registry/pods/" + Ns(n) + "/");
    if (o.watchers > 0 && !watchers_.Open(o.watchers, o.streams, prefixes, error)) return false;
    return true;
  }

  void Start(int client, DoneFn done) override {
    int64_t r = env_->Random(mix_total_);
    int op = 0;
    while (op < kNumOps - 1 && r >= mix_[op]) r -= mix_[op++];
    Conn* conn = &env_->conn_for_client(client);
    switch (op) {
      case kList:
        return List(conn, done);
      case kCreate:
        return Create(conn, done);
      case kUpdate:
        return Update(conn, done);
      case kDelete:
        return Delete(conn, done);
      default:
        return Event(conn, done);
    }
  }

  void Finish() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    watchers_.Stop();
    env_->AddCounter("kube conflicts (retried)", conflicts_.load());
    env_->AddCounter("kube list pages", pages_.load());
    env_->AddCounter("kube event leases granted", grants_.load());
    env_->AddCounter("watch events received", watchers_.events());
  }

  std::string Progress() const override {
    return "events " + std::to_string(watchers_.events()) + " conflicts " +
           std::to_string(conflicts_.load());
  }

 private:
  // The operation rows (in Op order), then the watch-event row, returned.
  Row* AddRows() {
    static const char* kNames[] = {"list", "create", "update", "delete", "event"};
    for (const char* n : kNames) AddRow(n);
    Row* events = AddRow("watch-event");
    events->events = true;
    return events;
  }

  static std::string Ns(int64_t n) {
    char buf[32];
    snprintf(buf, sizeof(buf), "ns-%03lld", static_cast<long long>(n));
    return buf;
  }
  std::string PodKey(int64_t i) const {
    char buf[96];
    snprintf(buf, sizeof(buf), "/registry/pods/%s/pod-%06lld",
             Ns(i % env_->opts().namespaces).c_str(), static_cast<long long>(i));
    return buf;
  }

  bool LoadRevisions(std::string* error) {
    std::string from = "/registry/pods/", end = PrefixEnd(from);
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end(end);
      req.set_limit(10000);
      etcdserverpb::RangeResponse resp;
      grpc::Status s = env_->conn(0).kv->Range(&ctx, req, &resp);
      if (!s.ok()) {
        *error = "listing pods: " + s.error_message();
        return false;
      }
      for (const auto& kv : resp.kvs()) {
        auto pos = kv.key().rfind("/pod-");
        if (pos == std::string::npos) continue;
        int64_t i = std::strtoll(kv.key().c_str() + pos + 5, nullptr, 10);
        if (i >= 0 && i < objects_) revs_[static_cast<size_t>(i)].store(kv.mod_revision());
      }
      if (!resp.more() || resp.kvs_size() == 0) return true;
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
  }

  bool ParseMix(const std::string& mix, std::string* error) {
    static const std::map<std::string, int> kOps = {{"list", kList},
                                                    {"create", kCreate},
                                                    {"update", kUpdate},
                                                    {"delete", kDelete},
                                                    {"event", kEvent}};
    std::stringstream ss(mix);
    std::string part;
    while (std::getline(ss, part, ',')) {
      auto eq = part.find('=');
      auto it = kOps.find(part.substr(0, eq));
      if (eq == std::string::npos || it == kOps.end()) {
        *error = "--mix: bad entry '" + part + "' (want list=N,create=N,update=N,delete=N,event=N)";
        return false;
      }
      mix_[it->second] = std::max<int64_t>(0, std::stoll(part.substr(eq + 1)));
    }
    mix_total_ = 0;
    for (int64_t w : mix_) mix_total_ += w;
    if (mix_total_ <= 0) {
      *error = "--mix: weights sum to 0";
      return false;
    }
    return true;
  }

  // A paginated list of one namespace's pods (or, one time in ten, of all
  // pods), as the apiserver's chunked LIST: the first page is a
  // linearizable read, the next ones read at its revision.
  void List(Conn* conn, DoneFn done) {
    std::string prefix = env_->Random(10) == 0
                             ? std::string("/registry/pods/")
                             : "/registry/pods/" + Ns(env_->Random(env_->opts().namespaces)) + "/";
    ListPage(conn, prefix, prefix, 0, std::move(done));
  }

  void ListPage(Conn* conn, std::string prefix, std::string from, int64_t rev, DoneFn done) {
    auto call = std::make_shared<Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>>();
    env_->SetDeadline(&call->ctx);
    call->req.set_key(from);
    call->req.set_range_end(PrefixEnd(prefix));
    call->req.set_limit(env_->opts().page_size);
    call->req.set_revision(rev);
    call->req.set_serializable(env_->opts().serializable);
    conn->kv->async()->Range(
        &call->ctx, &call->req, &call->resp,
        [this, conn, call, prefix = std::move(prefix), rev, done](grpc::Status s) mutable {
          pages_.fetch_add(1);
          if (!s.ok()) {
            env_->CountError(s);
            return done(kList, false);
          }
          if (!call->resp.more() || call->resp.kvs_size() == 0) return done(kList, true);
          std::string next = call->resp.kvs(call->resp.kvs_size() - 1).key();
          next.push_back('\0');
          int64_t at = rev != 0 ? rev : call->resp.header().revision();
          ListPage(conn, std::move(prefix), std::move(next), at, std::move(done));
        });
  }

  void Create(Conn* conn, DoneFn done) {
    int64_t id = created_seq_.fetch_add(1);
    std::string key =
        "/registry/pods/" + Ns(id % env_->opts().namespaces) + "/new-" + run_ + std::to_string(id);
    GuaranteedUpdate(env_, conn, key, 0, false, 0, 1, 0,
                     [this, key, done](bool ok, int64_t rev, int conflicts) {
                       if (ok) {
                         std::lock_guard<std::mutex> l(mu_);
                         created_.emplace_back(key, rev);
                       }
                       done(kCreate, ok);
                     });
  }

  void Update(Conn* conn, DoneFn done) {
    int64_t i = env_->Random(objects_);
    GuaranteedUpdate(env_, conn, PodKey(i), revs_[i].load(), false, 0, 10, 0,
                     [this, i, done](bool ok, int64_t rev, int conflicts) {
                       if (ok) revs_[i].store(rev);
                       if (conflicts > 0) conflicts_.fetch_add(static_cast<uint64_t>(conflicts));
                       done(kUpdate, ok);
                     });
  }

  void Delete(Conn* conn, DoneFn done) {
    std::pair<std::string, int64_t> victim;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (created_.empty()) return Update(conn, std::move(done));
      victim = std::move(created_.front());
      created_.pop_front();
    }
    GuaranteedUpdate(env_, conn, victim.first, victim.second, true, 0, 10, 0,
                     [this, done](bool ok, int64_t, int conflicts) {
                       if (conflicts > 0) conflicts_.fetch_add(static_cast<uint64_t>(conflicts));
                       done(kDelete, ok);
                     });
  }

  // An event object bound to the current shared lease; one event in a
  // while first grants the next lease.
  void Event(Conn* conn, DoneFn done) {
    const Options& o = env_->opts();
    int64_t id = event_seq_.fetch_add(1);
    std::string key =
        "/registry/events/" + Ns(id % o.namespaces) + "/ev-" + run_ + std::to_string(id);
    bool grant = false;
    int64_t lease;
    {
      std::lock_guard<std::mutex> l(mu_);
      lease = lease_id_;
      if (!granting_ && NowNs() - lease_ns_ > static_cast<uint64_t>(o.event_lease_reuse_s * 1e9)) {
        granting_ = true;
        grant = true;
      }
    }
    auto write = [this, conn, key, done](int64_t lease_id) {
      GuaranteedUpdate(env_, conn, key, 0, false, lease_id, 1, 0,
                       [done](bool ok, int64_t, int) { done(kEvent, ok); });
    };
    if (!grant) return write(lease);
    auto call =
        std::make_shared<Call<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>>();
    env_->SetDeadline(&call->ctx);
    call->req.set_ttl(o.event_ttl);
    conn->lease->async()->LeaseGrant(&call->ctx, &call->req, &call->resp,
                                     [this, call, lease, write, done](grpc::Status s) {
                                       bool ok = s.ok() && call->resp.error().empty();
                                       if (!s.ok()) env_->CountError(s);
                                       {
                                         std::lock_guard<std::mutex> l(mu_);
                                         granting_ = false;
                                         if (ok) {
                                           lease_id_ = call->resp.id();
                                           lease_ns_ = NowNs();
                                         }
                                       }
                                       if (!ok) return done(kEvent, false);
                                       grants_.fetch_add(1);
                                       write(call->resp.id());
                                     });
  }

  const std::string run_;  // makes this run's new names unique
  int64_t mix_[kNumOps] = {};
  int64_t mix_total_ = 0;
  int64_t objects_ = 0;
  std::vector<std::atomic<int64_t>> revs_;
  Row* event_row_;
  Watchers watchers_;
  std::atomic<int64_t> created_seq_{0}, event_seq_{0};
  std::atomic<uint64_t> conflicts_{0}, pages_{0}, grants_{0};
  std::mutex mu_;
  std::deque<std::pair<std::string, int64_t>> created_;
  int64_t lease_id_ = 0;
  uint64_t lease_ns_ = 0;
  bool granting_ = false;
};

}  // namespace

std::vector<Row*> Workload::rows() const {
  std::vector<Row*> out;
  for (const auto& r : rows_) out.push_back(r.get());
  return out;
}

Row* Workload::AddRow(const std::string& name) {
  rows_.push_back(std::make_unique<Row>(name));
  return rows_.back().get();
}

const std::vector<std::string>& WorkloadNames() {
  static const std::vector<std::string> kNames = {"put",   "range",           "txn-put", "delete",
                                                  "watch", "lease-keepalive", "kube"};
  return kNames;
}

std::unique_ptr<Workload> MakeWorkload(Env* env, std::string* error) {
  const std::string& w = env->opts().workload;
  if (w == "put") return std::make_unique<PutWorkload>(env);
  if (w == "range") return std::make_unique<RangeWorkload>(env);
  if (w == "txn-put") return std::make_unique<TxnPutWorkload>(env);
  if (w == "delete") return std::make_unique<DeleteWorkload>(env);
  if (w == "watch") return std::make_unique<WatchWorkload>(env);
  if (w == "lease-keepalive") return std::make_unique<LeaseKeepAliveWorkload>(env);
  if (w == "kube") return std::make_unique<KubeWorkload>(env);
  *error = "unknown workload '" + w + "'";
  return nullptr;
}

}  // namespace capstan::bench
