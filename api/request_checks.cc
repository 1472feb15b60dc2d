#include "api/request_checks.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/etcd_errors.h"

namespace capstan::api {
namespace {

using etcdserverpb::RequestOp;

Status CheckRequestOp(const RequestOp& op, int max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return CheckRangeRequest(op.request_range());
    case RequestOp::kRequestPut:
      return CheckPutRequest(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return CheckDeleteRequest(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnRequest(op.request_txn(), max_txn_ops);
    case RequestOp::REQUEST_NOT_SET:
      // etcd treats an empty op as nothing to check.
      return Status::OK();
  }
  return Status::OK();
}

// Deletes as half-open intervals [key, end); a single key is [key, key+"\0").
// Like etcd, the end is compared as bytes even when it is "\0" (from-key), so
// such a delete conflicts with nothing: a quirk clients may rely on.
struct Interval {
  std::string begin, end;
  bool Contains(const std::string& k) const { return k >= begin && k < end; }
};

struct PathWrites {
  std::set<std::string> puts;
  std::vector<Interval> dels;
  bool DeletesKey(const std::string& k) const {
    for (const auto& iv : dels) {
      if (iv.Contains(k)) return true;
    }
    return false;
  }
};

Status CheckIntervals(const google::protobuf::RepeatedPtrField<RequestOp>& reqs, PathWrites* out) {
  PathWrites w;
  for (const RequestOp& op : reqs) {
    if (op.request_case() != RequestOp::kRequestDeleteRange) continue;
    const auto& d = op.request_delete_range();
    if (d.range_end().empty()) {
      w.dels.push_back({d.key(), d.key() + std::string(1, '\0')});
    } else {
      w.dels.push_back({d.key(), d.range_end()});
    }
  }
  for (const RequestOp& op : reqs) {
    if (op.request_case() != RequestOp::kRequestTxn) continue;
    PathWrites then_w, else_w;
    Status s = CheckIntervals(op.request_txn().success(), &then_w);
    if (!s.ok()) return s;
    s = CheckIntervals(op.request_txn().failure(), &else_w);
    if (!s.ok()) return s;
    for (const std::string& k : then_w.puts) {
      if (w.puts.count(k) || w.DeletesKey(k)) return Status::InvalidArgument(errors::kDuplicateKey);
      w.puts.insert(k);
    }
    for (const std::string& k : else_w.puts) {
      // Then and else are exclusive: the same key in both is fine.
      if (w.puts.count(k) && !then_w.puts.count(k)) {
        return Status::InvalidArgument(errors::kDuplicateKey);
      }
      if (w.DeletesKey(k)) return Status::InvalidArgument(errors::kDuplicateKey);
      w.puts.insert(k);
    }
    w.dels.insert(w.dels.end(), then_w.dels.begin(), then_w.dels.end());
    w.dels.insert(w.dels.end(), else_w.dels.begin(), else_w.dels.end());
  }
  for (const RequestOp& op : reqs) {
    if (op.request_case() != RequestOp::kRequestPut) continue;
    const std::string& k = op.request_put().key();
    if (w.puts.count(k) || w.DeletesKey(k)) return Status::InvalidArgument(errors::kDuplicateKey);
    w.puts.insert(k);
  }
  *out = std::move(w);
  return Status::OK();
}

}  // namespace

Status CheckRangeRequest(const etcdserverpb::RangeRequest& r) {
  if (r.key().empty()) return Status::InvalidArgument(errors::kEmptyKey);
  if (!etcdserverpb::RangeRequest::SortOrder_IsValid(r.sort_order()) ||
      !etcdserverpb::RangeRequest::SortTarget_IsValid(r.sort_target())) {
    return Status::InvalidArgument(errors::kInvalidSortOption);
  }
  return Status::OK();
}

Status CheckPutRequest(const etcdserverpb::PutRequest& r) {
  if (r.key().empty()) return Status::InvalidArgument(errors::kEmptyKey);
  if (r.ignore_value() && !r.value().empty()) {
    return Status::InvalidArgument(errors::kValueProvided);
  }
  if (r.ignore_lease() && r.lease() != 0) return Status::InvalidArgument(errors::kLeaseProvided);
  return Status::OK();
}

Status CheckDeleteRequest(const etcdserverpb::DeleteRangeRequest& r) {
  if (r.key().empty()) return Status::InvalidArgument(errors::kEmptyKey);
  return Status::OK();
}

Status CheckTxnRequest(const etcdserverpb::TxnRequest& r, int max_txn_ops) {
  int ops = std::max({r.compare_size(), r.success_size(), r.failure_size()});
  if (ops > max_txn_ops) return Status::InvalidArgument(errors::kTooManyOps);
  for (const auto& c : r.compare()) {
    if (c.key().empty()) return Status::InvalidArgument(errors::kEmptyKey);
  }
  // As etcd's checkTxnRequest: a nested txn gets what this level left of the
  // budget, so the whole tree, not each level, is bounded by --max-txn-ops
  // (and so is the nesting depth).
  const int nested_budget = max_txn_ops - ops;
  for (const auto& op : r.success()) {
    Status s = CheckRequestOp(op, nested_budget);
    if (!s.ok()) return s;
  }
  for (const auto& op : r.failure()) {
    Status s = CheckRequestOp(op, nested_budget);
    if (!s.ok()) return s;
  }
  PathWrites w;
  Status s = CheckIntervals(r.success(), &w);
  if (!s.ok()) return s;
  return CheckIntervals(r.failure(), &w);
}

}  // namespace capstan::api
