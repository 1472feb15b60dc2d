#include "api/kv_service.h"

#include "api/applier.h"
#include "api/grpc_messages.h"
#include "api/propose_and_reply.h"
#include "api/request_checks.h"

namespace capstan::api {
namespace {

// What a write may add to the database, for the quota check (etcd counts the
// request plus per-key overhead).
constexpr int64_t kPerKeyOverhead = 256;

int64_t TxnPutCost(const etcdserverpb::TxnRequest& r) {
  int64_t cost = 0;
  for (const auto* ops : {&r.success(), &r.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put()) {
        cost += static_cast<int64_t>(op.request_put().ByteSizeLong()) + kPerKeyOverhead;
      } else if (op.has_request_txn()) {
        cost += TxnPutCost(op.request_txn());
      }
    }
  }
  return cost;
}

}  // namespace

KvService::KvService(EtcdServer* server)
    : server_(server), txn_recursion_limit_(TxnRecursionLimit(server->options().max_txn_ops)) {}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  if (grpc::Status g = CheckReceivedSize(*server_, *req); !g.ok()) return FinishNow(ctx, g);
  if (!req->serializable()) {
    if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  }
  Status s = CheckRangeRequest(*req);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto read = [this, reactor, req, resp](Status barrier) {
    Status st = barrier;
    ResponseBudget budget;
    if (st.ok()) st = ExecuteRange(*server_->store(), *req, resp, &budget);
    if (st.ok()) server_->FillHeader(resp->mutable_header());
    reactor->Finish(ToGrpcStatus(st));
  };
  if (req->serializable()) {
    read(Status::OK());
  } else {
    server_->ReadBarrier(std::move(read));
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  if (grpc::Status g = CheckReceivedSize(*server_, *req); !g.ok()) return FinishNow(ctx, g);
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  Status s = CheckPutRequest(*req);
  if (s.ok()) s = server_->CheckQuota(static_cast<int64_t>(req->ByteSizeLong()) + kPerKeyOverhead);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  *ireq->mutable_put() = *req;
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  if (grpc::Status g = CheckReceivedSize(*server_, *req); !g.ok()) return FinishNow(ctx, g);
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  Status s = CheckDeleteRequest(*req);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  *ireq->mutable_delete_range() = *req;
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* raw, grpc::ByteBuffer* out) {
  // The wire size, as grpc-go measures it, before anything is parsed.
  if (grpc::Status g = CheckReceivedBytes(*server_, static_cast<int64_t>(raw->Length())); !g.ok()) {
    return FinishNow(ctx, g);
  }
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  etcdserverpb::TxnRequest* req = ireq->mutable_txn();
  if (grpc::Status g = ParseTxnRequest(*raw, txn_recursion_limit_, req); !g.ok()) {
    return FinishNow(ctx, g);
  }
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  Status s = CheckTxnRequest(*req, server_->options().max_txn_ops);
  if (s.ok()) {
    int64_t cost = TxnPutCost(*req);
    if (cost > 0) s = server_->CheckQuota(cost);
  }
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto resp = std::make_shared<etcdserverpb::TxnResponse>();
  etcdserverpb::TxnResponse* resp_ptr = resp.get();
  EtcdServer* server = server_;
  server_->Propose(std::move(ireq), resp_ptr,
                   [server, reactor, resp = std::move(resp), out](Status st) {
                     if (!st.ok()) {
                       reactor->Finish(ToGrpcStatus(st));
                       return;
                     }
                     server->FillHeader(resp->mutable_header());
                     reactor->Finish(SerializeResponse(*resp, kMaxResponseBytes, out));
                   });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  if (grpc::Status g = CheckReceivedSize(*server_, *req); !g.ok()) return FinishNow(ctx, g);
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  *ireq->mutable_compaction() = *req;
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

}  // namespace capstan::api
