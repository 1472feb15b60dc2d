// ReadOnly: a leader's pending ReadIndex requests (Raft thesis, 6.4).
//
// A linearizable read may be served once the state machine has applied the
// commit index the leader had when the read arrived, provided the leader was
// still the leader at that moment. The leader records the request with its
// commit index, then sends a heartbeat round carrying the request's context;
// once a quorum of voters has answered that heartbeat, no newer leader can
// have committed anything the recorded index misses, and the request (with
// every earlier one, which the same round also confirms) is released.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "raftpb.pb.h"

namespace capstan::raft {

struct ReadIndexStatus {
  raftpb::Message request;  // the MsgReadIndex, to answer its sender
  uint64_t index = 0;       // commit index when it arrived
  std::set<uint64_t> acks;  // voters (and self) that answered the heartbeat
};

class ReadOnly {
 public:
  // The key of a request: its sender's id, then its context (each member
  // numbers its own requests, so contexts alone may collide).
  static std::string Key(uint64_t from, const std::string& context);
  // Records a request under `key`, which the confirming heartbeats carry; a
  // duplicate key is ignored (a retransmission: it is already waiting).
  void AddRequest(const std::string& key, uint64_t index, const raftpb::Message& request);
  // Records id's heartbeat answer for key `context`; returns the acks so far,
  // or nullptr if no request has that key (e.g. from an earlier term).
  const std::set<uint64_t>* RecvAck(uint64_t id, const std::string& context);
  // Releases the request with key `context` and every request queued before it.
  std::vector<ReadIndexStatus> Advance(const std::string& context);
  // Key of the newest request, for heartbeats ("" if none).
  std::string LastPendingContext() const;
  size_t PendingCount() const { return queue_.size(); }
  void Reset();

 private:
  std::unordered_map<std::string, ReadIndexStatus> pending_;
  std::deque<std::string> queue_;
};

}  // namespace capstan::raft
