// StoreClient: the kube-adapter's only way to the store: an etcd v3 client
// (Range, Txn, Watch) on a local client URL, exactly as kube-apiserver talks
// to etcd. Writes therefore take the proposal path, replicate, and are
// visible with etcdctl; the adapter could even run against real etcd.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"
#include "rpc.grpc.pb.h"

namespace capstan::kube {

// One stored object: its JSON and its mod_revision (the resourceVersion).
struct StoredObject {
  std::string key;
  Json object;
  int64_t mod_revision = 0;
};

class StoreClient {
 public:
  // `target` is a gRPC target such as "127.0.0.1:2379".
  explicit StoreClient(const std::string& target,
                       std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // Reads one key. *found is false when it is absent.
  std::optional<ApiError> Get(const std::string& key, StoredObject* out, bool* found,
                              int64_t* revision = nullptr);
  // Reads [key, end) at `revision` (0 = latest), at most `limit` keys (0 = all).
  // *revision_out is the store revision of the read; *more whether keys remain.
  std::optional<ApiError> List(const std::string& key, const std::string& end, int64_t revision,
                               int64_t limit, std::vector<StoredObject>* out, int64_t* revision_out,
                               bool* more, int64_t* count = nullptr);
  std::optional<ApiError> Txn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp);
  // Current store revision.
  std::optional<ApiError> Revision(int64_t* revision);

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  etcdserverpb::Watch::Stub* watch_stub() { return watch_.get(); }

  // The end of the prefix range of `prefix` (etcd's GetPrefixRangeEnd).
  static std::string PrefixEnd(const std::string& prefix);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
};

// A stored value as JSON; InternalError if it is not JSON.
std::optional<ApiError> DecodeStored(const std::string& key, const std::string& value,
                                     int64_t mod_revision, StoredObject* out);

}  // namespace capstan::kube
