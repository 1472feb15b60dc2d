// RaftStatus: a point-in-time description of a member, for monitoring,
// debugging and the server's status endpoints.
#pragma once

#include <cstdint>
#include <map>

#include "raft/progress.h"
#include "raft/ready.h"
#include "raftpb.pb.h"

namespace capstan::raft {

struct RaftStatus {
  uint64_t id = 0;
  raftpb::HardState hard_state;
  SoftState soft_state;
  uint64_t applied = 0;
  uint64_t last_index = 0;
  uint64_t lead_transferee = 0;
  raftpb::ConfState conf_state;
  // Leader only: every member's replication progress.
  std::map<uint64_t, Progress> progress;
};

}  // namespace capstan::raft
