// WatchService: etcd's Watch gRPC service, one bidi stream per client call.
//
// Each call gets a reactor that owns a watch::WatchStream: requests are read
// one at a time and turned into hub calls; responses are written one at a
// time from the stream's queue, and the hub wakes the reactor when it queued
// more. The method is registered raw (ByteBuffer in both directions) so that
// events, encoded once by the hub, are framed into the response without being
// parsed or serialized again per stream.
#pragma once

#include "api/etcd_server.h"
#include "rpc.grpc.pb.h"

namespace capstan::api {

class WatchService final
    : public etcdserverpb::Watch::WithRawCallbackMethod_Watch<etcdserverpb::Watch::Service> {
 public:
  explicit WatchService(EtcdServer* server) : server_(server) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  EtcdServer* server_;
};

}  // namespace capstan::api
