#include "api/lease_service.h"

#include "api/propose_and_reply.h"

namespace capstan::api {
namespace {

using KeepAliveReactor = grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                                 etcdserverpb::LeaseKeepAliveResponse>;

// One keep-alive stream: read a request, renew, write the answer, read the
// next. Requests and answers pair up, so one of each in flight is enough.
class KeepAliveStream final : public KeepAliveReactor {
 public:
  explicit KeepAliveStream(EtcdServer* server) : server_(server) { StartRead(&req_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    resp_.Clear();
    server_->KeepAlive(req_.id(), &resp_, [this](Status s) {
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      server_->FillHeader(resp_.mutable_header());
      StartWrite(&resp_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    StartRead(&req_);
  }

  void OnDone() override { delete this; }

 private:
  EtcdServer* server_;
  etcdserverpb::LeaseKeepAliveRequest req_;
  etcdserverpb::LeaseKeepAliveResponse resp_;
};

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  if (req->ttl() > kMaxLeaseTTL) {
    return FinishNow(ctx, ToGrpcStatus(Status::OutOfRange(errors::kLeaseTTLTooLarge)));
  }
  Status s = server_->CheckQuota(0);
  if (!s.ok()) return FinishNow(ctx, ToGrpcStatus(s));
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  auto* grant = ireq->mutable_lease_grant();
  *grant = *req;
  if (grant->id() == 0) grant->set_id(server_->NewLeaseId());
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  auto ireq = std::make_shared<internalpb::InternalRequest>();
  *ireq->mutable_lease_revoke() = *req;
  return ProposeAndReply(server_, ctx, std::move(ireq), resp);
}

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext*) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return RefuseStream<KeepAliveReactor>(g);
  // Owned by gRPC until OnDone, which deletes it.
  return new KeepAliveStream(server_);  // NOLINT(cppcoreguidelines-owning-memory)
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(
    grpc::CallbackServerContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* req,
    etcdserverpb::LeaseTimeToLiveResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  LeaseInfo info;
  resp->set_id(req->id());
  if (server_->store()->lessor()->TimeToLive(req->id(), req->keys(), &info).ok()) {
    resp->set_ttl(info.remaining_ttl);
    resp->set_grantedttl(info.granted_ttl);
    for (auto& k : info.keys) resp->add_keys(std::move(k));
  } else {
    resp->set_ttl(-1);  // etcd answers an unknown lease with TTL -1, not an error
  }
  server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest*,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) return FinishNow(ctx, g);
  for (int64_t id : server_->store()->lessor()->List()) resp->add_leases()->set_id(id);
  server_->FillHeader(resp->mutable_header());
  return FinishNow(ctx, grpc::Status::OK);
}

}  // namespace capstan::api
