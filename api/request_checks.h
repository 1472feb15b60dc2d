// Validation of client requests before they are proposed, with etcd's errors
// and in etcd's order (its v3rpc key.go checks), so bad input is refused at the
// door and never reaches the log.
#pragma once

#include "rpc.pb.h"
#include "storage/status.h"

namespace capstan::api {

Status CheckRangeRequest(const etcdserverpb::RangeRequest& r);
Status CheckPutRequest(const etcdserverpb::PutRequest& r);
Status CheckDeleteRequest(const etcdserverpb::DeleteRangeRequest& r);
// Limits, empty keys and, recursively, every operation; then puts that
// collide with each other or with deletes on the same path (duplicate key).
// `max_txn_ops` bounds the whole tree as in etcd: a level may hold that many
// compares or ops per branch, and its nested txns share what it leaves.
Status CheckTxnRequest(const etcdserverpb::TxnRequest& r, int max_txn_ops);

}  // namespace capstan::api
