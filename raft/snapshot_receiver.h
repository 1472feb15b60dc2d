// SnapshotReceiver: collects the state-machine file that a SnapshotSender
// streams ahead of a MSG_SNAP, one transfer per sending member.
//
// Chunks must arrive in order (one data connection carries them); a gap
// (a dropped frame, a new connection) abandons the transfer, and the MSG_SNAP
// that follows is then not taken: the leader tries again. A file is complete
// when its last chunk arrived and the checksum of the whole matches.
//
// Thread-safe (chunks arrive on the transport's thread; the driver collects
// files on its own).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <xxhash.h>

#include "raft/wal_io.h"
#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

class SnapshotReceiver {
 public:
  // Files go to `dir`, which is created, and emptied of earlier transfers.
  explicit SnapshotReceiver(std::string dir);
  ~SnapshotReceiver() = default;
  SnapshotReceiver(const SnapshotReceiver&) = delete;
  SnapshotReceiver& operator=(const SnapshotReceiver&) = delete;

  Status Init();

  // A MSG_SNAP_CHUNK.
  void OnChunk(const raftpb::Message& m);
  // A MSG_SNAP: whether its file arrived whole from the same sender; if so,
  // the file is handed over (*path) and the receiver forgets it.
  bool TakeFile(const raftpb::Message& msg_snap, std::string* path);

 private:
  struct Transfer {
    uint64_t snapshot_index = 0;
    uint64_t next_offset = 0;
    walio::UniqueFd fd;
    std::string path;
    std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> hash{nullptr, XXH3_freeState};
    bool complete = false;
  };
  // Forgets the transfer from `from`, removing its file.
  void DropLocked(uint64_t from);

  const std::string dir_;
  std::mutex mu_;
  std::map<uint64_t, Transfer> transfers_;  // by sender
  uint64_t transfers_started_ = 0;
};

}  // namespace capstan::raft
