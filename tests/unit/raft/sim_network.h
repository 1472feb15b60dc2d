// SimNetwork: a simulated, seeded, fault-injecting message network.
//
// Knows nothing about Raft: it moves opaque messages between numbered
// endpoints on a discrete clock, so the same harness can drive the Raft core
// now and the node driver or transport later. Everything random comes from
// one seeded generator, so a run is reproduced exactly by its seed.
//
// Faults: each message may be dropped, duplicated, and delayed by a random
// number of steps (which also reorders messages). Links can be cut one way
// (asymmetric partitions) or both ways; a message is checked against the
// cut links when it is delivered, so partitions also catch messages already
// on the wire.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace capstan::sim {

// splitmix64: tiny, fast and identical on every platform (unlike the
// standard distributions), so seeds replay the same everywhere.
class SimRng {
 public:
  explicit SimRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Uniform(hi - lo + 1); }
  bool Chance(double p) { return p > 0 && static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }
  template <typename C>
  auto& Pick(C& c) {
    auto it = c.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(Uniform(c.size())));
    return *it;
  }

 private:
  uint64_t state_;
};

struct NetworkFaults {
  double drop = 0;       // probability a message is lost
  double duplicate = 0;  // probability a message is delivered twice
  uint64_t min_delay = 1;
  uint64_t max_delay = 1;  // in steps; different delays reorder messages
};

template <typename Msg>
class SimNetwork {
 public:
  struct Envelope {
    uint64_t from;
    uint64_t to;
    Msg msg;
  };
  // Told about every message lost in the network (by a drop fault, a cut
  // link, or a dead endpoint), e.g. so a transport can report failures.
  using DropFn = std::function<void(const Envelope&)>;

  explicit SimNetwork(SimRng* rng) : rng_(rng) {}

  void set_faults(const NetworkFaults& f) { faults_ = f; }
  const NetworkFaults& faults() const { return faults_; }
  void set_on_drop(DropFn fn) { on_drop_ = std::move(fn); }

  uint64_t now() const { return now_; }
  void AdvanceTime() { ++now_; }

  void Send(uint64_t from, uint64_t to, Msg msg) {
    if (rng_->Chance(faults_.drop)) {
      Dropped(Envelope{from, to, std::move(msg)});
      return;
    }
    if (rng_->Chance(faults_.duplicate)) Enqueue(Envelope{from, to, msg});
    Enqueue(Envelope{from, to, std::move(msg)});
  }

  // Removes and returns the next message due by now, if any. Messages over
  // a cut link or to a down endpoint are dropped instead.
  bool NextDue(Envelope* out) {
    while (!queue_.empty() && queue_.top().at <= now_) {
      uint64_t id = queue_.top().id;
      queue_.pop();
      auto it = in_flight_.find(id);
      Envelope env = std::move(it->second);
      in_flight_.erase(it);
      if (!Connected(env.from, env.to) || down_.count(env.to)) {
        Dropped(env);
        continue;
      }
      *out = std::move(env);
      return true;
    }
    return false;
  }

  size_t InFlight() const { return in_flight_.size(); }

  // Partitions. Cut(a, b) blocks a -> b only.
  void Cut(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void CutBoth(uint64_t a, uint64_t b) {
    Cut(a, b);
    Cut(b, a);
  }
  // Splits `nodes` into groups that cannot talk to each other.
  void Partition(const std::vector<std::set<uint64_t>>& groups) {
    for (size_t i = 0; i < groups.size(); ++i) {
      for (size_t j = 0; j < groups.size(); ++j) {
        if (i == j) continue;
        for (uint64_t a : groups[i]) {
          for (uint64_t b : groups[j]) Cut(a, b);
        }
      }
    }
  }
  void Isolate(uint64_t id, const std::set<uint64_t>& all) {
    for (uint64_t other : all) {
      if (other != id) CutBoth(id, other);
    }
  }
  void Heal() { cut_.clear(); }
  bool Connected(uint64_t from, uint64_t to) const { return !cut_.count({from, to}); }
  bool HasCuts() const { return !cut_.empty(); }

  // A down endpoint loses everything sent to it until it is up again.
  void SetDown(uint64_t id, bool down) {
    if (down) {
      down_.insert(id);
    } else {
      down_.erase(id);
    }
  }

 private:
  struct Scheduled {
    uint64_t at;
    uint64_t id;  // send order breaks ties, so equal delays keep FIFO order
    bool operator>(const Scheduled& o) const { return at != o.at ? at > o.at : id > o.id; }
  };

  void Enqueue(Envelope env) {
    uint64_t delay = rng_->Range(faults_.min_delay, faults_.max_delay);
    uint64_t id = next_id_++;
    in_flight_.emplace(id, std::move(env));
    queue_.push(Scheduled{now_ + delay, id});
  }

  void Dropped(const Envelope& env) {
    if (on_drop_) on_drop_(env);
  }

  SimRng* rng_;
  NetworkFaults faults_;
  DropFn on_drop_;
  uint64_t now_ = 0;
  uint64_t next_id_ = 0;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<Scheduled>> queue_;
  std::unordered_map<uint64_t, Envelope> in_flight_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<uint64_t> down_;
};

}  // namespace capstan::sim
