// Applier: executes committed InternalRequests against the store, exactly as
// etcd's apply layer does (its applierV3backend, plus the NOSPACE-capped mode).
//
// It runs on the apply thread only, inside the WriteBatch of the current log
// batch, and writes results straight into the response message of the RPC
// that waits for them (or a scratch message when nobody waits).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "api/member_table.h"
#include "internal.pb.h"
#include "rpc.pb.h"
#include "storage/mvcc_store.h"

namespace capstan::api {

// Range on the published state or inside a batch, with etcd's semantics for
// limit/more/count, revision filters, sorting and keys_only.
template <typename Reader>
Status ExecuteRange(Reader& reader, const etcdserverpb::RangeRequest& r,
                    etcdserverpb::RangeResponse* resp);

// The set of raised alarms, persisted through the store's alarm table.
class AlarmSet {
 public:
  using Alarm = std::pair<uint64_t, etcdserverpb::AlarmType>;  // member, type
  void Load(const MvccStore& store);
  std::vector<Alarm> List() const;
  bool Has(etcdserverpb::AlarmType type) const;
  // Return false if nothing changed.
  bool Activate(WriteBatch* batch, uint64_t member, etcdserverpb::AlarmType type);
  bool Deactivate(WriteBatch* batch, uint64_t member, etcdserverpb::AlarmType type);

 private:
  mutable std::mutex mu_;
  std::set<Alarm> alarms_;
};

struct ApplyResult {
  Status status;
  // For a physical compaction: the RPC completes once this revision is gone.
  int64_t wait_compacted = 0;
};

class Applier {
 public:
  Applier(MvccStore* store, AlarmSet* alarms, MemberTable* members)
      : store_(store), alarms_(alarms), members_(members) {}

  // Where an entry sits in the log (0, 0 outside a log, e.g. in tests):
  // lease renewals record their index, expiry checks its term.
  struct LogPosition {
    uint64_t index = 0;
    uint64_t term = 0;
  };

  // `response` must be the response type of the request (or null).
  ApplyResult Apply(const internalpb::InternalRequest& req, WriteBatch* batch,
                    google::protobuf::Message* response, LogPosition at);
  ApplyResult Apply(const internalpb::InternalRequest& req, WriteBatch* batch,
                    google::protobuf::Message* response) {
    return Apply(req, batch, response, LogPosition());
  }

 private:
  Status Put(WriteBatch* b, const etcdserverpb::PutRequest& r, etcdserverpb::PutResponse* resp);
  Status DeleteRange(WriteBatch* b, const etcdserverpb::DeleteRangeRequest& r,
                     etcdserverpb::DeleteRangeResponse* resp);
  Status Txn(WriteBatch* b, const etcdserverpb::TxnRequest& r, etcdserverpb::TxnResponse* resp);
  ApplyResult Compaction(WriteBatch* b, const etcdserverpb::CompactionRequest& r,
                         etcdserverpb::CompactionResponse* resp);
  Status Alarm(WriteBatch* b, const etcdserverpb::AlarmRequest& r,
               etcdserverpb::AlarmResponse* resp);
  Status LeaseGrant(WriteBatch* b, const etcdserverpb::LeaseGrantRequest& r,
                    etcdserverpb::LeaseGrantResponse* resp);
  Status LeaseRevoke(WriteBatch* b, const etcdserverpb::LeaseRevokeRequest& r,
                     etcdserverpb::LeaseRevokeResponse* resp);
  Status LeaseCheckpoint(WriteBatch* b, const etcdserverpb::LeaseCheckpointRequest& r);
  Status LeaseExpiry(WriteBatch* b, const internalpb::LeaseExpiry& r, LogPosition at);
  Status LeaseRenew(WriteBatch* b, const etcdserverpb::LeaseKeepAliveRequest& r,
                    etcdserverpb::LeaseKeepAliveResponse* resp, LogPosition at);
  bool LeaseExists(int64_t id) const { return store_->lessor()->Exists(id); }

  // Txn helpers (as etcd: every compare, nested ones included, is decided on
  // the state before the transaction; checks run before any write).
  bool Compare(WriteBatch* b, const etcdserverpb::Compare& c);
  void DecidePath(WriteBatch* b, const etcdserverpb::TxnRequest& r, std::vector<bool>* path);
  Status CheckPath(WriteBatch* b, const etcdserverpb::TxnRequest& r,
                   const std::vector<bool>& path, size_t* pos);
  Status ExecutePath(WriteBatch* b, const etcdserverpb::TxnRequest& r,
                     const std::vector<bool>& path, size_t* pos, etcdserverpb::TxnResponse* resp);
  bool PathWrites(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path, size_t* pos);

  MvccStore* store_;
  AlarmSet* alarms_;
  MemberTable* members_;
};

}  // namespace capstan::api
