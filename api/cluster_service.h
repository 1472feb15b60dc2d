// ClusterService: etcd's Cluster gRPC service. Membership changes arrive with
// Raft; until then only MemberList is served.
#pragma once

#include "api/etcd_server.h"
#include "rpc.grpc.pb.h"

namespace capstan::api {

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit ClusterService(EtcdServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;

 private:
  EtcdServer* server_;
};

}  // namespace capstan::api
