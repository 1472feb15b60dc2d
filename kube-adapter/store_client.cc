#include "kube-adapter/store_client.h"

#include <chrono>

#include "kube-adapter/json_parse.h"

namespace capstan::kube {
namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

std::optional<ApiError> FromGrpc(const grpc::Status& s) {
  if (s.ok()) return std::nullopt;
  if (s.error_message().find("required revision has been compacted") != std::string::npos) {
    return ApiError::Gone(
        "The provided continue parameter is too old to display a consistent "
        "list result. You can start a new list without the continue parameter.");
  }
  return ApiError::InternalError("etcd: " + s.error_message());
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + kTimeout);
  ctx->set_wait_for_ready(true);
  return ctx;
}

}  // namespace

StoreClient::StoreClient(const std::string& target,
                         std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  channel_ = grpc::CreateCustomChannel(
      target, credentials ? credentials : grpc::InsecureChannelCredentials(), args);
  kv_ = etcdserverpb::KV::NewStub(channel_);
  watch_ = etcdserverpb::Watch::NewStub(channel_);
}

std::string StoreClient::PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::optional<ApiError> DecodeStored(const std::string& key, const std::string& value,
                                     int64_t mod_revision, StoredObject* out) {
  out->key = key;
  out->mod_revision = mod_revision;
  // Bounded like a request body: a value written straight through the etcd
  // port must not be able to overflow a stack here either.
  if (!ParseJsonBounded(value, &out->object) || !out->object.is_object()) {
    return ApiError::InternalError("object at " + key + " is not JSON");
  }
  out->object["metadata"]["resourceVersion"] = std::to_string(mod_revision);
  return std::nullopt;
}

std::optional<ApiError> StoreClient::Get(const std::string& key, StoredObject* out, bool* found,
                                         int64_t* revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto e = FromGrpc(kv_->Range(ctx.get(), req, &resp))) return e;
  if (revision) *revision = resp.header().revision();
  *found = resp.kvs_size() > 0;
  if (!*found) return std::nullopt;
  const auto& kv = resp.kvs(0);
  return DecodeStored(kv.key(), kv.value(), kv.mod_revision(), out);
}

std::optional<ApiError> StoreClient::List(const std::string& key, const std::string& end,
                                          int64_t revision, int64_t limit,
                                          std::vector<StoredObject>* out, int64_t* revision_out,
                                          bool* more, int64_t* count) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_range_end(end);
  req.set_revision(revision);
  req.set_limit(limit);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto e = FromGrpc(kv_->Range(ctx.get(), req, &resp))) return e;
  if (revision_out) *revision_out = resp.header().revision();
  if (more) *more = resp.more();
  if (count) *count = resp.count();
  out->reserve(out->size() + resp.kvs_size());
  for (const auto& kv : resp.kvs()) {
    StoredObject o;
    if (auto e = DecodeStored(kv.key(), kv.value(), kv.mod_revision(), &o)) return e;
    out->push_back(std::move(o));
  }
  return std::nullopt;
}

std::optional<ApiError> StoreClient::Txn(const etcdserverpb::TxnRequest& req,
                                         etcdserverpb::TxnResponse* resp) {
  auto ctx = Context();
  return FromGrpc(kv_->Txn(ctx.get(), req, resp));
}

std::optional<ApiError> StoreClient::Revision(int64_t* revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(std::string(1, '\0'));
  req.set_limit(1);
  req.set_count_only(true);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto e = FromGrpc(kv_->Range(ctx.get(), req, &resp))) return e;
  *revision = resp.header().revision();
  return std::nullopt;
}

}  // namespace capstan::kube
