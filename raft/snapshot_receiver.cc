#include "raft/snapshot_receiver.h"

#include <fcntl.h>

#include <cstdio>

namespace capstan::raft {

SnapshotReceiver::SnapshotReceiver(std::string dir) : dir_(std::move(dir)) {}

Status SnapshotReceiver::Init() {
  Status s = walio::CreateDir(dir_);
  if (!s.ok()) return s;
  std::vector<std::string> names;
  s = walio::ListDir(dir_, &names);
  if (!s.ok()) return s;
  // Leftovers of transfers a crash interrupted (or that were never taken).
  for (const std::string& n : names) {
    if (n.rfind("recv-", 0) == 0) walio::RemoveFile(dir_ + "/" + n);
  }
  return Status::OK();
}

void SnapshotReceiver::DropLocked(uint64_t from) {
  auto it = transfers_.find(from);
  if (it == transfers_.end()) return;
  it->second.fd.Reset();
  walio::RemoveFile(it->second.path);
  transfers_.erase(it);
}

void SnapshotReceiver::OnChunk(const raftpb::Message& m) {
  const raftpb::SnapshotChunk& c = m.snapshot_chunk();
  std::lock_guard l(mu_);
  if (c.offset() == 0) {
    DropLocked(m.from());  // a new transfer replaces an unfinished one
    Transfer t;
    t.snapshot_index = c.snapshot_index();
    // A name of its own: the leader may send the same snapshot again while
    // the driver still installs the file of an earlier transfer.
    t.path = dir_ + "/recv-" + std::to_string(m.from()) + "-" + std::to_string(c.snapshot_index()) +
             "-" + std::to_string(++transfers_started_) + ".db";
    if (!walio::OpenFile(t.path, O_CREAT | O_TRUNC | O_WRONLY, &t.fd).ok()) return;
    t.hash.reset(XXH3_createState());
    XXH3_64bits_reset(t.hash.get());
    transfers_.emplace(m.from(), std::move(t));
  }
  auto it = transfers_.find(m.from());
  if (it == transfers_.end()) return;
  Transfer& t = it->second;
  if (t.complete || c.snapshot_index() != t.snapshot_index || c.offset() != t.next_offset) {
    DropLocked(m.from());  // a gap: this transfer cannot complete
    return;
  }
  if (!walio::WriteAt(t.fd.get(), t.path, c.data(), c.offset()).ok()) {
    DropLocked(m.from());
    return;
  }
  XXH3_64bits_update(t.hash.get(), c.data().data(), c.data().size());
  t.next_offset += c.data().size();
  if (!c.last()) return;
  if (XXH3_64bits_digest(t.hash.get()) != c.checksum() ||
      !walio::SyncData(t.fd.get(), t.path).ok()) {
    fprintf(stderr, "capstan: snapshot from %llx arrived damaged; waiting for another\n",
            static_cast<unsigned long long>(m.from()));
    DropLocked(m.from());
    return;
  }
  t.fd.Reset();
  t.complete = true;
}

bool SnapshotReceiver::TakeFile(const raftpb::Message& msg_snap, std::string* path) {
  std::lock_guard l(mu_);
  auto it = transfers_.find(msg_snap.from());
  if (it == transfers_.end() || !it->second.complete ||
      it->second.snapshot_index != msg_snap.snapshot().metadata().index()) {
    return false;
  }
  *path = std::move(it->second.path);
  transfers_.erase(it);
  return true;
}

}  // namespace capstan::raft
