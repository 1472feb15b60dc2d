#include "api/applier.h"

#include <gtest/gtest.h>

#include "applier_fixture.h"

namespace capstan::api {
namespace {

using etcdserverpb::Compare;

class ApplierTest : public ApplierFixture {
 protected:
  // Runs a txn with one compare; returns whether it succeeded.
  bool Cmp(Compare c, const std::string& range_end = "") {
    internalpb::InternalRequest req;
    c.set_range_end(range_end);
    *req.mutable_txn()->add_compare() = c;
    etcdserverpb::TxnResponse resp;
    EXPECT_TRUE(Apply(req, &resp).ok());
    return resp.succeeded();
  }
  static Compare C(const std::string& key, Compare::CompareTarget t, Compare::CompareResult r) {
    Compare c;
    c.set_key(key);
    c.set_target(t);
    c.set_result(r);
    return c;
  }
};

TEST_F(ApplierTest, CompareTargetsAndResults) {
  Put("a", "m");  // rev 2
  Put("a", "n");  // rev 3, version 2
  Compare c = C("a", Compare::VALUE, Compare::EQUAL);
  c.set_value("n");
  EXPECT_TRUE(Cmp(c));
  c.set_result(Compare::GREATER);
  c.set_value("m");
  EXPECT_TRUE(Cmp(c));
  c.set_result(Compare::LESS);
  EXPECT_FALSE(Cmp(c));
  c.set_result(Compare::NOT_EQUAL);
  EXPECT_TRUE(Cmp(c));

  c = C("a", Compare::VERSION, Compare::EQUAL);
  c.set_version(2);
  EXPECT_TRUE(Cmp(c));
  c = C("a", Compare::CREATE, Compare::EQUAL);
  c.set_create_revision(2);
  EXPECT_TRUE(Cmp(c));
  c = C("a", Compare::MOD, Compare::LESS);
  c.set_mod_revision(4);
  EXPECT_TRUE(Cmp(c));
  c = C("a", Compare::LEASE, Compare::EQUAL);
  c.set_lease(0);
  EXPECT_TRUE(Cmp(c));
}

TEST_F(ApplierTest, MissingKeysCompareAsZeroButNeverByValue) {
  Compare c = C("nope", Compare::VERSION, Compare::EQUAL);
  c.set_version(0);
  EXPECT_TRUE(Cmp(c));
  c = C("nope", Compare::MOD, Compare::EQUAL);
  c.set_mod_revision(0);
  EXPECT_TRUE(Cmp(c));
  c = C("nope", Compare::VALUE, Compare::EQUAL);
  c.set_value("");
  EXPECT_FALSE(Cmp(c));
  c.set_result(Compare::NOT_EQUAL);
  EXPECT_FALSE(Cmp(c));  // even "not equal" fails: there is no value
}

TEST_F(ApplierTest, RangeCompareNeedsEveryKey) {
  Put("p/1", "x");
  Put("p/2", "x");
  Compare c = C("p/", Compare::VALUE, Compare::EQUAL);
  c.set_value("x");
  EXPECT_TRUE(Cmp(c, "p0"));
  Put("p/3", "y");
  EXPECT_FALSE(Cmp(c, "p0"));
}

TEST_F(ApplierTest, NestedComparesAreDecidedBeforeWrites) {
  Put("k", "1");
  // success: put k=2, then a nested txn comparing k == "1" — decided on the
  // state before the outer txn, so it still succeeds (as in etcd).
  internalpb::InternalRequest req;
  auto* txn = req.mutable_txn();
  Compare c = C("k", Compare::VALUE, Compare::EQUAL);
  c.set_value("1");
  *txn->add_compare() = c;
  auto* put = txn->add_success()->mutable_request_put();
  put->set_key("k");
  put->set_value("2");
  auto* nested = txn->add_success()->mutable_request_txn();
  *nested->add_compare() = c;
  nested->add_success()->mutable_request_range()->set_key("k");
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(Apply(req, &resp).ok());
  ASSERT_TRUE(resp.succeeded());
  const auto& inner = resp.responses(1).response_txn();
  EXPECT_TRUE(inner.succeeded());
  // ...while its range reads the txn's own earlier write.
  EXPECT_EQ(inner.responses(0).response_range().kvs(0).value(), "2");
  // Both changes share one revision.
  EXPECT_EQ(resp.header().revision(), 3);
}

TEST_F(ApplierTest, NoSpaceRefusesPutsNotDeletes) {
  Put("a", "1");
  {
    auto b = store_->NewBatch();
    alarms_.Activate(b.get(), 1, etcdserverpb::NOSPACE);
    ASSERT_TRUE(b->Commit().ok());
  }
  internalpb::InternalRequest put;
  put.mutable_put()->set_key("b");
  etcdserverpb::PutResponse pr;
  EXPECT_EQ(Apply(put, &pr).message(), "mvcc: database space exceeded");
  internalpb::InternalRequest del_txn;
  auto* d = del_txn.mutable_txn()->add_success()->mutable_request_delete_range();
  d->set_key("a");
  etcdserverpb::TxnResponse tr;
  ASSERT_TRUE(Apply(del_txn, &tr).ok());
  EXPECT_EQ(tr.responses(0).response_delete_range().deleted(), 1);
}

}  // namespace
}  // namespace capstan::api
