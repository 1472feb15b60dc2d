// Snapshot chunk reassembly (raft/snapshot_receiver.h): a sequence of
// MSG_SNAP_CHUNK and MSG_SNAP messages from the input, as the peer transport
// would deliver them, some well-formed (the right offsets and a correct
// checksum, so files complete), some parsed from raw bytes.
//
// Properties: no crash, leak or undefined behaviour; a file handed over by
// TakeFile exists and holds exactly the bytes its chunks carried.
#include <sys/stat.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "fuzz/fuzz_input.h"
#include "raft/snapshot_receiver.h"
#include "raftpb.pb.h"
#include "storage/temp_dir.h"

using capstan::fuzz::Fail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::fuzz::FuzzInput in(data, size);
  capstan::TempDir tmp("snap-fuzz-");
  capstan::raft::SnapshotReceiver receiver(tmp.Sub("snap"));
  if (!receiver.Init().ok()) abort();

  // What each sender has sent of its current transfer, when it was sent in order.
  std::map<uint64_t, std::string> sent;
  for (int step = 0; step < 64 && !in.empty(); step++) {
    const uint8_t op = in.Byte();
    const uint64_t from = 1 + in.Byte() % 3;
    capstan::raftpb::Message m;
    m.set_from(from);
    m.set_type(capstan::raftpb::MSG_SNAP_CHUNK);
    switch (op % 4) {
      case 0: {  // the next chunk of this sender's transfer, in order
        std::string& so_far = sent[from];
        const bool first = in.Byte() % 4 == 0;
        if (first) so_far.clear();
        auto* c = m.mutable_snapshot_chunk();
        c->set_snapshot_index(in.Byte());
        c->set_offset(so_far.size());
        c->set_data(std::string(in.Bytes(in.Byte())));
        so_far += c->data();
        if (in.Byte() % 2) {
          c->set_last(true);
          c->set_checksum(XXH3_64bits(so_far.data(), so_far.size()));
        }
        receiver.OnChunk(m);
        break;
      }
      case 1: {  // a chunk parsed from raw bytes
        sent.erase(from);
        if (!m.mutable_snapshot_chunk()->ParseFromString(std::string(in.Bytes(in.Byte())))) break;
        receiver.OnChunk(m);
        break;
      }
      case 2: {  // the MSG_SNAP that follows a transfer
        m.set_type(capstan::raftpb::MSG_SNAP);
        m.mutable_snapshot()->mutable_metadata()->set_index(in.Byte());
        std::string path;
        if (!receiver.TakeFile(m, &path)) break;
        std::ifstream f(path, std::ios::binary);
        if (!f) Fail("TakeFile handed over a file that does not exist");
        std::ostringstream got;
        got << f.rdbuf();
        auto it = sent.find(from);
        if (it != sent.end() && got.str() != it->second) {
          Fail("a reassembled file differs from the chunks sent");
        }
        sent.erase(from);
        break;
      }
      default: {  // a whole message from raw bytes
        sent.erase(from);
        if (!m.ParseFromString(std::string(in.Bytes(in.Byte())))) break;
        sent.erase(m.from());
        if (m.type() == capstan::raftpb::MSG_SNAP_CHUNK) receiver.OnChunk(m);
        break;
      }
    }
  }
  return 0;
}
