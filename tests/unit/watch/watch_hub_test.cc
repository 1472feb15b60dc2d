#include "watch/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/temp_dir.h"

namespace capstan::watch {
namespace {

using namespace std::chrono_literals;

const std::string kFromKey(1, '\0');

struct Op {
  bool put = true;
  std::string key;
  std::string value;  // put
  std::string end;    // delete range end
};
Op Put(std::string k, std::string v) { return Op{true, std::move(k), std::move(v), ""}; }
Op Del(std::string k, std::string end = "") { return Op{false, std::move(k), "", std::move(end)}; }

// What a stream received, decoded.
struct Received {
  std::vector<WatchMessage> messages;
  // watch id -> its events, in arrival order (fragments included)
  std::map<int64_t, std::vector<mvccpb::Event>> events;
};

class WatchHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), StoreOptions{}, &store_).ok());
  }
  void TearDown() override {
    streams_.clear();
    if (hub_) hub_->Stop();
    hub_.reset();
  }
  void StartHub(WatchHubOptions o = {}) {
    hub_ = std::make_unique<WatchHub>(store_.get(), o);
    hub_->Start();
  }
  std::shared_ptr<WatchStream> Open() {
    auto s = hub_->OpenStream([] {});
    streams_.push_back(s);
    return s;
  }

  // One apply batch: each inner vector is one etcd transaction (a revision).
  int64_t Apply(const std::vector<std::vector<Op>>& txns) {
    auto b = store_->NewBatch();
    for (const auto& txn : txns) {
      b->BeginTxn();
      for (const Op& op : txn) {
        if (op.put) {
          int64_t rev;
          EXPECT_TRUE(b->Put(op.key, op.value, 0, &rev).ok());
        } else {
          int64_t n;
          EXPECT_TRUE(b->DeleteRange({op.key, op.end}, nullptr, &n).ok());
        }
      }
      b->EndTxn();
    }
    b->SetApplied(++index_, 1);
    EXPECT_TRUE(b->Commit().ok());
    hub_->Notify(b->events(), store_->CurrentRevision());
    return store_->CurrentRevision();
  }
  int64_t PutOne(const std::string& k, const std::string& v) { return Apply({{Put(k, v)}}); }
  void Compact(int64_t rev) {
    auto b = store_->NewBatch();
    ASSERT_TRUE(b->Compact(rev).ok());
    ASSERT_TRUE(b->Commit().ok());
    hub_->Notify(b->events(), store_->CurrentRevision());
    store_->WaitCompacted(rev);
  }

  // Drains `s` into `r` until `done(r)` or the deadline.
  bool DrainUntil(WatchStream* s, Received* r, const std::function<bool(const Received&)>& done,
                  std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      // Checked after every message: a test that stops reading must not
      // have read past what it asked for, however fast the hub refills.
      WatchMessage m;
      if (done(*r)) return true;
      while (s->Next(&m)) {
        for (const auto& bytes : m.events) {
          mvccpb::Event ev;
          EXPECT_TRUE(ev.ParseFromString(*bytes));
          r->events[m.watch_id].push_back(std::move(ev));
        }
        r->messages.push_back(std::move(m));
        if (done(*r)) return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
  }
  // Drains until watcher `id` has seen an event at revision >= rev.
  bool DrainTo(WatchStream* s, Received* r, int64_t id, int64_t rev) {
    return DrainUntil(s, r, [&](const Received& rr) {
      auto it = rr.events.find(id);
      return it != rr.events.end() && !it->second.empty() &&
             it->second.back().kv().mod_revision() >= rev;
    });
  }

  // The store's history of [key, end) for revisions from..to, as a watcher
  // must see it.
  std::vector<mvccpb::Event> History(const std::string& key, const std::string& end, int64_t from,
                                     int64_t to) {
    std::vector<mvccpb::Event> all, out;
    int64_t next;
    EXPECT_TRUE(store_->ReadEvents(from, to, 1 << 30, &all, &next).ok());
    KeyInterval iv;
    EXPECT_TRUE(KeyInterval::FromRequest(key, end, &iv));
    for (auto& e : all) {
      if (iv.Contains(e.kv().key())) out.push_back(e);
    }
    return out;
  }
  static std::string Describe(const std::vector<mvccpb::Event>& evs) {
    std::string s;
    for (const auto& e : evs) {
      s += (e.type() == mvccpb::Event::PUT ? "PUT " : "DEL ") + e.kv().key() + "@" +
           std::to_string(e.kv().mod_revision()) + "=" + e.kv().value() + " ";
    }
    return s;
  }
  void ExpectSame(const std::vector<mvccpb::Event>& want, const std::vector<mvccpb::Event>& got) {
    EXPECT_EQ(Describe(want), Describe(got));
  }
  static WatchRequestOptions Req(std::string key, std::string end = "", int64_t start = 0) {
    WatchRequestOptions r;
    r.key = std::move(key);
    r.range_end = std::move(end);
    r.start_revision = start;
    return r;
  }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
  std::unique_ptr<WatchHub> hub_;
  std::vector<std::shared_ptr<WatchStream>> streams_;
  uint64_t index_ = 0;
};

TEST_F(WatchHubTest, CreatedComesFirstWithCurrentRevisionAndIdsAreAssigned) {
  StartHub();
  PutOne("a", "1");
  const int64_t cur = store_->CurrentRevision();
  auto s = Open();
  s->Create(Req("a"));
  s->Create(Req("b"));
  WatchRequestOptions chosen = Req("c");
  chosen.watch_id = 7;
  s->Create(chosen);
  s->Create(Req("d"));
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) { return rr.messages.size() == 4; }));
  std::vector<int64_t> ids;
  for (const auto& m : r.messages) {
    EXPECT_TRUE(m.created);
    EXPECT_FALSE(m.canceled);
    EXPECT_EQ(m.revision, cur);
    ids.push_back(m.watch_id);
  }
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1, 7, 2}));
  // start_revision 0 means "after now": the earlier put is not replayed.
  const int64_t rev = PutOne("a", "2");
  ASSERT_TRUE(DrainTo(s.get(), &r, 0, rev));
  ASSERT_EQ(r.events[0].size(), 1u);
  EXPECT_EQ(r.events[0][0].kv().value(), "2");
}

TEST_F(WatchHubTest, RefusalsAreEtcds) {
  StartHub();
  auto s = Open();
  WatchRequestOptions dup = Req("a");
  dup.watch_id = 3;
  s->Create(dup);
  s->Create(dup);               // duplicate id
  s->Create(Req("b", "a"));     // empty range
  s->Create(Req("a", "", -1));  // negative start revision
  s->Cancel(42);                // unknown: ignored
  s->Cancel(3);
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) { return rr.messages.size() == 5; }));
  EXPECT_TRUE(r.messages[0].created && !r.messages[0].canceled && r.messages[0].watch_id == 3);
  for (int i : {1, 2, 3}) {
    EXPECT_TRUE(r.messages[i].created);
    EXPECT_TRUE(r.messages[i].canceled);
    EXPECT_EQ(r.messages[i].watch_id, -1);
  }
  EXPECT_EQ(r.messages[1].cancel_reason, kErrDuplicateWatchId);
  EXPECT_EQ(r.messages[2].cancel_reason, kErrEmptyWatcherRange);
  EXPECT_EQ(r.messages[3].cancel_reason, kErrCompactedReason);
  EXPECT_TRUE(r.messages[4].canceled && !r.messages[4].created && r.messages[4].watch_id == 3);
  EXPECT_TRUE(r.messages[4].cancel_reason.empty());
  // A canceled watcher gets nothing more.
  PutOne("a", "x");
  std::this_thread::sleep_for(50ms);
  WatchMessage m;
  EXPECT_FALSE(s->Next(&m));
}

// Hand-over from replay to live at every boundary: start revision below,
// at, just above and far above the current revision, while writes flow.
TEST_F(WatchHubTest, HandOverAtEveryBoundaryUnderConcurrentWrites) {
  WatchHubOptions o;
  o.catchup_max_events = 3;  // many catch-up rounds
  StartHub(o);
  for (int i = 0; i < 20; ++i) Apply({{Put("k" + std::to_string(i % 4), "v" + std::to_string(i))}});
  const int64_t cur = store_->CurrentRevision();
  std::vector<int64_t> starts;
  for (int64_t r = 1; r <= cur + 3; ++r) starts.push_back(r);
  starts.push_back(0);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 200 && !stop; ++i) {
      Apply({{Put("k" + std::to_string(i % 4), "w" + std::to_string(i))},
             {Del("k" + std::to_string((i + 1) % 4))}});
    }
  });
  auto s = Open();
  for (int64_t start : starts) s->Create(Req("k", "l", start));
  writer.join();
  const int64_t final_rev = store_->CurrentRevision();
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r,
                         [&](const Received& rr) {
                           for (size_t i = 0; i < starts.size(); ++i) {
                             auto it = rr.events.find(static_cast<int64_t>(i));
                             if (it == rr.events.end() || it->second.empty() ||
                                 it->second.back().kv().mod_revision() < final_rev) {
                               return false;
                             }
                           }
                           return true;
                         }))
      << "not every watcher reached " << final_rev;
  for (size_t i = 0; i < starts.size(); ++i) {
    SCOPED_TRACE("start " + std::to_string(starts[i]));
    int64_t from = starts[i];
    auto got = r.events[static_cast<int64_t>(i)];
    if (from == 0) {
      // Started at some point during the writes: a suffix of the history.
      ASSERT_FALSE(got.empty());
      from = got.front().kv().mod_revision();
    }
    ExpectSame(History("k", "l", from, final_rev), got);
  }
  auto st = hub_->GetStats();
  EXPECT_EQ(st.unsynced, 0u);
  EXPECT_EQ(st.synced, starts.size());
}

TEST_F(WatchHubTest, FutureStartRevisionWaits) {
  StartHub();
  const int64_t cur = PutOne("a", "0");
  auto s = Open();
  s->Create(Req("a", "", cur + 3));
  PutOne("a", "1");
  PutOne("a", "2");
  PutOne("a", "3");
  const int64_t last = PutOne("a", "4");
  Received r;
  ASSERT_TRUE(DrainTo(s.get(), &r, 0, last));
  ExpectSame(History("a", "", cur + 3, last), r.events[0]);
  EXPECT_EQ(r.events[0].front().kv().mod_revision(), cur + 3);
}

TEST_F(WatchHubTest, EventsOfOneRevisionTravelTogether) {
  StartHub();
  auto s = Open();
  s->Create(Req("", kFromKey));
  const int64_t rev = Apply({{Put("a", "1"), Put("b", "1"), Put("c", "1")}, {Del("a", "c")}});
  Received r;
  ASSERT_TRUE(DrainTo(s.get(), &r, 0, rev));
  // created + one message for the whole batch
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].events.size(), 5u);
  EXPECT_EQ(r.messages[1].revision, rev);
}

// Batches of one and of many events, matched against watchers that share
// keys and intervals across two streams: each watcher gets exactly its
// filtered history, in order, in one message per batch it has events in.
TEST_F(WatchHubTest, EachWatcherGetsItsOwnEventsOfEveryBatch) {
  StartHub();
  struct W {
    std::string key, end;
    bool no_delete = false, prev_kv = false;
  };
  const std::vector<W> specs = {
      {"a", ""},   {"b/", "b0"}, {"b/2", kFromKey}, {"", kFromKey, true}, {"b/", "b0", false, true},
      {"b/1", ""}, {"a", ""},    {"b/", "b0"},
  };
  auto s1 = Open();
  auto s2 = Open();
  for (size_t i = 0; i < specs.size(); ++i) {
    WatchRequestOptions q = Req(specs[i].key, specs[i].end);
    q.no_delete = specs[i].no_delete;
    q.prev_kv = specs[i].prev_kv;
    q.watch_id = static_cast<int64_t>(i) + 1;
    (i % 2 == 0 ? s1 : s2)->Create(q);
  }
  const int64_t first = store_->CurrentRevision() + 1;
  std::vector<int64_t> batch_revs;
  batch_revs.push_back(Apply({{Put("b/1", "1"), Put("a", "1")}, {Put("b/2", "1")}}));
  batch_revs.push_back(PutOne("b/1", "2"));
  batch_revs.push_back(Apply({{Del("b/1")}, {Put("c", "1"), Put("b/3", "1")}, {Put("a", "2")}}));
  batch_revs.push_back(PutOne("z", "1"));
  const int64_t last = Apply({{Put("b/2", "2")}, {Del("a")}});
  batch_revs.push_back(last);

  Received r1, r2;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i) + 1;
    WatchStream* s = (i % 2 == 0 ? s1 : s2).get();
    Received* r = i % 2 == 0 ? &r1 : &r2;
    std::vector<mvccpb::Event> want;
    for (auto& e : History(specs[i].key, specs[i].end, first, last)) {
      if (specs[i].no_delete && e.type() == mvccpb::Event::DELETE) continue;
      want.push_back(e);
    }
    ASSERT_TRUE(DrainTo(s, r, id, want.back().kv().mod_revision())) << id;
    std::vector<mvccpb::Event> got = r->events[id];
    for (auto& e : got) e.clear_prev_kv();
    ExpectSame(want, got);
    // One message per batch with a match: the batches' revisions, in order.
    std::vector<int64_t> want_revs, got_revs;
    size_t k = 0;
    for (int64_t rev : batch_revs) {
      bool any = false;
      while (k < want.size() && want[k].kv().mod_revision() <= rev) {
        any = true;
        ++k;
      }
      if (any) want_revs.push_back(rev);
    }
    for (const WatchMessage& m : r->messages) {
      if (m.watch_id == id && !m.events.empty()) got_revs.push_back(m.revision);
    }
    EXPECT_EQ(want_revs, got_revs) << id;
  }
  // prev_kv only for the watcher that asked: b/1's second put and its delete.
  const auto& p = r1.events[5];
  ASSERT_GE(p.size(), 3u);
  EXPECT_FALSE(p[0].has_prev_kv());  // b/1 created
  EXPECT_EQ(p[2].kv().key(), "b/1");
  EXPECT_EQ(p[2].prev_kv().value(), "1");
  for (const auto& e : r2.events[2]) EXPECT_FALSE(e.has_prev_kv());
}

TEST_F(WatchHubTest, CompactedStartRevisionIsCanceledWithCompactRevision) {
  StartHub();
  for (int i = 0; i < 5; ++i) PutOne("a", std::to_string(i));
  Compact(4);
  auto s = Open();
  s->Create(Req("a", "", 2));
  s->Create(Req("a", "", 4));  // at the compaction revision: still readable
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    for (const auto& m : rr.messages) {
      if (m.compact_revision != 0) return rr.events.count(1) > 0;
    }
    return false;
  }));
  ASSERT_GE(r.messages.size(), 3u);
  EXPECT_TRUE(r.messages[0].created);
  bool saw_cancel = false;
  for (const auto& m : r.messages) {
    if (m.watch_id == 0 && !m.created) {
      EXPECT_TRUE(m.canceled);
      EXPECT_EQ(m.compact_revision, 4);
      EXPECT_TRUE(m.events.empty());
      saw_cancel = true;
    }
  }
  EXPECT_TRUE(saw_cancel);
  ExpectSame(History("a", "", 4, store_->CurrentRevision()), r.events[1]);
}

// A watcher lagging behind a stream that does not drain has its history
// compacted away: it is canceled with compact_revision, after an unbroken
// prefix of events.
TEST_F(WatchHubTest, CompactionRacingACatchUp) {
  WatchHubOptions o;
  o.stream_max_messages = 1;
  o.catchup_max_events = 2;
  StartHub(o);
  for (int i = 0; i < 30; ++i) PutOne("a", std::to_string(i));
  auto s = Open();
  s->Create(Req("a", "", 2));
  Received r;
  // Read a little of the replay, then stop reading: the queue fills up.
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    return rr.events.count(0) > 0 && rr.events.at(0).size() >= 4;
  }));
  std::this_thread::sleep_for(50ms);
  const int64_t cur = store_->CurrentRevision();
  const auto before = History("a", "", 2, cur);
  Compact(cur - 5);
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    return !rr.messages.empty() && rr.messages.back().compact_revision != 0;
  }));
  EXPECT_EQ(r.messages.back().compact_revision, cur - 5);
  EXPECT_TRUE(r.messages.back().canceled);
  const auto& got = r.events[0];
  ASSERT_FALSE(got.empty());
  ExpectSame(std::vector<mvccpb::Event>(before.begin(), before.begin() + got.size()), got);
  EXPECT_LT(got.back().kv().mod_revision(), cur - 5);
  EXPECT_EQ(hub_->GetStats().unsynced, 0u);
}

TEST_F(WatchHubTest, SlowStreamIsMovedToUnsyncedAndCatchesUp) {
  WatchHubOptions o;
  o.stream_max_messages = 4;
  StartHub(o);
  auto fast = Open();
  auto slow = Open();
  fast->Create(Req("k", "l"));
  slow->Create(Req("k", "l"));
  const int64_t from = store_->CurrentRevision() + 1;
  Received rf, rs;
  int64_t last = 0;
  for (int i = 0; i < 300; ++i) {
    last = Apply({{Put("k" + std::to_string(i % 7), std::string(100, 'x'))}});
    DrainUntil(
        fast.get(), &rf, [](const Received&) { return true; }, 0ms);
  }
  ASSERT_TRUE(DrainTo(fast.get(), &rf, 0, last));
  ExpectSame(History("k", "l", from, last), rf.events[0]);
  // The slow stream never held more than its bound, and its watcher fell
  // back to storage.
  // (the fast one may have lagged for a moment too, if the hub thread
  // dispatched several batches at once; it catches up by itself)
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub_->GetStats().unsynced != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(hub_->GetStats().unsynced, 1u);
  EXPECT_TRUE(slow->Backlogged());
  // What /metrics reports as queued: the slow stream's full queue, the
  // drained fast one adds nothing.
  EXPECT_EQ(hub_->GetStats().queued_messages, o.stream_max_messages);
  ASSERT_TRUE(DrainTo(slow.get(), &rs, 0, last));
  ExpectSame(History("k", "l", from, last), rs.events[0]);
  EXPECT_EQ(hub_->GetStats().unsynced, 0u);
  // Back to live.
  last = PutOne("k1", "live");
  ASSERT_TRUE(DrainTo(slow.get(), &rs, 0, last));
  ExpectSame(History("k", "l", from, last), rs.events[0]);
  ASSERT_TRUE(DrainTo(fast.get(), &rf, 0, last));
  EXPECT_EQ(hub_->GetStats().queued_messages, 0u);
}

// When the hub thread cannot keep up, queued events are dropped and every
// watcher replays from storage: nothing lost, nothing repeated.
TEST_F(WatchHubTest, HubOverflowFallsBackToStorage) {
  WatchHubOptions o;
  o.max_pending_bytes = 1;  // every batch overflows
  StartHub(o);
  auto s = Open();
  s->Create(Req("", kFromKey));
  const int64_t from = store_->CurrentRevision() + 1;
  int64_t last = 0;
  for (int i = 0; i < 100; ++i)
    last = Apply({{Put("k" + std::to_string(i % 5), "v")}, {Del("k0")}});
  Received r;
  ASSERT_TRUE(DrainTo(s.get(), &r, 0, last));
  ExpectSame(History("", kFromKey, from, last), r.events[0]);
  EXPECT_GT(hub_->GetStats().overflows, 0u);
}

TEST_F(WatchHubTest, FragmentsLikeEtcd) {
  WatchHubOptions o;
  o.max_response_bytes = 400;
  StartHub(o);
  auto s = Open();
  WatchRequestOptions f = Req("k", "l");
  f.fragment = true;
  s->Create(f);
  s->Create(Req("k", "l"));
  std::vector<Op> txn;
  for (int i = 0; i < 10; ++i) txn.push_back(Put("k" + std::to_string(i), std::string(100, 'v')));
  const int64_t rev = Apply({txn});
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [&](const Received& rr) {
    return rr.events.count(0) && rr.events.count(1) && rr.events.at(0).size() == 10 &&
           rr.events.at(1).size() == 10;
  }));
  std::vector<const WatchMessage*> frags;
  for (const auto& m : r.messages) {
    if (m.watch_id == 0 && !m.created) frags.push_back(&m);
    if (m.watch_id == 1 && !m.created) {
      EXPECT_FALSE(m.fragment);
      EXPECT_EQ(m.events.size(), 10u);
    }
  }
  ASSERT_GT(frags.size(), 2u);
  for (size_t i = 0; i < frags.size(); ++i) {
    EXPECT_EQ(frags[i]->fragment, i + 1 < frags.size()) << i;
    EXPECT_EQ(frags[i]->revision, rev);
    EXPECT_LT(frags[i]->EventBytes(), o.max_response_bytes);
  }
  ExpectSame(r.events[1], r.events[0]);

  // A single event larger than the limit is sent whole.
  const int64_t big = PutOne("k0", std::string(1000, 'b'));
  ASSERT_TRUE(DrainTo(s.get(), &r, 0, big));
  EXPECT_FALSE(r.messages.back().fragment);
}

TEST_F(WatchHubTest, FiltersAndPrevKv) {
  StartHub();
  PutOne("a", "0");
  auto s = Open();
  WatchRequestOptions noput = Req("a");
  noput.no_put = true;
  WatchRequestOptions nodel = Req("a");
  nodel.no_delete = true;
  WatchRequestOptions prev = Req("a");
  prev.prev_kv = true;
  s->Create(noput);
  s->Create(nodel);
  s->Create(prev);
  PutOne("a", "1");
  Apply({{Del("a")}});
  const int64_t last = PutOne("a", "2");  // re-created: no prev_kv
  Received r;
  ASSERT_TRUE(DrainTo(s.get(), &r, 2, last));
  ASSERT_TRUE(DrainTo(s.get(), &r, 1, last));
  ASSERT_EQ(r.events[0].size(), 1u);
  EXPECT_EQ(r.events[0][0].type(), mvccpb::Event::DELETE);
  ASSERT_EQ(r.events[1].size(), 2u);
  EXPECT_EQ(r.events[1][0].type(), mvccpb::Event::PUT);
  EXPECT_EQ(r.events[1][1].type(), mvccpb::Event::PUT);
  const auto& p = r.events[2];
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].prev_kv().value(), "0");
  EXPECT_EQ(p[1].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(p[1].prev_kv().value(), "1");
  EXPECT_EQ(p[1].prev_kv().mod_revision(), p[0].kv().mod_revision());
  EXPECT_FALSE(p[2].has_prev_kv());
  EXPECT_FALSE(r.events[1][0].has_prev_kv());  // only for those who asked

  // Replayed from storage, prev_kv is the same.
  s->Create([&] {
    auto q = Req("a", "", 2);
    q.prev_kv = true;
    return q;
  }());
  Received r2;
  ASSERT_TRUE(DrainTo(s.get(), &r2, 3, last));
  ASSERT_EQ(r2.events[3].size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r2.events[3][i + 1].SerializeAsString(), p[i].SerializeAsString()) << i;
  }
}

TEST_F(WatchHubTest, RequestProgressWaitsUntilEverythingIsSynced) {
  WatchHubOptions o;
  o.stream_max_messages = 1;
  o.catchup_max_events = 1;
  StartHub(o);
  for (int i = 0; i < 10; ++i) PutOne("a", std::to_string(i));
  auto s = Open();
  s->Create(Req("a", "", 2));  // unsynced, and its stream is tiny
  s->RequestProgress();
  std::this_thread::sleep_for(50ms);
  const int64_t cur = store_->CurrentRevision();
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    return !rr.messages.empty() && rr.messages.back().watch_id == -1;
  }));
  // The progress response comes after every replayed event.
  EXPECT_EQ(r.events[0].size(), 10u);
  EXPECT_EQ(r.messages.back().revision, cur);
  EXPECT_TRUE(r.messages.back().events.empty());
  // Synced now: answered right away.
  s->RequestProgress();
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    return rr.messages.size() >= 2 && rr.messages[rr.messages.size() - 1].watch_id == -1 &&
           rr.messages[rr.messages.size() - 2].watch_id == -1;
  }));
  // A stream without watchers gets no answer, as with etcd.
  auto empty = Open();
  empty->RequestProgress();
  std::this_thread::sleep_for(50ms);
  WatchMessage m;
  EXPECT_FALSE(empty->Next(&m));
}

TEST_F(WatchHubTest, PeriodicProgressOnlyForIdleSyncedWatchersThatAskedForIt) {
  WatchHubOptions o;
  o.progress_notify_interval = 50ms;
  StartHub(o);
  auto s = Open();
  WatchRequestOptions p = Req("a");
  p.progress_notify = true;
  s->Create(p);
  s->Create(Req("b"));
  Received r;
  ASSERT_TRUE(DrainUntil(s.get(), &r, [](const Received& rr) {
    int n = 0;
    for (const auto& m : rr.messages) n += (!m.created && m.events.empty()) ? 1 : 0;
    return n >= 3;
  }));
  for (const auto& m : r.messages) {
    if (m.created) continue;
    EXPECT_EQ(m.watch_id, 0);
    EXPECT_TRUE(m.events.empty());
    EXPECT_EQ(m.revision, store_->CurrentRevision());
  }
}

TEST_F(WatchHubTest, ClosedStreamReleasesWatchers) {
  StartHub();
  auto s = hub_->OpenStream([] {});
  for (int i = 0; i < 100; ++i) s->Create(Req("k" + std::to_string(i), "", i % 2 ? 0 : 1));
  s->Close();
  auto st = hub_->GetStats();
  EXPECT_EQ(st.synced + st.unsynced, 0u);
  EXPECT_EQ(st.streams, 0u);
  PutOne("k1", "x");  // nothing to deliver to, nothing breaks
}

}  // namespace
}  // namespace capstan::watch
