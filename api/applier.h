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

// etcd's largest reply (maxSendBytes, math.MaxInt32): grpc-go refuses to
// send more, and gRPC C++ cannot serialize a message of 2 GiB or more.
inline constexpr int64_t kMaxResponseBytes = INT32_MAX;

// What a reply larger than `limit` is answered with: grpc-go's
// RESOURCE_EXHAUSTED text, `bytes` being what was counted when building
// stopped (so at least that much; a response is never built past its limit).
Status ResponseTooLarge(int64_t bytes, int64_t limit);

// Bytes a response may grow by while it is built: responses are checked as
// they grow, so that one too large to send fails early and cleanly, never
// after gigabytes were copied (see RangeOptions::max_bytes).
struct ResponseBudget {
  int64_t limit = kMaxResponseBytes;
  int64_t used = 0;
  int64_t left() const { return limit - used; }
};

// Range on the published state or inside a batch, with etcd's semantics for
// limit/more/count, revision filters, sorting and keys_only. The response
// (its kvs and a bound on its other fields) is charged to `budget`; one that
// does not fit is refused with ResponseTooLarge before its values are read.
template <typename Reader>
Status ExecuteRange(Reader& reader, const etcdserverpb::RangeRequest& r,
                    etcdserverpb::RangeResponse* resp, ResponseBudget* budget);

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

  // The largest response the applier builds (kMaxResponseBytes; smaller in tests).
  void set_max_response_bytes(int64_t n) { max_response_bytes_ = n; }

  // `response` must be the response type of the request (or null).
  ApplyResult Apply(const internalpb::InternalRequest& req, WriteBatch* batch,
                    google::protobuf::Message* response, LogPosition at);
  ApplyResult Apply(const internalpb::InternalRequest& req, WriteBatch* batch,
                    google::protobuf::Message* response) {
    return Apply(req, batch, response, LogPosition());
  }

 private:
  Status Put(WriteBatch* b, const etcdserverpb::PutRequest& r, etcdserverpb::PutResponse* resp);
  // `reply` false: nobody waits for the response, so no old value is read.
  Status DeleteRange(WriteBatch* b, const etcdserverpb::DeleteRangeRequest& r,
                     etcdserverpb::DeleteRangeResponse* resp, bool reply);
  // `reply` false: nobody waits for the response, so reads are skipped.
  Status Txn(WriteBatch* b, const etcdserverpb::TxnRequest& r, etcdserverpb::TxnResponse* resp,
             bool reply);
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
  // Runs every write of the path; reads fill `resp` while `budget` lasts
  // (*too_large is set, and reads are skipped, once it does not).
  struct ReplyState {
    bool reply = true;
    ResponseBudget budget;
    Status too_large;
  };
  Status ExecutePath(WriteBatch* b, const etcdserverpb::TxnRequest& r,
                     const std::vector<bool>& path, size_t* pos, etcdserverpb::TxnResponse* resp,
                     ReplyState* reply);
  // Charges the reads of `path` to `budget` without reading values
  // (ResponseTooLarge once they do not fit): for a path that writes nothing,
  // whose reads all see one state, so that a reply too large is refused
  // before anything is copied.
  Status SizePathReads(WriteBatch* b, const etcdserverpb::TxnRequest& r,
                       const std::vector<bool>& path, size_t* pos, ResponseBudget* budget);

  MvccStore* store_;
  AlarmSet* alarms_;
  MemberTable* members_;
  int64_t max_response_bytes_ = kMaxResponseBytes;
};

}  // namespace capstan::api
