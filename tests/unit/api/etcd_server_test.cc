#include "api/etcd_server.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "raft/wal.h"
#include "storage/temp_dir.h"

namespace capstan::api {
namespace {

Status ProposeSync(EtcdServer* s, std::shared_ptr<internalpb::InternalRequest> req,
                   google::protobuf::Message* resp) {
  std::promise<Status> done;
  s->Propose(std::move(req), resp, [&](Status st) { done.set_value(st); });
  return done.get_future().get();
}

std::shared_ptr<internalpb::InternalRequest> PutRequest(const std::string& k,
                                                        const std::string& v) {
  auto req = std::make_shared<internalpb::InternalRequest>();
  req->mutable_put()->set_key(k);
  req->mutable_put()->set_value(v);
  return req;
}

class EtcdServerTest : public ::testing::Test {
 protected:
  void Start() {
    EtcdServerOptions o;
    o.data_dir = dir_.Sub("data");
    o.peer_urls = {"http://127.0.0.1:2380"};
    o.wal_segment_bytes = 1 << 20;
    ASSERT_TRUE(EtcdServer::Start(o, &server_).ok());
  }
  void Stop() { server_.reset(); }
  std::string Get(const std::string& k) {
    RangeResult rr;
    EXPECT_TRUE(server_->store()->Range({k, ""}, {}, &rr).ok());
    return rr.kvs.empty() ? "<none>" : rr.kvs[0].value();
  }

  TempDir dir_;
  std::unique_ptr<EtcdServer> server_;
};

TEST_F(EtcdServerTest, WritesSurviveRestart) {
  Start();
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(ProposeSync(server_.get(), PutRequest("a", "1"), &resp).ok());
  EXPECT_EQ(resp.header().revision(), 2);
  ASSERT_TRUE(ProposeSync(server_.get(), PutRequest("b", "2"), &resp).ok());
  const uint64_t member = server_->member_id();
  Stop();
  Start();
  EXPECT_EQ(Get("a"), "1");
  EXPECT_EQ(Get("b"), "2");
  EXPECT_EQ(server_->store()->CurrentRevision(), 3);
  EXPECT_EQ(server_->member_id(), member);  // identity is kept, not re-derived
}

TEST_F(EtcdServerTest, ReplaysEntriesAppendedButNotApplied) {
  // The state a crash leaves between the WAL append and the apply: entries in
  // the log beyond the store's applied index.
  Start();
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(ProposeSync(server_.get(), PutRequest("a", "1"), &resp).ok());
  const uint64_t applied = server_->store()->AppliedIndex();
  Stop();
  {
    std::unique_ptr<raft::Wal> wal;
    raft::WalContents contents;
    ASSERT_TRUE(raft::Wal::Open(dir_.Sub("data/member/wal"), {}, &wal, &contents).ok());
    ASSERT_EQ(contents.entries.back().index(), applied);
    std::vector<raftpb::Entry> entries(2);
    for (int i = 0; i < 2; ++i) {
      entries[i].set_term(1);
      entries[i].set_index(applied + 1 + i);
      entries[i].set_data(PutRequest("k" + std::to_string(i), "v")->SerializeAsString());
    }
    ASSERT_TRUE(wal->Save(nullptr, entries, true).ok());
  }
  Start();
  EXPECT_EQ(Get("k0"), "v");
  EXPECT_EQ(Get("k1"), "v");
  // Both replayed; the empty entry the log starts with may follow them.
  EXPECT_GE(server_->store()->AppliedIndex(), applied + 2);
  EXPECT_LE(server_->store()->AppliedIndex(), applied + 3);
  const int64_t rev = server_->store()->CurrentRevision();
  EXPECT_EQ(rev, 4);
  Stop();
  Start();  // applied entries are not applied twice
  EXPECT_EQ(server_->store()->CurrentRevision(), rev);
  ASSERT_TRUE(ProposeSync(server_.get(), PutRequest("c", "3"), &resp).ok());
  EXPECT_EQ(resp.header().revision(), rev + 1);
}

TEST_F(EtcdServerTest, ConcurrentProposalsGetDistinctRevisions) {
  Start();
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> revisions;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        etcdserverpb::PutResponse resp;
        Status s = ProposeSync(server_.get(),
                               PutRequest("t" + std::to_string(t) + "/" + std::to_string(i), "x"),
                               &resp);
        ASSERT_TRUE(s.ok()) << s.ToString();
        std::lock_guard l(mu);
        revisions.insert(resp.header().revision());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(revisions.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*revisions.begin(), 2);
  EXPECT_EQ(*revisions.rbegin(), 1 + kThreads * kPerThread);
}

TEST_F(EtcdServerTest, ReadBarrierSeesAcknowledgedWrites) {
  Start();
  for (int i = 0; i < 50; ++i) {
    std::string k = "k" + std::to_string(i);
    auto req = PutRequest(k, "v");
    auto resp = std::make_shared<etcdserverpb::PutResponse>();
    std::promise<void> applied;
    server_->Propose(req, resp.get(), [&](Status) { applied.set_value(); });
    applied.get_future().wait();
    std::promise<Status> barrier;
    server_->ReadBarrier([&](Status s) { barrier.set_value(s); });
    ASSERT_TRUE(barrier.get_future().get().ok());
    EXPECT_EQ(Get(k), "v");
  }
}

TEST_F(EtcdServerTest, OversizedProposalIsRefused) {
  Start();
  etcdserverpb::PutResponse resp;
  Status s = ProposeSync(server_.get(), PutRequest("big", std::string(2 << 20, 'x')), &resp);
  EXPECT_EQ(s.message(), "request is too large");
}

std::vector<std::string> WalSegments(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") v.push_back(e.path().string());
  }
  std::sort(v.begin(), v.end());
  return v;
}

TEST(EtcdServerGapTest, DataDirOlderThanItsWalIsRefused) {
  // A data dir restored from an older backup while --wal-dir (elsewhere)
  // kept going: the WAL no longer holds what the old store lacks.
  TempDir dir;
  EtcdServerOptions o;
  o.data_dir = dir.Sub("data");
  o.wal_dir = dir.Sub("wal");
  o.peer_urls = {"http://127.0.0.1:2380"};
  o.wal_segment_bytes = 4096;
  o.snapshot_count = 1;  // checkpoint and release the WAL after every write
  std::unique_ptr<EtcdServer> server;
  etcdserverpb::PutResponse resp;
  ASSERT_TRUE(EtcdServer::Start(o, &server).ok());
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(ProposeSync(server.get(), PutRequest("old" + std::to_string(i), "v"), &resp).ok());
  }
  server.reset();
  std::filesystem::copy(o.data_dir, dir.Sub("backup"), std::filesystem::copy_options::recursive);
  ASSERT_TRUE(EtcdServer::Start(o, &server).ok());
  for (int i = 0; i < 60; i++) {
    ASSERT_TRUE(
        ProposeSync(server.get(), PutRequest("k" + std::to_string(i), std::string(500, 'v')), &resp)
            .ok());
  }
  // Until the WAL's oldest segment starts well after the backup's store
  // (names are <seq>-<first index>.wal, in hex).
  for (int polls = 0; polls < 100; polls++) {
    const auto segs = WalSegments(o.wal_dir);
    if (!segs.empty() && std::stoull(std::filesystem::path(segs.front()).stem().string().substr(17),
                                     nullptr, 16) > 10) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server.reset();
  std::filesystem::remove_all(o.data_dir);
  std::filesystem::rename(dir.Sub("backup"), o.data_dir);
  Status s = EtcdServer::Start(o, &server);
  ASSERT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("but the log starts at index"), std::string::npos) << s.message();
}

// In a death test's child: a member that checkpoints after every write,
// whose store fsync fails once after 30 puts (then "succeeds" again,
// as after fsyncgate). Writes the WAL segments present at the failure to
// `record`, then keeps writing.
void RunUntilStoreFsyncFails(const std::string& data_dir, const std::string& record) {
  // The fatal line goes through the Logger; here (the death test's child) to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("death-test"));
  auto fail = std::make_shared<std::atomic<bool>>(false);
  EtcdServerOptions o;
  o.data_dir = data_dir;
  o.peer_urls = {"http://127.0.0.1:2380"};
  o.wal_segment_bytes = 4096;
  o.snapshot_count = 1;  // a checkpoint (and a WAL release) after every applied batch
  o.store_sync_fault = [fail] {
    return fail->exchange(false) ? Status::IOError("fsync: Input/output error (injected)")
                                 : Status::OK();
  };
  std::unique_ptr<EtcdServer> server;
  if (!EtcdServer::Start(o, &server).ok()) return;
  etcdserverpb::PutResponse resp;
  auto put = [&](int i) {
    return ProposeSync(server.get(), PutRequest("k" + std::to_string(i), std::string(500, 'v')),
                       &resp);
  };
  for (int i = 0; i < 30; i++) put(i);
  // Let the checkpoints and releases those writes asked for finish: the
  // segment list stays the same for a while.
  std::vector<std::string> segs = WalSegments(data_dir + "/member/wal");
  for (int stable = 0, polls = 0; stable < 5 && polls < 100; polls++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::vector<std::string> now = WalSegments(data_dir + "/member/wal");
    stable = now == segs ? stable + 1 : 0;
    segs = std::move(now);
  }
  {
    std::ofstream out(record);
    for (const auto& seg : segs) out << seg << "\n";
  }
  fail->store(true);
  for (int i = 30; i < 60; i++) put(i);
  std::this_thread::sleep_for(std::chrono::seconds(2));
}

TEST(EtcdServerDeathTest, FailedStoreFsyncStopsTheMemberAndKeepsTheLog) {
  // "fast" (fork, the child runs just the statement): the child must use
  // this test's directory. No server runs in this process at the fork.
  GTEST_FLAG_SET(death_test_style, "fast");
  TempDir dir;
  const std::string record = dir.Sub("segments-at-failure");
  EXPECT_DEATH(RunUntilStoreFsyncFails(dir.Sub("data"), record),
               "fatal: store checkpoint failed: .*injected.*the log is kept");
  // Nothing was released after the failure.
  std::ifstream in(record);
  std::string seg;
  int n = 0;
  while (std::getline(in, seg)) {
    EXPECT_TRUE(std::filesystem::exists(seg)) << seg << " was released";
    n++;
  }
  EXPECT_GT(n, 0);
  // A restart replays the log onto the last good checkpoint: nothing lost.
  EtcdServerOptions o;
  o.data_dir = dir.Sub("data");
  o.peer_urls = {"http://127.0.0.1:2380"};
  o.wal_segment_bytes = 4096;
  std::unique_ptr<EtcdServer> server;
  ASSERT_TRUE(EtcdServer::Start(o, &server).ok());
  RangeResult rr;
  ASSERT_TRUE(server->store()->Range({"k", "l"}, {}, &rr).ok());
  EXPECT_GE(rr.count, 30);
}

}  // namespace
}  // namespace capstan::api
