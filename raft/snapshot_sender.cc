#include "raft/snapshot_sender.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "raft/wal_io.h"

namespace capstan::raft {

SnapshotSender::SnapshotSender(std::string dir, PeerTransport* transport, SaveFn save, DoneFn done)
    : dir_(std::move(dir)),
      transport_(transport),
      save_(std::move(save)),
      done_(std::move(done)),
      thread_([this] { Run(); }) {}

SnapshotSender::~SnapshotSender() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SnapshotSender::Send(raftpb::Message msg_snap) {
  {
    std::lock_guard l(mu_);
    queue_.push_back(std::move(msg_snap));
  }
  cv_.notify_one();
}

void SnapshotSender::Run() {
  while (true) {
    raftpb::Message m;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      m = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool ok = Transfer(m);
    done_(m.to(), ok);
  }
}

bool SnapshotSender::Transfer(const raftpb::Message& msg_snap) {
  const uint64_t to = msg_snap.to();
  const uint64_t index = msg_snap.snapshot().metadata().index();
  const std::string path = dir_ + "/send-" + std::to_string(to) + ".db";
  walio::RemoveFile(path);
  Status s = walio::CreateDir(dir_);
  if (s.ok()) s = save_(path);
  walio::UniqueFd fd;
  if (s.ok()) s = walio::OpenFile(path, O_RDONLY, &fd);
  uint64_t size = 0;
  if (s.ok()) s = walio::FileSize(fd.get(), path, &size);
  walio::RemoveFile(path);  // the open descriptor keeps it readable
  if (!s.ok()) {
    fprintf(stderr, "capstan: cannot make a snapshot for %llx: %s\n",
            static_cast<unsigned long long>(to), s.ToString().c_str());
    return false;
  }
  fprintf(stderr, "capstan: sending snapshot at index %llu (%llu bytes) to %llx\n",
          static_cast<unsigned long long>(index), static_cast<unsigned long long>(size),
          static_cast<unsigned long long>(to));

  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> hash(XXH3_createState(),
                                                                       XXH3_freeState);
  XXH3_64bits_reset(hash.get());
  const uint64_t drops_before = transport_->DataStats(to).drops;
  std::string buf(kChunkBytes, '\0');
  uint64_t offset = 0;
  do {
    const ssize_t n = pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0) return false;
    XXH3_64bits_update(hash.get(), buf.data(), static_cast<size_t>(n));
    raftpb::Message chunk;
    chunk.set_type(raftpb::MSG_SNAP_CHUNK);
    chunk.set_to(to);
    chunk.set_from(msg_snap.from());
    chunk.set_term(msg_snap.term());
    raftpb::SnapshotChunk* c = chunk.mutable_snapshot_chunk();
    c->set_snapshot_index(index);
    c->set_offset(offset);
    c->set_data(buf.data(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
    c->set_last(offset >= size || n == 0);
    if (c->last()) c->set_checksum(XXH3_64bits_digest(hash.get()));
    const bool last = c->last();
    std::vector<raftpb::Message> out;
    out.push_back(std::move(chunk));
    if (last) out.push_back(msg_snap);  // same channel, so after the last chunk
    transport_->Send(std::move(out));
    // Stay within a window of the wire, so the transport never drops a chunk
    // for being over its queue bound; give up when the peer is gone.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
      const DataChannelStats st = transport_->DataStats(to);
      if (st.drops != drops_before) return false;
      if (st.pending_bytes <= (last ? 0 : kWindowBytes)) break;
      if (std::chrono::steady_clock::now() > deadline) return false;
      {
        std::unique_lock l(mu_);
        if (cv_.wait_for(l, std::chrono::milliseconds(1), [&] { return stopping_; })) return false;
      }
    }
    if (last) break;
  } while (true);
  return true;
}

}  // namespace capstan::raft
