#include "storage/etcd_data_dir.h"

#include <filesystem>

#include "storage/durable_file.h"
#include "storage/private_files.h"

namespace capstan {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

Status FsError(const std::string& what, const std::error_code& ec) {
  return Status::IOError(what + ": " + ec.message());
}

Status Rename(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  return ec ? FsError("rename " + from + " to " + to, ec) : Status::OK();
}

}  // namespace

Status EtcdDataDir::PrepareStore(const std::string& data_dir, const std::string& initial_snapshot,
                                 const StoreOptions& options, Result* result) {
  *result = Result();
  const std::string member = data_dir + "/member";
  const std::string store = StoreDir(data_dir);
  const std::string importing = store + ".importing";
  const std::string backup = data_dir + "/etcd-backup";
  const std::string etcd_db = member + "/snap/db";
  const std::string backup_db = backup + "/member/snap/db";
  std::error_code ec;

  if (Exists(store + "/data.mdb")) {
    fs::remove_all(importing, ec);  // left by a crash after the import completed
    result->snapshot_ignored = !initial_snapshot.empty();
    return Status::OK();
  }
  bool from_data_dir = true;
  if (Exists(etcd_db)) {
    if (!initial_snapshot.empty()) {
      return Status::FailedPrecondition("--initial-snapshot " + initial_snapshot + " given, but " +
                                        data_dir + " holds an etcd data dir (" + etcd_db +
                                        "); use one or the other");
    }
    result->source = etcd_db;
  } else if (Exists(importing) && Exists(backup_db)) {
    result->source = backup_db;  // a crash after etcd's files were moved: import again
  } else if (!initial_snapshot.empty()) {
    result->source = initial_snapshot;
    from_data_dir = false;
  } else {
    return Status::OK();  // a new member
  }

  fs::remove_all(importing, ec);
  Status s = CreatePrivateDirs(member);
  if (!s.ok()) return s;
  s = EtcdSnapshotReader::Import(result->source, importing, options, &result->info);
  if (!s.ok()) {
    fs::remove_all(importing, ec);
    return s;
  }

  if (from_data_dir && result->source == etcd_db) {
    // etcd's WAL must not stay where Capstan keeps its own.
    if (Exists(backup)) {
      fs::remove_all(importing, ec);
      return Status::FailedPrecondition(
          backup + " exists: move it away to import the etcd data in " + data_dir);
    }
    if (!(s = CreatePrivateDirs(backup + "/member")).ok()) return s;
    if (!(s = Rename(member + "/snap", backup + "/member/snap")).ok()) return s;
    if (Exists(member + "/wal") && !(s = Rename(member + "/wal", backup + "/member/wal")).ok()) {
      return s;
    }
    if (!(s = SyncDir(backup + "/member")).ok()) return s;
  }
  if (from_data_dir) result->backup_dir = backup;
  fs::remove_all(store, ec);  // no data.mdb: at most an empty store left by a failed start
  if (!(s = Rename(importing, store)).ok()) return s;
  if (!(s = SyncDir(member)).ok()) return s;
  result->imported = true;
  return Status::OK();
}

}  // namespace capstan
