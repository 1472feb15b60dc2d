#include "api/request_checks.h"

#include <gtest/gtest.h>

#include "api/etcd_errors.h"

namespace capstan::api {
namespace {

// A chain of `depth` txns, each holding the next in its success branch, the
// innermost `leaf_puts` puts on distinct keys.
etcdserverpb::TxnRequest NestedTxn(int depth, int leaf_puts) {
  etcdserverpb::TxnRequest root;
  etcdserverpb::TxnRequest* t = &root;
  for (int d = 1; d < depth; ++d) t = t->add_success()->mutable_request_txn();
  for (int i = 0; i < leaf_puts; ++i) {
    t->add_success()->mutable_request_put()->set_key("k" + std::to_string(i));
  }
  return root;
}

TEST(CheckTxnRequest, NestedTxnsShareOneBudgetAsInEtcd) {
  // 128 levels of one op each: the innermost gets 128 - 127 = 1 op.
  EXPECT_TRUE(CheckTxnRequest(NestedTxn(128, 1), 128).ok());
  // One level deeper leaves the innermost txn no budget for its put.
  Status s = CheckTxnRequest(NestedTxn(129, 1), 128);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), errors::kTooManyOps);
  // Two levels: the outer takes 1, the inner may hold 127 puts, not 128.
  EXPECT_TRUE(CheckTxnRequest(NestedTxn(2, 127), 128).ok());
  EXPECT_EQ(CheckTxnRequest(NestedTxn(2, 128), 128).message(), errors::kTooManyOps);
}

TEST(CheckTxnRequest, WideNestingCannotMultiplyTheBudget) {
  // 128 nested txns of 128 puts each: 16,384 writes in one request.
  etcdserverpb::TxnRequest r;
  for (int t = 0; t < 128; ++t) {
    auto* nested = r.add_success()->mutable_request_txn();
    for (int i = 0; i < 128; ++i) {
      nested->add_success()->mutable_request_put()->set_key("k" + std::to_string(t) + "/" +
                                                            std::to_string(i));
    }
  }
  EXPECT_EQ(CheckTxnRequest(r, 128).message(), errors::kTooManyOps);
}

TEST(CheckTxnRequest, TheLargestOfCompareSuccessFailureCounts) {
  etcdserverpb::TxnRequest r;
  for (int i = 0; i < 100; ++i) r.add_compare()->set_key("c");
  auto* nested = r.add_failure()->mutable_request_txn();
  for (int i = 0; i < 28; ++i)
    nested->add_success()->mutable_request_put()->set_key("k" + std::to_string(i));
  EXPECT_TRUE(CheckTxnRequest(r, 128).ok());
  nested->add_success()->mutable_request_put()->set_key("one-more");
  EXPECT_EQ(CheckTxnRequest(r, 128).message(), errors::kTooManyOps);
}

}  // namespace
}  // namespace capstan::api
