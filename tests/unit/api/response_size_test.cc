// Responses are bounded while they are built (api/applier.h ResponseBudget),
// and requests are parsed with etcd's limits (api/grpc_messages.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/applier.h"
#include "api/etcd_errors.h"
#include "api/grpc_messages.h"
#include "applier_fixture.h"

namespace capstan::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class ResponseSizeTest : public ApplierFixture {
 protected:
  void SetUp() override {
    ApplierFixture::SetUp();
    for (int i = 0; i < 10; ++i) Put("k" + std::to_string(i), std::string(100, 'v'));
  }
  static etcdserverpb::RangeRequest All() {
    etcdserverpb::RangeRequest r;
    r.set_key("k");
    r.set_range_end("l");
    return r;
  }
};

TEST_F(ResponseSizeTest, StoreRefusesARangeOverItsBoundBeforeReadingValues) {
  RangeOptions opts;
  opts.max_bytes = 500;
  RangeResult rr;
  Status s = store_->Range(KeyRange{"k", "l"}, opts, &rr);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_TRUE(rr.kvs.empty());
  EXPECT_GT(rr.bytes, 500);
  opts.max_bytes = 0;
  ASSERT_TRUE(store_->Range(KeyRange{"k", "l"}, opts, &rr).ok());
  EXPECT_EQ(rr.kvs.size(), 10u);
  int64_t exact = 0;
  for (const auto& kv : rr.kvs) exact += RangeKvBytes(kv.ByteSizeLong());
  EXPECT_GE(rr.bytes, exact);  // never less than what the response holds
}

TEST_F(ResponseSizeTest, RangeChargesItsBudgetAtLeastWhatTheResponseHolds) {
  ResponseBudget budget;
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(ExecuteRange(*store_, All(), &resp, &budget).ok());
  EXPECT_EQ(resp.kvs_size(), 10);
  EXPECT_GE(budget.used, static_cast<int64_t>(resp.ByteSizeLong()));
}

TEST_F(ResponseSizeTest, RangeOverItsBudgetFailsWithGrpcGosText) {
  ResponseBudget budget;
  budget.limit = 1000;
  etcdserverpb::RangeResponse resp;
  Status s = ExecuteRange(*store_, All(), &resp, &budget);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_THAT(s.message(), StartsWith("grpc: trying to send message larger than max ("));
  EXPECT_THAT(s.message(), HasSubstr(" vs. 1000)"));
  EXPECT_EQ(resp.kvs_size(), 0);
  // Sent as is, without etcd's "etcdserver: " prefix.
  EXPECT_EQ(ToGrpcStatus(s).error_message(), s.message());
  EXPECT_EQ(ToGrpcStatus(s).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ResponseSizeTest, TxnOfManyRangesStopsAtTheLimitAndKeepsItsWrites) {
  applier_->set_max_response_bytes(5000);  // each range: ~1.2 KB
  internalpb::InternalRequest req;
  auto* txn = req.mutable_txn();
  for (int i = 0; i < 128; ++i) *txn->add_success()->mutable_request_range() = All();
  txn->add_success()->mutable_request_put()->set_key("written");
  etcdserverpb::TxnResponse resp;
  Status s = Apply(req, &resp);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(" vs. 5000)"));
  EXPECT_EQ(resp.responses_size(), 0);  // nothing kept of the reply
  RangeResult rr;
  ASSERT_TRUE(store_->Range(KeyRange{"written", ""}, RangeOptions{}, &rr).ok());
  EXPECT_EQ(rr.kvs.size(), 1u);  // as etcd: applied, only the reply failed

  // Under the limit, the same txn with 3 ranges is answered in full, and
  // the accounting never undercounts.
  applier_->set_max_response_bytes(kMaxResponseBytes);
  internalpb::InternalRequest small;
  for (int i = 0; i < 3; ++i) *small.mutable_txn()->add_success()->mutable_request_range() = All();
  etcdserverpb::TxnResponse ok;
  ASSERT_TRUE(Apply(small, &ok).ok());
  EXPECT_EQ(ok.responses_size(), 3);
  applier_->set_max_response_bytes(static_cast<int64_t>(ok.ByteSizeLong()) + 3 * 200);
  ASSERT_TRUE(Apply(small, &ok).ok());
}

TEST_F(ResponseSizeTest, DeleteWithPrevKvsOverTheLimitDeletesButRefusesTheReply) {
  applier_->set_max_response_bytes(500);
  internalpb::InternalRequest req;
  req.mutable_delete_range()->set_key("k");
  req.mutable_delete_range()->set_range_end("l");
  req.mutable_delete_range()->set_prev_kv(true);
  etcdserverpb::DeleteRangeResponse resp;
  Status s = Apply(req, &resp);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(resp.prev_kvs_size(), 0);
  RangeResult rr;
  ASSERT_TRUE(store_->Range(KeyRange{"k", "l"}, RangeOptions{}, &rr).ok());
  EXPECT_TRUE(rr.kvs.empty());  // deleted all the same

  // Without a waiting client (a follower) no old value is read or refused.
  for (int i = 0; i < 10; ++i) Put("k" + std::to_string(i), std::string(100, 'v'));
  EXPECT_TRUE(Apply(req, nullptr).ok());
  ASSERT_TRUE(store_->Range(KeyRange{"k", "l"}, RangeOptions{}, &rr).ok());
  EXPECT_TRUE(rr.kvs.empty());
}

TEST_F(ResponseSizeTest, TxnWithoutAWaitingClientSkipsItsReads) {
  applier_->set_max_response_bytes(1000);
  internalpb::InternalRequest req;
  for (int i = 0; i < 128; ++i) *req.mutable_txn()->add_success()->mutable_request_range() = All();
  EXPECT_TRUE(Apply(req, nullptr).ok());  // a follower: nothing read, nothing refused
}

// --------------------------------------------------------- request parsing

etcdserverpb::TxnRequest Nested(int depth) {
  etcdserverpb::TxnRequest root;
  etcdserverpb::TxnRequest* t = &root;
  for (int d = 1; d < depth; ++d) t = t->add_success()->mutable_request_txn();
  t->add_success()->mutable_request_put()->set_key("k");
  return root;
}

// The same, encoded without building the message (protobuf's own code
// recurses per level, too deep for a test's stack at 100,000 levels).
std::string NestedBytes(int depth) {
  auto varint = [](std::string* out, size_t n) {
    for (; n >= 0x80; n >>= 7) out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    out->push_back(static_cast<char>(n));
  };
  const std::string innermost("\x12\x05\x12\x03\x0a\x01k", 7);  // success: put "k"
  // Each level is TxnRequest.success (2) { RequestOp.request_txn (4) { inner } }:
  // its two headers are written outermost first, so sizes go inside out.
  std::vector<std::string> headers;
  size_t size = innermost.size();
  for (int d = 1; d < depth; ++d) {
    std::string op_header("\x22", 1), txn_header("\x12", 1);
    varint(&op_header, size);
    size += op_header.size();
    varint(&txn_header, size);
    size += txn_header.size();
    headers.push_back(txn_header + op_header);
  }
  std::string out;
  out.reserve(size);
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) out += *it;
  return out + innermost;
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(GrpcMessages, NestingDepthWithoutRecursion) {
  EXPECT_EQ(TxnNestingDepth(Nested(1).SerializeAsString()), 1);
  EXPECT_EQ(TxnNestingDepth(Nested(128).SerializeAsString()), 128);
  EXPECT_EQ(NestedBytes(128), Nested(128).SerializeAsString());
  EXPECT_EQ(TxnNestingDepth(NestedBytes(100000)), 100000);
  EXPECT_EQ(TxnNestingDepth(std::string("\x12\x05\x22", 3)), -1);  // truncated
}

TEST(GrpcMessages, ParsesEveryDepthEtcdAccepts) {
  const int limit = TxnRecursionLimit(128);
  for (int depth : {1, 50, 51, 99, 127, 128, 129}) {
    etcdserverpb::TxnRequest parsed;
    grpc::Status g = ParseTxnRequest(Buffer(Nested(depth).SerializeAsString()), limit, &parsed);
    EXPECT_TRUE(g.ok()) << depth << ": " << g.error_message();
    EXPECT_EQ(parsed.ByteSizeLong(), Nested(depth).ByteSizeLong());
  }
}

TEST(GrpcMessages, TooDeepIsTooManyOpsAsInEtcd) {
  etcdserverpb::TxnRequest parsed;
  grpc::Status g = ParseTxnRequest(Buffer(NestedBytes(100000)), TxnRecursionLimit(128), &parsed);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "etcdserver: too many operations in txn request");
}

TEST(GrpcMessages, GarbageIsEtcdsUnmarshalError) {
  etcdserverpb::TxnRequest parsed;
  grpc::Status g = ParseTxnRequest(Buffer(std::string("\x0a\xff\xff\x01zz", 6)), 300, &parsed);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(g.error_message(), StartsWith("grpc: error unmarshalling request: "));
}

TEST(GrpcMessages, SerializeRefusesOverTheLimit) {
  etcdserverpb::TxnResponse r;
  r.add_responses()->mutable_response_range()->add_kvs()->set_value(std::string(1000, 'x'));
  grpc::ByteBuffer out;
  grpc::Status g = SerializeResponse(r, 100, &out);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(g.error_message(), "grpc: trying to send message larger than max (" +
                                   std::to_string(r.ByteSizeLong()) + " vs. 100)");
  EXPECT_TRUE(SerializeResponse(r, kMaxResponseBytes, &out).ok());
  EXPECT_EQ(out.Length(), r.ByteSizeLong());
}

}  // namespace
}  // namespace capstan::api
