// Writes the binary seed corpora of the fuzz targets under <dir>/<target>/
// with the real encoders (a WAL written by Wal, a snapshot written by
// EtcdSnapshotWriter, requests serialized by protobuf), so the fuzzers start
// from valid inputs and go deep. The text corpora are checked in by hand.
//
//   build-fuzz/bin/fuzz_seed_writer fuzz/corpus
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "raft/wal.h"
#include "raftpb.pb.h"
#include "rpc.pb.h"
#include "storage/etcd_snapshot_writer.h"
#include "storage/lessor.h"
#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"

namespace {

std::string root;

void Die(const std::string& what) {
  fprintf(stderr, "fuzz_seed_writer: %s\n", what.c_str());
  exit(1);
}

void Check(const capstan::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

void Write(const std::string& target, const std::string& name, const std::string& data) {
  ::mkdir((root + "/" + target).c_str(), 0755);
  std::ofstream f(root + "/" + target + "/" + name, std::ios::binary | std::ios::trunc);
  f << data;
  if (!f) Die("cannot write " + target + "/" + name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void WalSeeds() {
  capstan::TempDir tmp;
  const std::string dir = tmp.Sub("wal");
  capstan::raft::WalOptions options;
  options.segment_size = 1024;
  options.zero_fill = false;
  {
    std::unique_ptr<capstan::raft::Wal> wal;
    Check(capstan::raft::Wal::Create(dir, "member metadata", options, &wal), "Wal::Create");
    capstan::raftpb::HardState hs;
    hs.set_term(2);
    hs.set_vote(1);
    for (uint64_t i = 1; i <= 12; i++) {
      capstan::raftpb::Entry e;
      e.set_index(i);
      e.set_term(i < 6 ? 1 : 2);
      e.set_data("entry " + std::to_string(i));
      hs.set_commit(i - 1);
      Check(wal->Save(&hs, {&e, 1}, true), "Wal::Save");
    }
    capstan::raftpb::ConfState cs;
    cs.add_voters(1);
    cs.add_voters(2);
    Check(wal->SaveSnapshotMarker(4, 1, cs), "Wal::SaveSnapshotMarker");
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") names.push_back(e.path().string());
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i < names.size() && i < 3; i++) {
    std::string seg = ReadFile(names[i]);
    // The segment minus trailing zeros keeps the seeds small.
    while (!seg.empty() && seg.back() == '\0') seg.pop_back();
    Write("wal_segment", "segment-" + std::to_string(i), std::string(1, '\0') + seg);
    Write("wal_record", "segment-" + std::to_string(i), std::string(1, '\0') + seg);
  }
}

void SnapshotSeeds() {
  capstan::TempDir tmp;
  std::unique_ptr<capstan::MvccStore> store;
  capstan::StoreOptions options;
  options.map_size = size_t{64} << 20;
  Check(capstan::MvccStore::Open(tmp.Sub("store"), options, &store), "MvccStore::Open");
  uint64_t index = 0;
  {
    auto b = store->NewBatch();
    int64_t granted;
    Check(store->lessor()->Grant(b.get(), 0x1234, 60, &granted), "Grant");
    b->SetApplied(++index, 2);
    Check(b->Commit(), "Commit");
  }
  for (int i = 0; i < 6; i++) {
    auto b = store->NewBatch();
    b->BeginTxn();
    int64_t rev;
    Check(b->Put("key/" + std::to_string(i % 4), "value " + std::to_string(i), i == 5 ? 0x1234 : 0,
                 &rev),
          "Put");
    b->EndTxn();
    b->SetApplied(++index, 2);
    Check(b->Commit(), "Commit");
  }
  capstan::EtcdSnapshotOptions so;
  so.page_size = 1024;
  capstan::EtcdSnapshotInfo info;
  const std::string path = tmp.Sub("snapshot.db");
  Check(capstan::EtcdSnapshotWriter::Write(*store, so, path, &info), "EtcdSnapshotWriter::Write");
  const std::string db = ReadFile(path);
  Write("bbolt_reader", "etcd-snapshot-1k-pages", db);
  Write("etcd_snapshot_import", "etcd-snapshot-1k-pages", db);
}

void RequestSeeds() {
  namespace pb = etcdserverpb;
  auto seed = [](int type, const std::string& name, const google::protobuf::Message& m) {
    Write("etcd_request", name, std::string(1, static_cast<char>(type)) + m.SerializeAsString());
  };
  pb::RangeRequest range;
  range.set_key("a");
  range.set_range_end("z");
  range.set_limit(10);
  range.set_sort_order(pb::RangeRequest::DESCEND);
  seed(0, "range", range);
  pb::PutRequest put;
  put.set_key("k");
  put.set_value("v");
  put.set_lease(7);
  put.set_prev_kv(true);
  seed(1, "put", put);
  pb::DeleteRangeRequest del;
  del.set_key("k");
  del.set_range_end(std::string(1, '\0'));
  seed(2, "delete", del);
  pb::TxnRequest txn;
  auto* c = txn.add_compare();
  c->set_key("k");
  c->set_target(pb::Compare::VERSION);
  c->set_result(pb::Compare::GREATER);
  c->set_version(1);
  *txn.add_success()->mutable_request_put() = put;
  *txn.add_success()->mutable_request_delete_range() = del;
  *txn.add_failure()->mutable_request_range() = range;
  pb::TxnRequest nested = txn;
  for (int i = 0; i < 3; i++) {
    pb::TxnRequest outer;
    *outer.add_success()->mutable_request_txn() = nested;
    nested = outer;
  }
  seed(3, "txn", txn);
  seed(3, "txn-nested", nested);
  pb::WatchRequest watch;
  watch.mutable_create_request()->set_key("k");
  watch.mutable_create_request()->set_prev_kv(true);
  watch.mutable_create_request()->add_filters(pb::WatchCreateRequest::NODELETE);
  seed(5, "watch-create", watch);
  pb::LeaseGrantRequest grant;
  grant.set_ttl(60);
  grant.set_id(5);
  seed(6, "lease-grant", grant);
  pb::MemberAddRequest add;
  add.add_peerurls("http://127.0.0.1:2380");
  add.set_islearner(true);
  seed(12, "member-add", add);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: fuzz_seed_writer <corpus dir>");
  root = argv[1];
  ::mkdir(root.c_str(), 0755);
  WalSeeds();
  SnapshotSeeds();
  RequestSeeds();
  return 0;
}
