#include "kube-adapter/field_selector.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

Json Pod() {
  return Json::parse(R"({"metadata":{"name":"web-1","namespace":"default"},
      "spec":{"nodeName":"","serviceAccountName":"default","restartPolicy":"Always"},
      "status":{"phase":"Pending"}})");
}

TEST(FieldSelectorTest, MetadataAndPodFields) {
  FieldSelector sel;
  ASSERT_FALSE(FieldSelector::Parse("metadata.name=web-1", "pods", &sel));
  EXPECT_TRUE(sel.Matches(Pod()));
  EXPECT_EQ(sel.ExactName(), "web-1");
  ASSERT_FALSE(FieldSelector::Parse("metadata.name==web-2", "pods", &sel));
  EXPECT_FALSE(sel.Matches(Pod()));
  ASSERT_FALSE(
      FieldSelector::Parse("status.phase!=Running,metadata.namespace=default", "pods", &sel));
  EXPECT_TRUE(sel.Matches(Pod()));
  EXPECT_FALSE(sel.ExactName());
  ASSERT_FALSE(FieldSelector::Parse("spec.nodeName=", "pods", &sel));  // unscheduled pods
  EXPECT_TRUE(sel.Matches(Pod()));
  ASSERT_FALSE(
      FieldSelector::Parse("spec.serviceAccountName=default,status.phase=Pending", "pods", &sel));
  EXPECT_TRUE(sel.Matches(Pod()));
  ASSERT_FALSE(FieldSelector::Parse("metadata.name!=web-1", "pods", &sel));
  EXPECT_FALSE(sel.ExactName());
  EXPECT_FALSE(sel.Matches(Pod()));
}

TEST(FieldSelectorTest, EmptyMatchesAll) {
  FieldSelector sel;
  ASSERT_FALSE(FieldSelector::Parse("", "configmaps", &sel));
  EXPECT_TRUE(sel.Empty());
  EXPECT_TRUE(sel.Matches(Pod()));
}

TEST(FieldSelectorTest, EventsFromKubectlDescribe) {
  Json ev = Json::parse(R"({"metadata":{"name":"e1","namespace":"ns"},
      "involvedObject":{"kind":"Pod","name":"X","namespace":"ns","uid":"U"},
      "reason":"FailedCreate","type":"Warning","source":{"component":"replicaset-controller"}})");
  FieldSelector sel;
  ASSERT_FALSE(FieldSelector::Parse(
      "involvedObject.name=X,involvedObject.namespace=ns,involvedObject.uid=U", "events", &sel));
  EXPECT_TRUE(sel.Matches(ev));
  ASSERT_FALSE(FieldSelector::Parse("involvedObject.uid=V", "events", &sel));
  EXPECT_FALSE(sel.Matches(ev));
  ASSERT_FALSE(FieldSelector::Parse(
      "type=Warning,reason=FailedCreate,source=replicaset-controller,involvedObject.kind=Pod",
      "events", &sel));
  EXPECT_TRUE(sel.Matches(ev));
}

TEST(FieldSelectorTest, SecretsAndNamespaces) {
  FieldSelector sel;
  ASSERT_FALSE(FieldSelector::Parse("type=kubernetes.io/service-account-token", "secrets", &sel));
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"type":"kubernetes.io/service-account-token"})")));
  EXPECT_FALSE(sel.Matches(Json::parse(R"({"type":"Opaque"})")));
  ASSERT_FALSE(FieldSelector::Parse("status.phase=Active", "namespaces", &sel));
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"status":{"phase":"Active"}})")));
}

TEST(FieldSelectorTest, EscapedValues) {
  FieldSelector sel;
  ASSERT_FALSE(FieldSelector::Parse("metadata.name=a\\,b\\=c", "configmaps", &sel));
  EXPECT_EQ(sel.ExactName(), "a,b=c");
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"metadata":{"name":"a,b=c"}})")));
}

TEST(FieldSelectorTest, Errors) {
  FieldSelector sel;
  auto err = FieldSelector::Parse("spec.foo=bar", "pods", &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(err->reason, "BadRequest");
  EXPECT_EQ(err->message, "field label not supported: spec.foo");
  err = FieldSelector::Parse("status.phase=Running", "configmaps", &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message,
            "\"status.phase\" is not a known field selector: only \"metadata.name\", "
            "\"metadata.namespace\"");
  err = FieldSelector::Parse("metadata.name", "pods", &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
  err = FieldSelector::Parse("metadata.name=a\\x", "pods", &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

}  // namespace
}  // namespace capstan::kube
