// SnapshotSender and SnapshotReceiver: a state-machine file streamed ahead of
// its MSG_SNAP, over real transports on loopback, and the receiver's rules
// for chunks that arrive out of order, damaged, or twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "raft/peer_transport.h"
#include "raft/snapshot_receiver.h"
#include "raft/snapshot_sender.h"
#include "raft/wal_io.h"
#include "storage/temp_dir.h"

namespace capstan::raft {
namespace {

using namespace std::chrono_literals;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

std::string ReadAll(const std::string& path) {
  std::string out;
  EXPECT_TRUE(walio::ReadFile(path, &out).ok());
  return out;
}

raftpb::Message MsgSnap(uint64_t from, uint64_t to, uint64_t index) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_SNAP);
  m.set_from(from);
  m.set_to(to);
  m.mutable_snapshot()->mutable_metadata()->set_index(index);
  return m;
}

raftpb::Message Chunk(uint64_t from, uint64_t index, uint64_t offset, std::string data, bool last,
                      uint64_t checksum = 0) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_SNAP_CHUNK);
  m.set_from(from);
  m.set_to(2);
  auto* c = m.mutable_snapshot_chunk();
  c->set_snapshot_index(index);
  c->set_offset(offset);
  c->set_data(std::move(data));
  c->set_last(last);
  c->set_checksum(checksum);
  return m;
}

TEST(SnapshotReceiverTest, CompleteOrderedTransferIsTaken) {
  TempDir dir;
  SnapshotReceiver r(dir.Sub("snap"));
  ASSERT_TRUE(r.Init().ok());
  const std::string data = Pattern(10000);
  r.OnChunk(Chunk(1, 50, 0, data.substr(0, 4000), false));
  r.OnChunk(Chunk(1, 50, 4000, data.substr(4000), true, XXH3_64bits(data.data(), data.size())));
  std::string path;
  EXPECT_FALSE(r.TakeFile(MsgSnap(1, 2, 49), &path)) << "another snapshot's MSG_SNAP";
  EXPECT_FALSE(r.TakeFile(MsgSnap(3, 2, 50), &path)) << "another sender's MSG_SNAP";
  ASSERT_TRUE(r.TakeFile(MsgSnap(1, 2, 50), &path));
  EXPECT_EQ(ReadAll(path), data);
  EXPECT_FALSE(r.TakeFile(MsgSnap(1, 2, 50), &path)) << "a file is handed over once";
}

TEST(SnapshotReceiverTest, GapOrBadChecksumLosesTheTransfer) {
  TempDir dir;
  SnapshotReceiver r(dir.Sub("snap"));
  ASSERT_TRUE(r.Init().ok());
  const std::string data = Pattern(9000);
  const uint64_t sum = XXH3_64bits(data.data(), data.size());
  std::string path;
  // A chunk missing in the middle.
  r.OnChunk(Chunk(1, 7, 0, data.substr(0, 3000), false));
  r.OnChunk(Chunk(1, 7, 6000, data.substr(6000), true, sum));
  EXPECT_FALSE(r.TakeFile(MsgSnap(1, 2, 7), &path));
  // Everything there, but damaged.
  std::string bad = data;
  bad[5000] ^= 1;
  r.OnChunk(Chunk(1, 7, 0, bad.substr(0, 3000), false));
  r.OnChunk(Chunk(1, 7, 3000, bad.substr(3000), true, sum));
  EXPECT_FALSE(r.TakeFile(MsgSnap(1, 2, 7), &path));
  // A chunk without its start.
  r.OnChunk(Chunk(1, 7, 3000, data.substr(3000), true, sum));
  EXPECT_FALSE(r.TakeFile(MsgSnap(1, 2, 7), &path));
  // Nothing of the failed transfers is left behind.
  std::vector<std::string> names;
  ASSERT_TRUE(walio::ListDir(dir.Sub("snap"), &names).ok());
  EXPECT_TRUE(names.empty());
}

TEST(SnapshotReceiverTest, ResentSnapshotDoesNotTouchTheFileAlreadyTaken) {
  // The leader may send the same snapshot again while the first copy is
  // being installed: the installed file must stay intact.
  TempDir dir;
  SnapshotReceiver r(dir.Sub("snap"));
  ASSERT_TRUE(r.Init().ok());
  const std::string data = Pattern(5000);
  const uint64_t sum = XXH3_64bits(data.data(), data.size());
  r.OnChunk(Chunk(1, 9, 0, data, true, sum));
  std::string first;
  ASSERT_TRUE(r.TakeFile(MsgSnap(1, 2, 9), &first));
  r.OnChunk(Chunk(1, 9, 0, data.substr(0, 100), false));  // the resend starts
  EXPECT_EQ(ReadAll(first), data);
  r.OnChunk(Chunk(1, 9, 100, data.substr(100), true, sum));
  std::string second;
  ASSERT_TRUE(r.TakeFile(MsgSnap(1, 2, 9), &second));
  EXPECT_NE(first, second);
  EXPECT_EQ(ReadAll(first), data);
  EXPECT_EQ(ReadAll(second), data);
}

TEST(SnapshotTransferTest, SenderStreamsAFileLargerThanTheWindow) {
  TempDir dir;
  SnapshotReceiver receiver(dir.Sub("recv"));
  ASSERT_TRUE(receiver.Init().ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> taken;
  auto handler = [&](raftpb::Message m) {
    if (m.type() == raftpb::MSG_SNAP_CHUNK) {
      receiver.OnChunk(m);
      return;
    }
    if (m.type() != raftpb::MSG_SNAP) return;
    std::string path;
    std::lock_guard l(mu);
    taken.push_back(receiver.TakeFile(m, &path) ? path : "");
    cv.notify_all();
  };
  PeerTransportOptions o;
  o.cluster_id = 7;
  o.listen_addresses = {"127.0.0.1:0"};
  o.local_id = 2;
  std::unique_ptr<PeerTransport> t2, t1;
  ASSERT_TRUE(PeerTransport::Start(o, handler, &t2).ok());
  o.local_id = 1;
  ASSERT_TRUE(PeerTransport::Start(
                  o, [](raftpb::Message) {}, &t1)
                  .ok());
  t1->AddPeer(2, {"127.0.0.1:" + std::to_string(t2->ListeningPorts()[0])});

  // 20 MiB: more than twice the sender's window, several chunks.
  const std::string data = Pattern(20 << 20);
  std::vector<std::pair<uint64_t, bool>> done;
  SnapshotSender sender(
      dir.Sub("send"), t1.get(),
      [&](const std::string& path) {
        std::ofstream(path, std::ios::binary) << data;
        return Status::OK();
      },
      [&](uint64_t to, bool ok) {
        std::lock_guard l(mu);
        done.emplace_back(to, ok);
        cv.notify_all();
      });
  // The first connection may not be up yet: like the core, retry on failure.
  for (int attempt = 0; attempt < 20; ++attempt) {
    sender.Send(MsgSnap(1, 2, 1234));
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 60s, [&] { return done.size() > static_cast<size_t>(attempt); }));
    if (done.back().second) break;
    l.unlock();
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(done.back().second);
  std::unique_lock l(mu);
  ASSERT_TRUE(cv.wait_for(l, 30s, [&] { return !taken.empty() && !taken.back().empty(); }));
  EXPECT_EQ(ReadAll(taken.back()), data);
  // The sender's copy is gone once sent.
  std::vector<std::string> names;
  ASSERT_TRUE(walio::ListDir(dir.Sub("send"), &names).ok());
  EXPECT_TRUE(names.empty());
}

}  // namespace
}  // namespace capstan::raft
