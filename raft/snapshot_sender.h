// SnapshotSender: streams the state machine to a member that needs a snapshot.
//
// As in etcd, the Raft snapshot itself carries only metadata (index, term,
// membership); the state machine travels beside it. When the core asks to
// send a MSG_SNAP, the driver hands it here instead: a background thread
// asks the state machine for a consistent copy of itself (a file, at an
// applied index at or after the snapshot's), sends it over the data channel
// in MSG_SNAP_CHUNK messages of kChunkBytes, never more than kWindowBytes
// ahead of the wire, and then sends the MSG_SNAP. The receiver
// (SnapshotReceiver) only steps the MSG_SNAP into its core once the whole
// file arrived intact. The outcome goes back to the core through `done`
// (RawNode::ReportSnapshot); a lost chunk fails the transfer and the core
// tries again later.
//
// The data channel carries appends too, so a heartbeat is never delayed (it
// has its own channel) but appends queue behind the snapshot, which is what
// the follower needs first anyway.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "raft/peer_transport.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

class SnapshotSender {
 public:
  static constexpr size_t kChunkBytes = 1 << 20;
  static constexpr size_t kWindowBytes = 8 << 20;

  // Writes a consistent copy of the state machine to `path`.
  using SaveFn = std::function<Status(const std::string& path)>;
  // Called on the sender's thread once a transfer to `to` finished or failed.
  using DoneFn = std::function<void(uint64_t to, bool ok)>;

  SnapshotSender(std::string dir, PeerTransport* transport, SaveFn save, DoneFn done);
  ~SnapshotSender();  // abandons queued transfers and waits for the current one
  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // Queues the transfer that `msg_snap` (a MSG_SNAP from the core) starts.
  void Send(raftpb::Message msg_snap);

 private:
  void Run();
  bool Transfer(const raftpb::Message& msg_snap);

  const std::string dir_;
  PeerTransport* const transport_;
  const SaveFn save_;
  const DoneFn done_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<raftpb::Message> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace capstan::raft
