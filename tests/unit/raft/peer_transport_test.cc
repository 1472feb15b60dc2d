#include "raft/peer_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace capstan::raft {
namespace {

using namespace std::chrono_literals;

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<raftpb::Message> got;
  void Push(raftpb::Message m) {
    std::lock_guard l(mu);
    got.push_back(std::move(m));
    cv.notify_all();
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock l(mu);
    return cv.wait_for(l, timeout, [&] { return got.size() >= n; });
  }
};

std::unique_ptr<PeerTransport> StartNode(uint64_t id, uint64_t cluster, Inbox* inbox) {
  PeerTransportOptions o;
  o.local_id = id;
  o.cluster_id = cluster;
  o.listen_addresses = {"127.0.0.1:0"};
  std::unique_ptr<PeerTransport> t;
  EXPECT_TRUE(
      PeerTransport::Start(o, [inbox](raftpb::Message m) { inbox->Push(std::move(m)); }, &t).ok());
  return t;
}

raftpb::Message Msg(raftpb::MessageType type, uint64_t from, uint64_t to, uint64_t index,
                    size_t payload = 0) {
  raftpb::Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_index(index);
  if (payload) m.add_entries()->set_data(std::string(payload, 'x'));
  return m;
}

TEST(PeerTransportTest, DeliversInOrderPerChannel) {
  Inbox in1, in2;
  auto t1 = StartNode(1, 7, &in1);
  auto t2 = StartNode(2, 7, &in2);
  t1->AddPeer(2, {"127.0.0.1:" + std::to_string(t2->ListeningPorts()[0])});
  // The first messages may be dropped while the connection comes up; Raft
  // retransmits, and so does this test until the link is up.
  for (int i = 0; i < 50 && in2.got.empty(); ++i) {
    t1->Send({Msg(raftpb::MSG_HEARTBEAT, 1, 2, 0)});
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(in2.WaitFor(1));
  {
    std::lock_guard l(in2.mu);
    in2.got.clear();
  }
  // Appends go in order, big ones included, while heartbeats keep flowing.
  constexpr int kN = 200;
  std::vector<raftpb::Message> batch;
  for (int i = 1; i <= kN; ++i) batch.push_back(Msg(raftpb::MSG_APP, 1, 2, i, i % 10 == 0 ? 1 << 20 : 100));
  t1->Send(std::move(batch));
  t1->Send({Msg(raftpb::MSG_HEARTBEAT, 1, 2, 0)});
  ASSERT_TRUE(in2.WaitFor(kN + 1));
  std::lock_guard l(in2.mu);
  uint64_t last = 0;
  for (const auto& m : in2.got) {
    if (m.type() != raftpb::MSG_APP) continue;
    EXPECT_EQ(m.index(), last + 1);
    last = m.index();
    EXPECT_EQ(m.from(), 1u);
  }
  EXPECT_EQ(last, static_cast<uint64_t>(kN));
}

TEST(PeerTransportTest, RefusesOtherClusters) {
  Inbox in1, in2;
  auto t1 = StartNode(1, 7, &in1);
  auto t2 = StartNode(2, 8, &in2);  // different cluster
  t1->AddPeer(2, {"127.0.0.1:" + std::to_string(t2->ListeningPorts()[0])});
  for (int i = 0; i < 10; ++i) {
    t1->Send({Msg(raftpb::MSG_HEARTBEAT, 1, 2, 0)});
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(in2.WaitFor(1, 200ms));
}

TEST(PeerTransportTest, ReportsUnreachablePeers) {
  Inbox in1;
  auto t1 = StartNode(1, 7, &in1);
  t1->AddPeer(2, {"127.0.0.1:1"});  // nothing listens there
  t1->Send({Msg(raftpb::MSG_APP, 1, 2, 1)});
  t1->Send({Msg(raftpb::MSG_APP, 1, 3, 1)});  // unknown peer
  std::vector<uint64_t> unreachable;
  for (int i = 0; i < 100 && unreachable.size() < 2; ++i) {
    for (uint64_t id : t1->TakeUnreachable()) {
      if (std::find(unreachable.begin(), unreachable.end(), id) == unreachable.end()) {
        unreachable.push_back(id);
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  std::sort(unreachable.begin(), unreachable.end());
  EXPECT_EQ(unreachable, (std::vector<uint64_t>{2, 3}));
}

TEST(PeerTransportTest, ReconnectsAfterPeerRestart) {
  Inbox in1, in2;
  auto t1 = StartNode(1, 7, &in1);
  auto t2 = StartNode(2, 7, &in2);
  const uint16_t port = t2->ListeningPorts()[0];
  t1->AddPeer(2, {"127.0.0.1:" + std::to_string(port)});
  for (int i = 0; i < 50 && !in2.WaitFor(1, 20ms); ++i) t1->Send({Msg(raftpb::MSG_HEARTBEAT, 1, 2, 0)});
  ASSERT_TRUE(in2.WaitFor(1));
  t2.reset();
  // A new member on the same port.
  Inbox in3;
  PeerTransportOptions o;
  o.local_id = 2;
  o.cluster_id = 7;
  o.listen_addresses = {"127.0.0.1:" + std::to_string(port)};
  std::unique_ptr<PeerTransport> t3;
  ASSERT_TRUE(PeerTransport::Start(o, [&](raftpb::Message m) { in3.Push(std::move(m)); }, &t3).ok());
  for (int i = 0; i < 200 && !in3.WaitFor(1, 20ms); ++i) t1->Send({Msg(raftpb::MSG_HEARTBEAT, 1, 2, 0)});
  EXPECT_TRUE(in3.WaitFor(1));
}


// Resident memory of this process, in KiB.
long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A connection that passed the handshake (the cluster id is no secret) and
// announces a frame near the 512 MiB limit costs memory for the bytes it
// sends, not for the length it claims.
TEST(PeerTransportTest, AnnouncedFrameLengthReservesNoMemory) {
  Inbox inbox;
  auto t = StartNode(1, 7, &inbox);
  const long before = ResidentKiB();
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(t->ListeningPorts()[0]);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string hello(25, '\0');
    const uint64_t magic = 0x3154464152504143ULL, cluster = 7, from = 99;
    std::memcpy(hello.data(), &magic, 8);  // little-endian, as the transport writes it
    std::memcpy(hello.data() + 8, &cluster, 8);
    std::memcpy(hello.data() + 16, &from, 8);
    const uint32_t len = 500u << 20;
    hello.append(reinterpret_cast<const char*>(&len), 4);
    hello.append("partial frame");
    ASSERT_EQ(::write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  const long grown_mib = (ResidentKiB() - before) / 1024;
  for (int fd : fds) ::close(fd);
  EXPECT_LT(grown_mib, 64) << "two announced 500 MiB frames grew the process by " << grown_mib
                           << " MiB";
}

}  // namespace
}  // namespace capstan::raft
