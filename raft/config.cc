#include "raft/config.h"

namespace capstan::raft {

Status Config::Validate() const {
  if (id == 0) return Status::InvalidArgument("raft: id must not be 0");
  if (heartbeat_tick <= 0) return Status::InvalidArgument("raft: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return Status::InvalidArgument("raft: election_tick must be greater than heartbeat_tick");
  }
  if (storage == nullptr) return Status::InvalidArgument("raft: storage must be set");
  if (max_inflight_msgs == 0) return Status::InvalidArgument("raft: max_inflight_msgs must be > 0");
  return Status::OK();
}

}  // namespace capstan::raft
