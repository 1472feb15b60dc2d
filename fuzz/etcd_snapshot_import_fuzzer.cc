// etcd snapshot import (storage/etcd_snapshot_reader.h): the input as a
// snapshot file (`etcdctl snapshot save` output, with or without its sha256
// trailer), imported into a new store, as `capstan --initial-snapshot` and
// the etcd data dir import do.
//
// Properties: no crash, leak or undefined behaviour; a failed import is an
// error status; a store the import reports as made opens.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "fuzz/fuzz_input.h"
#include "storage/etcd_snapshot_reader.h"
#include "storage/mvcc_store.h"
#include "storage/temp_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::TempDir tmp("snapshot-import-fuzz-");
  const std::string file = tmp.Sub("snapshot.db");
  capstan::fuzz::WriteFileOrDie(file, std::string_view(reinterpret_cast<const char*>(data), size));
  capstan::StoreOptions options;
  options.map_size = size_t{64} << 20;
  capstan::EtcdImportInfo info;
  const std::string store_dir = tmp.Sub("store");
  if (!capstan::EtcdSnapshotReader::Import(file, store_dir, options, &info).ok()) return 0;
  std::unique_ptr<capstan::MvccStore> store;
  capstan::Status s = capstan::MvccStore::Open(store_dir, options, &store);
  if (!s.ok()) {
    fprintf(stderr, "MvccStore::Open: %s\n", s.ToString().c_str());
    capstan::fuzz::Fail("an imported store does not open");
  }
  return 0;
}
