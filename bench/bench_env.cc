#include "bench/bench_env.h"

#include <cstring>
#include <iostream>

namespace capstan::bench {

namespace {

// Asks each endpoint for its status; returns those whose member leads.
std::vector<std::string> LeaderEndpoints(const std::vector<std::string>& endpoints,
                                         double timeout_s) {
  std::vector<std::string> out;
  for (const auto& ep : endpoints) {
    auto ch = grpc::CreateChannel(ep, grpc::InsecureChannelCredentials());
    auto stub = etcdserverpb::Maintenance::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int>(timeout_s * 1000)));
    etcdserverpb::StatusRequest req;
    etcdserverpb::StatusResponse resp;
    grpc::Status s = stub->Status(&ctx, req, &resp);
    if (!s.ok()) {
      std::cerr << "warning: status of " << ep << ": " << s.error_message() << "\n";
      continue;
    }
    if (resp.leader() != 0 && resp.leader() == resp.header().member_id()) out.push_back(ep);
  }
  return out;
}

}  // namespace

Env::Env(Options opts) : opts_(std::move(opts)) {}

bool Env::Connect(std::string* error) {
  std::vector<std::string> eps = opts_.endpoints;
  if (opts_.target_leader) {
    eps = LeaderEndpoints(opts_.endpoints, SetupTimeout());
    if (eps.empty()) {
      *error = "--target-leader: no endpoint reports itself as leader";
      return false;
    }
  }
  int n = std::max(1, opts_.conns);
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>();
    c->endpoint = eps[static_cast<size_t>(i) % eps.size()];
    grpc::ChannelArguments args;
    // Identical channel args share one TCP connection through gRPC's global
    // subchannel pool: a local pool (and a distinct arg) gives one per channel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("capstan-bench.conn", i);
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    c->channel = grpc::CreateCustomChannel(c->endpoint, grpc::InsecureChannelCredentials(), args);
    c->kv = etcdserverpb::KV::NewStub(c->channel);
    c->watch = etcdserverpb::Watch::NewStub(c->channel);
    c->lease = etcdserverpb::Lease::NewStub(c->channel);
    c->maintenance = etcdserverpb::Maintenance::NewStub(c->channel);
    conns_.push_back(std::move(c));
  }
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(static_cast<int>(SetupTimeout() * 1000));
  for (auto& c : conns_) {
    if (!c->channel->WaitForConnected(deadline)) {
      *error = "could not connect to " + c->endpoint;
      return false;
    }
  }
  return true;
}

std::string Env::KeyWithPrefix(const std::string& prefix, int64_t i) const {
  std::string digits = std::to_string(i);
  size_t width = static_cast<size_t>(std::max(0, opts_.key_size));
  size_t pad = width > prefix.size() + digits.size() ? width - prefix.size() - digits.size() : 0;
  std::string k;
  k.reserve(prefix.size() + pad + digits.size());
  k.append(prefix);
  k.append(pad, '0');
  k.append(digits);
  return k;
}

std::string Env::Key(int64_t i) const { return KeyWithPrefix(opts_.prefix, i); }

int64_t Env::NextKeyIndex() {
  int64_t space = std::max<int64_t>(1, opts_.key_space);
  if (opts_.sequential_keys) return seq_.fetch_add(1, std::memory_order_relaxed) % space;
  return Random(space);
}

int64_t Env::Random(int64_t n) {
  static std::atomic<uint64_t> thread_seq{0};
  thread_local std::mt19937_64 rng(static_cast<uint64_t>(opts_.seed) * 0x9E3779B97F4A7C15ULL +
                                   thread_seq.fetch_add(1));
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(std::max<int64_t>(1, n)));
}

std::string Env::ValueOfSize(int size) {
  std::string v(static_cast<size_t>(std::max(0, size)), 'v');
  if (v.size() >= 8) {
    uint64_t now = NowNs();
    for (int b = 0; b < 8; ++b) v[b] = static_cast<char>((now >> (8 * b)) & 0xff);
  }
  return v;
}

uint64_t Env::ValueTime(const std::string& v) {
  if (v.size() < 8) return 0;
  uint64_t t = 0;
  for (int b = 0; b < 8; ++b)
    t |= static_cast<uint64_t>(static_cast<unsigned char>(v[b])) << (8 * b);
  return t;
}

void Env::SetDeadline(grpc::ClientContext* ctx) const {
  if (opts_.request_timeout_s <= 0) return;  // no deadline: no timer per call
  ctx->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(opts_.request_timeout_s * 1000)));
}

void Env::CountError(const grpc::Status& s) {
  std::lock_guard<std::mutex> l(mu_);
  ++errors_[std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message()];
}

std::map<std::string, uint64_t> Env::Errors() const {
  std::lock_guard<std::mutex> l(mu_);
  return errors_;
}

void Env::AddCounter(const std::string& name, uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  counters_[name] += n;
}

std::map<std::string, uint64_t> Env::Counters() const {
  std::lock_guard<std::mutex> l(mu_);
  return counters_;
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

}  // namespace capstan::bench
