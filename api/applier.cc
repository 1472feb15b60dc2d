#include "api/applier.h"

#include <algorithm>

#include "api/etcd_errors.h"
#include "storage/revision.h"

namespace capstan::api {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

namespace {

KeyRange ToKeyRange(const std::string& key, const std::string& end) { return KeyRange{key, end}; }

bool Less(const mvccpb::KeyValue& a, const mvccpb::KeyValue& b, RangeRequest::SortTarget t) {
  switch (t) {
    case RangeRequest::KEY:
      return a.key() < b.key();
    case RangeRequest::VERSION:
      return a.version() < b.version();
    case RangeRequest::CREATE:
      return a.create_revision() < b.create_revision();
    case RangeRequest::MOD:
      return a.mod_revision() < b.mod_revision();
    case RangeRequest::VALUE:
      return a.value() < b.value();
    default:
      return false;
  }
}

template <typename T>
int CompareValues(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

bool CompareKV(const Compare& c, const mvccpb::KeyValue& kv) {
  int r = 0;
  switch (c.target()) {
    case Compare::VALUE:
      r = CompareValues<std::string>(kv.value(), c.value());
      break;
    case Compare::CREATE:
      r = CompareValues(kv.create_revision(), c.create_revision());
      break;
    case Compare::MOD:
      r = CompareValues(kv.mod_revision(), c.mod_revision());
      break;
    case Compare::VERSION:
      r = CompareValues(kv.version(), c.version());
      break;
    case Compare::LEASE:
      r = CompareValues(kv.lease(), c.lease());
      break;
    default:
      return false;
  }
  switch (c.result()) {
    case Compare::EQUAL:
      return r == 0;
    case Compare::NOT_EQUAL:
      return r != 0;
    case Compare::GREATER:
      return r > 0;
    case Compare::LESS:
      return r < 0;
    default:
      return false;
  }
}

// Whether any branch puts: what the NOSPACE alarm refuses (deletes still
// free space, as in etcd's capped applier).
bool TxnHasPuts(const TxnRequest& r) {
  for (const auto* ops : {&r.success(), &r.failure()}) {
    for (const RequestOp& op : *ops) {
      if (op.has_request_put()) return true;
      if (op.has_request_txn() && TxnHasPuts(op.request_txn())) return true;
    }
  }
  return false;
}

// The waiting RPC's response, or `scratch` when nobody waits for this entry.
template <typename Response>
Response* ResponseOrScratch(google::protobuf::Message* response, Response* scratch) {
  return response != nullptr ? static_cast<Response*>(response) : scratch;
}

template <typename Response, typename Fn>
Status Run(google::protobuf::Message* response, Fn&& fn) {
  Response scratch;
  return fn(ResponseOrScratch(response, &scratch));
}

// A response (or a store read for one) over its budget.
bool IsTooLarge(const Status& s) { return s.code() == Status::Code::kResourceExhausted; }

bool Filtered(const RangeRequest& r) {
  return r.min_mod_revision() != 0 || r.max_mod_revision() != 0 || r.min_create_revision() != 0 ||
         r.max_create_revision() != 0;
}

// What a range request reads from the store.
RangeOptions ReadOptions(const RangeRequest& r) {
  RangeOptions opts;
  opts.rev = r.revision();
  opts.count_only = r.count_only();
  // Sorting and filtering need every key; otherwise fetch one extra to know `more`.
  if (r.sort_order() == RangeRequest::NONE && !Filtered(r) && r.limit() > 0) {
    opts.limit = r.limit() + 1;
  }
  return opts;
}

// A bound on what a RangeResponse holds beside its kvs (header, count,
// more), with the framing of the ResponseOp around it in a txn.
constexpr int64_t kRangeFixedBytes = 128;
// A bound on a put's or a nested txn's response beside any prev_kv, framed.
constexpr int64_t kOpFixedBytes = 64;

// The reads on the chosen path of a txn, and whether it writes.
void PathShape(const TxnRequest& r, const std::vector<bool>& path, size_t* pos, int* reads,
               bool* writes) {
  const bool ok = path[(*pos)++];
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    switch (op.request_case()) {
      case RequestOp::kRequestRange:
        ++*reads;
        break;
      case RequestOp::kRequestPut:
      case RequestOp::kRequestDeleteRange:
        *writes = true;
        break;
      case RequestOp::kRequestTxn:
        PathShape(op.request_txn(), path, pos, reads, writes);
        break;
      default:
        break;
    }
  }
}

std::string AlarmKey(uint64_t member, etcdserverpb::AlarmType type) {
  std::string k(9, '\0');
  PutBigEndian64(k.data(), member);
  k[8] = static_cast<char>(type);
  return k;
}

}  // namespace

Status ResponseTooLarge(int64_t bytes, int64_t limit) {
  return Status::ResourceExhausted("grpc: trying to send message larger than max (" +
                                   std::to_string(bytes) + " vs. " + std::to_string(limit) + ")");
}

template <typename Reader>
Status ExecuteRange(Reader& reader, const RangeRequest& r, etcdserverpb::RangeResponse* resp,
                    ResponseBudget* budget) {
  if (budget->left() <= kRangeFixedBytes) {
    return ResponseTooLarge(budget->used + kRangeFixedBytes, budget->limit);
  }
  const bool filtered = Filtered(r);
  RangeOptions opts = ReadOptions(r);
  // Everything read is held at once (sorting and filters need it all), so
  // the bound applies to what is read, not only to what is sent.
  opts.max_bytes = budget->left() - kRangeFixedBytes;
  RangeResult rr;
  Status s = reader.Range(ToKeyRange(r.key(), r.range_end()), opts, &rr);
  if (IsTooLarge(s)) {
    return ResponseTooLarge(budget->used + kRangeFixedBytes + rr.bytes, budget->limit);
  }
  if (!s.ok()) return s;
  budget->used += kRangeFixedBytes + rr.bytes;
  auto& kvs = rr.kvs;
  if (filtered) {
    std::erase_if(kvs, [&](const mvccpb::KeyValue& kv) {
      return (r.max_mod_revision() != 0 && kv.mod_revision() > r.max_mod_revision()) ||
             (r.min_mod_revision() != 0 && kv.mod_revision() < r.min_mod_revision()) ||
             (r.max_create_revision() != 0 && kv.create_revision() > r.max_create_revision()) ||
             (r.min_create_revision() != 0 && kv.create_revision() < r.min_create_revision());
    });
  }
  auto order = r.sort_order();
  // Results come in ascending key order; any other target defaults to ascending.
  if (r.sort_target() != RangeRequest::KEY && order == RangeRequest::NONE) {
    order = RangeRequest::ASCEND;
  }
  if (order == RangeRequest::ASCEND && r.sort_target() != RangeRequest::KEY) {
    std::stable_sort(kvs.begin(), kvs.end(),
                     [&](const auto& a, const auto& b) { return Less(a, b, r.sort_target()); });
  } else if (order == RangeRequest::DESCEND) {
    std::stable_sort(kvs.begin(), kvs.end(),
                     [&](const auto& a, const auto& b) { return Less(b, a, r.sort_target()); });
  }
  if (r.limit() > 0 && static_cast<int64_t>(kvs.size()) > r.limit()) {
    kvs.resize(static_cast<size_t>(r.limit()));
    resp->set_more(true);
  }
  resp->mutable_header()->set_revision(rr.rev);
  resp->set_count(rr.count);
  resp->mutable_kvs()->Reserve(static_cast<int>(kvs.size()));
  for (auto& kv : kvs) {
    if (r.keys_only()) kv.clear_value();
    *resp->add_kvs() = std::move(kv);
  }
  return Status::OK();
}

template Status ExecuteRange<MvccStore>(MvccStore&, const RangeRequest&,
                                        etcdserverpb::RangeResponse*, ResponseBudget*);
template Status ExecuteRange<WriteBatch>(WriteBatch&, const RangeRequest&,
                                         etcdserverpb::RangeResponse*, ResponseBudget*);

// ------------------------------------------------------------------ AlarmSet

void AlarmSet::Load(const MvccStore& store) {
  std::lock_guard l(mu_);
  alarms_.clear();
  store.ScanAux(Table::kAlarm, [&](std::string_view key, std::string_view) {
    if (key.size() == 9) {
      alarms_.insert({GetBigEndian64(key.data()), static_cast<etcdserverpb::AlarmType>(key[8])});
    }
  });
}

std::vector<AlarmSet::Alarm> AlarmSet::List() const {
  std::lock_guard l(mu_);
  return {alarms_.begin(), alarms_.end()};
}

bool AlarmSet::Has(etcdserverpb::AlarmType type) const {
  std::lock_guard l(mu_);
  for (const auto& a : alarms_) {
    if (a.second == type) return true;
  }
  return false;
}

bool AlarmSet::Activate(WriteBatch* batch, uint64_t member, etcdserverpb::AlarmType type) {
  std::lock_guard l(mu_);
  if (!alarms_.insert({member, type}).second) return false;
  batch->PutAux(Table::kAlarm, AlarmKey(member, type), "");
  return true;
}

bool AlarmSet::Deactivate(WriteBatch* batch, uint64_t member, etcdserverpb::AlarmType type) {
  std::lock_guard l(mu_);
  if (alarms_.erase({member, type}) == 0) return false;
  batch->DeleteAux(Table::kAlarm, AlarmKey(member, type));
  return true;
}

// ------------------------------------------------------------------- Applier

ApplyResult Applier::Apply(const internalpb::InternalRequest& req, WriteBatch* b,
                           google::protobuf::Message* response, LogPosition at) {
  using R = internalpb::InternalRequest;
  ApplyResult result;
  b->BeginTxn();
  switch (req.request_case()) {
    case R::kPut:
      result.status = Run<etcdserverpb::PutResponse>(
          response, [&](auto* resp) { return Put(b, req.put(), resp); });
      break;
    case R::kDeleteRange:
      result.status = Run<etcdserverpb::DeleteRangeResponse>(response, [&](auto* resp) {
        return DeleteRange(b, req.delete_range(), resp, response != nullptr);
      });
      break;
    case R::kTxn:
      result.status = Run<etcdserverpb::TxnResponse>(
          response, [&](auto* resp) { return Txn(b, req.txn(), resp, response != nullptr); });
      break;
    case R::kCompaction: {
      etcdserverpb::CompactionResponse scratch;
      result = Compaction(b, req.compaction(), ResponseOrScratch(response, &scratch));
      break;
    }
    case R::kAlarm:
      result.status = Run<etcdserverpb::AlarmResponse>(
          response, [&](auto* resp) { return Alarm(b, req.alarm(), resp); });
      break;
    case R::kLeaseGrant:
      result.status = Run<etcdserverpb::LeaseGrantResponse>(
          response, [&](auto* resp) { return LeaseGrant(b, req.lease_grant(), resp); });
      break;
    case R::kLeaseRevoke:
      result.status = Run<etcdserverpb::LeaseRevokeResponse>(
          response, [&](auto* resp) { return LeaseRevoke(b, req.lease_revoke(), resp); });
      break;
    case R::kLeaseRenew:
      result.status = Run<etcdserverpb::LeaseKeepAliveResponse>(
          response, [&](auto* resp) { return LeaseRenew(b, req.lease_renew(), resp, at); });
      break;
    case R::kMemberAttributes:
      members_->ApplyAttributes(b, req.member_attributes());
      break;
    case R::kLeaseCheckpoint:
      result.status = LeaseCheckpoint(b, req.lease_checkpoint());
      break;
    case R::kLeaseExpiry:
      result.status = LeaseExpiry(b, req.lease_expiry(), at);
      break;
    case R::kLeaseRenewals:
      // The leader answered these itself (RenewHere); they only reset the
      // other members' deadlines. Not recorded (no batch): the leader decided
      // expiry knowing them.
      for (int64_t id : req.lease_renewals().ids()) {
        int64_t ttl = 0;
        store_->lessor()->ApplyRenewal(nullptr, id, at.index, &ttl);  // gone: nothing to renew
      }
      break;
    default:
      result.status = Status::InvalidArgument("unsupported request in log");
      break;
  }
  b->EndTxn();
  return result;
}

Status Applier::Put(WriteBatch* b, const etcdserverpb::PutRequest& r,
                    etcdserverpb::PutResponse* resp) {
  if (alarms_->Has(etcdserverpb::NOSPACE)) return Status::ResourceExhausted(errors::kNoSpace);
  int64_t lease = r.lease();
  if (lease != 0 && !LeaseExists(lease)) return Status::NotFound(errors::kLeaseNotFound);
  std::string_view value = r.value();
  RangeResult prev;
  if (r.ignore_value() || r.ignore_lease() || r.prev_kv()) {
    Status s = b->Range(ToKeyRange(r.key(), ""), RangeOptions{}, &prev);
    if (!s.ok()) return s;
  }
  if (r.ignore_value() || r.ignore_lease()) {
    if (prev.kvs.empty()) return Status::InvalidArgument(errors::kKeyNotFound);
  }
  if (r.ignore_value()) value = prev.kvs[0].value();
  if (r.ignore_lease()) lease = prev.kvs[0].lease();
  if (r.prev_kv() && !prev.kvs.empty()) *resp->mutable_prev_kv() = prev.kvs[0];
  int64_t rev;
  Status s = b->Put(r.key(), value, lease, &rev);
  if (!s.ok()) return s;
  resp->mutable_header()->set_revision(rev);
  return Status::OK();
}

Status Applier::DeleteRange(WriteBatch* b, const etcdserverpb::DeleteRangeRequest& r,
                            etcdserverpb::DeleteRangeResponse* resp, bool reply) {
  std::vector<mvccpb::KeyValue> deleted;
  int64_t n = 0;
  // The old values are read only for a client that gets them.
  Status s = b->DeleteRange(ToKeyRange(r.key(), r.range_end()),
                            r.prev_kv() && reply ? &deleted : nullptr, &n);
  if (!s.ok()) return s;
  resp->set_deleted(n);
  int64_t bytes = kRangeFixedBytes;
  for (const auto& kv : deleted) bytes += RangeKvBytes(kv.ByteSizeLong());
  if (bytes > max_response_bytes_) {
    // As in etcd, the keys are deleted; only the reply cannot be sent.
    return ResponseTooLarge(bytes, max_response_bytes_);
  }
  for (auto& kv : deleted) *resp->add_prev_kvs() = std::move(kv);
  resp->mutable_header()->set_revision(b->ReadRevision());
  return Status::OK();
}

bool Applier::Compare(WriteBatch* b, const etcdserverpb::Compare& c) {
  RangeResult rr;
  if (!b->Range(ToKeyRange(c.key(), c.range_end()), RangeOptions{}, &rr).ok()) return false;
  if (rr.kvs.empty()) {
    // A missing key has no value to compare (nil == empty in gRPC); its
    // version, revisions and lease are 0.
    if (c.target() == Compare::VALUE) return false;
    return CompareKV(c, mvccpb::KeyValue());
  }
  for (const auto& kv : rr.kvs) {
    if (!CompareKV(c, kv)) return false;
  }
  return true;
}

void Applier::DecidePath(WriteBatch* b, const TxnRequest& r, std::vector<bool>* path) {
  bool ok = true;
  for (const auto& c : r.compare()) {
    if (!Compare(b, c)) {
      ok = false;
      break;
    }
  }
  path->push_back(ok);
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    if (op.request_case() == RequestOp::kRequestTxn) DecidePath(b, op.request_txn(), path);
  }
}

Status Applier::CheckPath(WriteBatch* b, const TxnRequest& r, const std::vector<bool>& path,
                          size_t* pos) {
  const bool ok = path[(*pos)++];
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    switch (op.request_case()) {
      case RequestOp::kRequestTxn: {
        Status s = CheckPath(b, op.request_txn(), path, pos);
        if (!s.ok()) return s;
        break;
      }
      case RequestOp::kRequestPut: {
        const auto& p = op.request_put();
        if (p.ignore_value() || p.ignore_lease()) {
          RangeResult rr;
          Status s = b->Range(ToKeyRange(p.key(), ""), RangeOptions{}, &rr);
          if (!s.ok()) return s;
          if (rr.kvs.empty()) return Status::InvalidArgument(errors::kKeyNotFound);
        }
        if (p.lease() != 0 && !LeaseExists(p.lease())) {
          return Status::NotFound(errors::kLeaseNotFound);
        }
        break;
      }
      case RequestOp::kRequestRange: {
        int64_t rev = op.request_range().revision();
        if (rev > b->ReadRevision()) return Status::OutOfRange(kErrFutureRev);
        if (rev != 0 && rev < store_->CompactRevision()) return Status::OutOfRange(kErrCompacted);
        break;
      }
      default:
        break;
    }
  }
  return Status::OK();
}

Status Applier::ExecutePath(WriteBatch* b, const TxnRequest& r, const std::vector<bool>& path,
                            size_t* pos, etcdserverpb::TxnResponse* resp, ReplyState* reply) {
  const bool ok = path[(*pos)++];
  resp->set_succeeded(ok);
  etcdserverpb::ResponseOp dropped;  // the writes' responses once nothing more is sent
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    const bool sending = reply->reply && reply->too_large.ok();
    etcdserverpb::ResponseOp* out = sending ? resp->add_responses() : &dropped;
    Status s;
    switch (op.request_case()) {
      case RequestOp::kRequestRange:
        // A read has no effect: skipped when its result is not sent.
        if (!sending) break;
        s = ExecuteRange(*b, op.request_range(), out->mutable_response_range(), &reply->budget);
        if (IsTooLarge(s)) {
          reply->too_large = s;
          s = Status::OK();
        }
        break;
      case RequestOp::kRequestPut: {
        // Checks already ran: Put's own lease/alarm guards pass here.
        s = Put(b, op.request_put(), out->mutable_response_put());
        if (sending) {
          reply->budget.used +=
              kOpFixedBytes + static_cast<int64_t>(out->response_put().prev_kv().ByteSizeLong());
        }
        break;
      }
      case RequestOp::kRequestDeleteRange:
        s = DeleteRange(b, op.request_delete_range(), out->mutable_response_delete_range(),
                        sending);
        if (IsTooLarge(s)) {  // deleted, but the prev_kvs cannot be sent
          reply->too_large = s;
          s = Status::OK();
        } else if (sending) {
          reply->budget.used += kOpFixedBytes + static_cast<int64_t>(out->ByteSizeLong());
        }
        break;
      case RequestOp::kRequestTxn: {
        auto* nested = out->mutable_response_txn();
        nested->mutable_header();  // etcd sends nested txns an empty header
        if (sending) reply->budget.used += kOpFixedBytes;
        s = ExecutePath(b, op.request_txn(), path, pos, nested, reply);
        break;
      }
      default:
        break;
    }
    if (!s.ok()) return s;
    if (reply->too_large.ok() && reply->budget.used > reply->budget.limit) {
      reply->too_large = ResponseTooLarge(reply->budget.used, reply->budget.limit);
    }
    if (!sending) dropped.Clear();
  }
  return Status::OK();
}

Status Applier::SizePathReads(WriteBatch* b, const TxnRequest& r, const std::vector<bool>& path,
                              size_t* pos, ResponseBudget* budget) {
  const bool ok = path[(*pos)++];
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    if (op.request_case() == RequestOp::kRequestTxn) {
      budget->used += kOpFixedBytes;
      Status s = SizePathReads(b, op.request_txn(), path, pos, budget);
      if (!s.ok()) return s;
      continue;
    }
    if (op.request_case() != RequestOp::kRequestRange) continue;
    if (budget->left() <= kRangeFixedBytes) {
      return ResponseTooLarge(budget->used + kRangeFixedBytes, budget->limit);
    }
    const RangeRequest& q = op.request_range();
    RangeOptions opts = ReadOptions(q);
    opts.sizes_only = true;
    opts.max_bytes = budget->left() - kRangeFixedBytes;
    RangeResult rr;
    Status s = b->Range(ToKeyRange(q.key(), q.range_end()), opts, &rr);
    if (IsTooLarge(s)) {
      return ResponseTooLarge(budget->used + kRangeFixedBytes + rr.bytes, budget->limit);
    }
    if (!s.ok()) return s;
    budget->used += kRangeFixedBytes + rr.bytes;
  }
  return Status::OK();
}

Status Applier::Txn(WriteBatch* b, const TxnRequest& r, etcdserverpb::TxnResponse* resp,
                    bool reply) {
  std::vector<bool> path;
  DecidePath(b, r, &path);
  if (TxnHasPuts(r) && alarms_->Has(etcdserverpb::NOSPACE)) {
    return Status::ResourceExhausted(errors::kNoSpace);
  }
  size_t pos = 0;
  Status s = CheckPath(b, r, path, &pos);
  if (!s.ok()) return s;
  if (reply) {
    int reads = 0;
    bool writes = false;
    pos = 0;
    PathShape(r, path, &pos, &reads, &writes);
    if (reads > 1 && !writes) {
      // Many reads, no writes: sized first, so that a reply too large for
      // gRPC fails before gigabytes are copied (one read alone is sized by
      // the store before it copies anything).
      ResponseBudget sizing;
      sizing.limit = max_response_bytes_;
      pos = 0;
      s = SizePathReads(b, r, path, &pos, &sizing);
      if (IsTooLarge(s)) return s;
    }
  }
  pos = 0;
  ReplyState state;
  state.reply = reply;
  state.budget.limit = max_response_bytes_;
  s = ExecutePath(b, r, path, &pos, resp, &state);
  if (!s.ok()) {
    // Checks ran first, so only an I/O failure gets here, with part of the
    // transaction written: the batch must not commit.
    return Status::Corruption("txn failed half-way: " + s.message());
  }
  if (!state.too_large.ok()) {
    // As in etcd, the writes stand; only the reply cannot be sent.
    resp->Clear();
    return state.too_large;
  }
  resp->mutable_header()->set_revision(b->ReadRevision());
  return Status::OK();
}

ApplyResult Applier::Compaction(WriteBatch* b, const etcdserverpb::CompactionRequest& r,
                                etcdserverpb::CompactionResponse* resp) {
  ApplyResult result;
  result.status = b->Compact(r.revision());
  if (!result.status.ok()) return result;
  resp->mutable_header()->set_revision(b->ReadRevision());
  if (r.physical()) result.wait_compacted = r.revision();
  return result;
}

Status Applier::Alarm(WriteBatch* b, const etcdserverpb::AlarmRequest& r,
                      etcdserverpb::AlarmResponse* resp) {
  auto add = [&](uint64_t member, etcdserverpb::AlarmType type) {
    auto* a = resp->add_alarms();
    a->set_memberid(member);
    a->set_alarm(type);
  };
  switch (r.action()) {
    case etcdserverpb::AlarmRequest::GET:
      for (const auto& [m, t] : alarms_->List()) add(m, t);
      break;
    case etcdserverpb::AlarmRequest::ACTIVATE:
      if (r.alarm() == etcdserverpb::NONE) break;
      if (alarms_->Activate(b, r.memberid(), r.alarm())) add(r.memberid(), r.alarm());
      break;
    case etcdserverpb::AlarmRequest::DEACTIVATE:
      if (alarms_->Deactivate(b, r.memberid(), r.alarm())) add(r.memberid(), r.alarm());
      break;
    default:
      break;
  }
  resp->mutable_header()->set_revision(b->ReadRevision());
  return Status::OK();
}

Status Applier::LeaseGrant(WriteBatch* b, const etcdserverpb::LeaseGrantRequest& r,
                           etcdserverpb::LeaseGrantResponse* resp) {
  if (alarms_->Has(etcdserverpb::NOSPACE)) return Status::ResourceExhausted(errors::kNoSpace);
  int64_t granted = 0;
  Status s = store_->lessor()->Grant(b, r.id(), r.ttl(), &granted);
  if (!s.ok()) return s;
  resp->set_id(r.id());
  resp->set_ttl(granted);
  resp->mutable_header()->set_revision(b->ReadRevision());
  return Status::OK();
}

Status Applier::LeaseRevoke(WriteBatch* b, const etcdserverpb::LeaseRevokeRequest& r,
                            etcdserverpb::LeaseRevokeResponse* resp) {
  Status s = store_->lessor()->Revoke(b, r.id());
  if (!s.ok()) return s;
  resp->mutable_header()->set_revision(b->ReadRevision());
  return Status::OK();
}

Status Applier::LeaseRenew(WriteBatch* b, const etcdserverpb::LeaseKeepAliveRequest& r,
                           etcdserverpb::LeaseKeepAliveResponse* resp, LogPosition at) {
  int64_t ttl = 0;
  // A renewal in the log applies whatever this member's clock says (only the
  // leader's deadlines count, and an expiry it decided before this entry
  // skips the lease: see LeaseExpiry). An unknown lease is answered with TTL
  // 0, not an error.
  if (!store_->lessor()->ApplyRenewal(b, r.id(), at.index, &ttl).ok()) ttl = 0;
  resp->set_id(r.id());
  resp->set_ttl(ttl);
  return Status::OK();
}

Status Applier::LeaseCheckpoint(WriteBatch* b, const etcdserverpb::LeaseCheckpointRequest& r) {
  for (const auto& c : r.checkpoints()) {
    Status s = store_->lessor()->Checkpoint(b, c.id(), c.remaining_ttl());
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status Applier::LeaseExpiry(WriteBatch* b, const internalpb::LeaseExpiry& r, LogPosition at) {
  // Only the leader that decided it may append an expiry: one that lands in
  // another term was proposed by a deposed leader and forwarded to the next,
  // whose deadlines were all that counted then. (An entry the deciding
  // leader appended itself and the next leader kept is applied before that
  // leader promotes its lessor, so no promise of the new leader predates it.
  // Entries written before the term was recorded carry 0.)
  if (r.term() != 0 && at.term != 0 && r.term() != at.term) return Status::OK();
  // Each lease is its own transaction: its keys go in one revision, as a
  // revoke would delete them.
  for (int64_t id : r.ids()) {
    if (!LeaseExists(id)) continue;  // revoked meanwhile
    // Renewed through the log after the leader decided (a keep-alive that a
    // follower answered from its log entry): alive. Every member holds the
    // same RenewedAt, so they all decide alike.
    if (r.decided_at() != 0 && store_->lessor()->RenewedAt(id) > r.decided_at()) continue;
    b->EndTxn();
    b->BeginTxn();
    Status s = store_->lessor()->Revoke(b, id);
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  return Status::OK();
}

}  // namespace capstan::api
