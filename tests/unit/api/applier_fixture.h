// ApplierFixture: an Applier over a fresh store in a temporary directory,
// with Apply (one batch per request, committed) and Put helpers.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/applier.h"
#include "storage/temp_dir.h"

namespace capstan::api {

class ApplierFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MvccStore::Open(dir_.Sub("db"), StoreOptions{}, &store_).ok());
    applier_ = std::make_unique<Applier>(store_.get(), &alarms_, &members_);
  }

  // Applies `req` in a batch of its own and commits it.
  Status Apply(const internalpb::InternalRequest& req, google::protobuf::Message* resp) {
    auto b = store_->NewBatch();
    ApplyResult r = applier_->Apply(req, b.get(), resp);
    EXPECT_TRUE(b->Commit().ok());
    return r.status;
  }
  void Put(const std::string& k, const std::string& v) {
    internalpb::InternalRequest req;
    req.mutable_put()->set_key(k);
    req.mutable_put()->set_value(v);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(Apply(req, &resp).ok());
  }

  TempDir dir_;
  std::unique_ptr<MvccStore> store_;
  AlarmSet alarms_;
  MemberTable members_;
  std::unique_ptr<Applier> applier_;
};

}  // namespace capstan::api
