#include "api/grpc_messages.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <string>
#include <vector>

#include "api/etcd_errors.h"

namespace capstan::api {
namespace {

// Deep enough for --max-txn-ops 1024; parsing costs a few hundred bytes of
// stack per level.
constexpr int kMaxRecursionLimit = 2 * 1024 + 4;

std::string Flatten(const grpc::ByteBuffer& raw) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!raw.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

// Watches one unary call: whether its request was parsed, and if not, the
// status it is answered with.
class UnmarshalErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(grpc::Status(grpc::StatusCode::INTERNAL, kUnmarshalError));
    }
    methods->Proceed();
  }

 private:
  bool unparsed_ = false;
};

class UnmarshalErrorInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Streams parse in their reactors (raw bytes) or finish on a bad read.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) return nullptr;
    return new UnmarshalErrorInterceptor();  // NOLINT(cppcoreguidelines-owning-memory): gRPC owns
                                             // it
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewUnmarshalErrorInterceptorFactory() {
  return std::make_unique<UnmarshalErrorInterceptorFactory>();
}

int TxnRecursionLimit(int max_txn_ops) {
  return std::clamp(2 * (std::max(max_txn_ops, 0) + 1) + 2, 100, kMaxRecursionLimit);
}

int TxnNestingDepth(std::string_view bytes) {
  // TxnRequest: success = 2, failure = 3 (RequestOp); RequestOp: request_txn = 4.
  struct Frame {
    size_t end;
    bool txn;  // a TxnRequest, else a RequestOp
  };
  std::vector<Frame> frames{{bytes.size(), true}};
  size_t p = 0;
  int depth = 1, deepest = 1;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p < bytes.size(); shift += 7) {
      const auto b = static_cast<uint8_t>(bytes[p++]);
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (true) {
    const Frame f = frames.back();
    if (p == f.end) {
      if (frames.size() == 1) return deepest;
      if (f.txn) --depth;
      frames.pop_back();
      continue;
    }
    uint64_t key = 0, v = 0;
    if (!varint(&key)) return -1;
    const uint64_t field = key >> 3;
    switch (key & 7) {
      case 0:
        if (!varint(&v)) return -1;
        break;
      case 1:
        p += 8;
        break;
      case 5:
        p += 4;
        break;
      case 2: {
        if (!varint(&v) || v > f.end - std::min(p, f.end)) return -1;
        const bool enter = f.txn ? (field == 2 || field == 3) : field == 4;
        if (!enter) {
          p += v;
          break;
        }
        frames.push_back({p + v, !f.txn});
        if (!f.txn) deepest = std::max(deepest, ++depth);
        break;
      }
      default:
        return -1;  // groups: etcd's messages have none
    }
    if (p > frames.back().end) return -1;
  }
}

grpc::Status ParseTxnRequest(const grpc::ByteBuffer& raw, int recursion_limit,
                             etcdserverpb::TxnRequest* out) {
  bool parsed = false;
  {
    grpc::ByteBuffer copy(raw);  // shares the slices
    grpc::ProtoBufferReader reader(&copy);
    google::protobuf::io::CodedInputStream in(&reader);
    in.SetRecursionLimit(recursion_limit);
    parsed = reader.status().ok() && out->ParseFromCodedStream(&in);
  }
  if (parsed) return grpc::Status::OK;
  out->Clear();
  // Only the failure path looks at the bytes again.
  const int depth = TxnNestingDepth(Flatten(raw));
  if (depth > 0 && 2 * (depth - 1) >= recursion_limit - 2) {
    return ToGrpcStatus(Status::InvalidArgument(errors::kTooManyOps));
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, kUnmarshalError);
}

grpc::Status SerializeResponse(const google::protobuf::Message& m, int64_t max_bytes,
                               grpc::ByteBuffer* out) {
  const size_t size = m.ByteSizeLong();
  if (size > static_cast<size_t>(max_bytes)) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "grpc: trying to send message larger than max (" + std::to_string(size) +
                            " vs. " + std::to_string(max_bytes) + ")");
  }
  bool own_buffer = false;
  return grpc::SerializationTraits<google::protobuf::Message>::Serialize(m, out, &own_buffer);
}

}  // namespace capstan::api
