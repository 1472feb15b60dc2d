// KvService: etcd's KV gRPC service (Range, Put, DeleteRange, Txn, Compact).
// It validates, then reads the store or proposes; the Applier does the rest.
#pragma once

#include "api/etcd_server.h"
#include "rpc.grpc.pb.h"

namespace capstan::api {

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  explicit KvService(EtcdServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  EtcdServer* server_;
};

}  // namespace capstan::api
