// Every etcd v3 gRPC request message, parsed from bytes as the server parses
// it (gRPC's protobuf parse, recursion limit 100; a Txn by
// api/grpc_messages.h's ParseTxnRequest with the limit for the default
// --max-txn-ops), then put through the server's request checks
// (api/request_checks.h). The first input byte picks the message type.
//
// Properties: no crash, leak or undefined behaviour; a parsed Txn is never
// nested deeper than its recursion limit allows, and a refused one gets
// etcd's INVALID_ARGUMENT or INTERNAL; a check either accepts or answers
// etcd's InvalidArgument.
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "api/grpc_messages.h"
#include "api/request_checks.h"
#include "fuzz/fuzz_input.h"
#include "internal.pb.h"
#include "rpc.pb.h"

namespace {

using google::protobuf::Message;
namespace pb = etcdserverpb;

const std::vector<const Message*>& RequestTypes() {
  static const std::vector<const Message*> types = {
      // KV (checked below)
      &pb::RangeRequest::default_instance(),
      &pb::PutRequest::default_instance(),
      &pb::DeleteRangeRequest::default_instance(),
      &pb::TxnRequest::default_instance(),
      &pb::CompactionRequest::default_instance(),
      // Watch (the stream's raw frames decode to WatchRequest)
      &pb::WatchRequest::default_instance(),
      // Lease
      &pb::LeaseGrantRequest::default_instance(),
      &pb::LeaseRevokeRequest::default_instance(),
      &pb::LeaseKeepAliveRequest::default_instance(),
      &pb::LeaseTimeToLiveRequest::default_instance(),
      &pb::LeaseLeasesRequest::default_instance(),
      &pb::LeaseCheckpointRequest::default_instance(),
      // Cluster
      &pb::MemberAddRequest::default_instance(),
      &pb::MemberRemoveRequest::default_instance(),
      &pb::MemberUpdateRequest::default_instance(),
      &pb::MemberListRequest::default_instance(),
      &pb::MemberPromoteRequest::default_instance(),
      // Maintenance
      &pb::AlarmRequest::default_instance(),
      &pb::StatusRequest::default_instance(),
      &pb::DefragmentRequest::default_instance(),
      &pb::HashRequest::default_instance(),
      &pb::HashKVRequest::default_instance(),
      &pb::SnapshotRequest::default_instance(),
      &pb::MoveLeaderRequest::default_instance(),
      &pb::DowngradeRequest::default_instance(),
      // Auth (the service answers them; they are still decoded)
      &pb::AuthenticateRequest::default_instance(),
      &pb::AuthUserAddRequest::default_instance(),
      &pb::AuthRoleGrantPermissionRequest::default_instance(),
      // What the applier decodes from each committed log entry.
      &capstan::internalpb::InternalRequest::default_instance(),
  };
  return types;
}

// Txn nesting depth, counted without recursion.
int TxnDepth(const pb::TxnRequest& root) {
  struct Item {
    const pb::TxnRequest* txn;
    int depth;
  };
  std::vector<Item> stack = {{&root, 1}};
  int max_depth = 0;
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    max_depth = std::max(max_depth, it.depth);
    for (const auto* ops : {&it.txn->success(), &it.txn->failure()}) {
      for (const pb::RequestOp& op : *ops) {
        if (op.has_request_txn()) stack.push_back({&op.request_txn(), it.depth + 1});
      }
    }
  }
  return max_depth;
}

void CheckResult(const capstan::Status& s) {
  if (!s.ok() && s.code() != capstan::Status::Code::kInvalidArgument) {
    capstan::fuzz::Fail("a request check answered something other than InvalidArgument");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::fuzz::FuzzInput in(data, size);
  const auto& types = RequestTypes();
  const Message* type = types[in.Byte() % types.size()];
  std::string_view body = in.Rest();
  std::unique_ptr<Message> msg(type->New());
  if (auto* t = dynamic_cast<pb::TxnRequest*>(msg.get())) {
    static const int limit = capstan::api::TxnRecursionLimit(128);
    grpc::Slice slice(body.data(), body.size());
    grpc::ByteBuffer raw(&slice, 1);
    const grpc::Status g = capstan::api::ParseTxnRequest(raw, limit, t);
    if (!g.ok()) {
      if (g.error_code() != grpc::StatusCode::INVALID_ARGUMENT &&
          g.error_code() != grpc::StatusCode::INTERNAL) {
        capstan::fuzz::Fail("a refused Txn got a code etcd does not answer");
      }
      return 0;
    }
    // TxnRequest -> RequestOp -> TxnRequest: two parse levels per Txn level.
    if (TxnDepth(*t) > limit / 2 + 1) {
      capstan::fuzz::Fail("Txn nested deeper than the parse limit allows");
    }
    CheckResult(capstan::api::CheckTxnRequest(*t, 128));
  } else if (!msg->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return 0;
  }

  if (auto* r = dynamic_cast<pb::RangeRequest*>(msg.get())) {
    CheckResult(capstan::api::CheckRangeRequest(*r));
  } else if (auto* p = dynamic_cast<pb::PutRequest*>(msg.get())) {
    CheckResult(capstan::api::CheckPutRequest(*p));
  } else if (auto* d = dynamic_cast<pb::DeleteRangeRequest*>(msg.get())) {
    CheckResult(capstan::api::CheckDeleteRequest(*d));
  }
  // What the server does with any request it keeps: size and copy it.
  (void)msg->ByteSizeLong();
  std::unique_ptr<Message> copy(type->New());
  copy->CopyFrom(*msg);
  return 0;
}
