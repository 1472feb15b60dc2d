#include "kube-adapter/object_patch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "kube-adapter/json_parse.h"
#include "kube-adapter/stack_thread.h"

namespace capstan::kube {
namespace {

Json Deployment() {
  return Json::parse(R"({
    "apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"default","labels":{"app":"web"},
                "finalizers":["a"]},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[
          {"name":"nginx","image":"nginx:1.18","ports":[{"containerPort":80,"protocol":"TCP"}],
           "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
          {"name":"sidecar","image":"busybox"}]}}}})");
}

// --- merge patch -----------------------------------------------------------

TEST(MergePatchTest, LabelAddAndRemoveWithNull) {
  Json obj = Deployment();
  ASSERT_FALSE(
      ApplyMergePatch(&obj, Json::parse(R"({"metadata":{"labels":{"usage":"Intranet"}}})")));
  EXPECT_EQ(obj["metadata"]["labels"], Json::parse(R"({"app":"web","usage":"Intranet"})"));
  ASSERT_FALSE(ApplyMergePatch(&obj, Json::parse(R"({"metadata":{"labels":{"app":null}}})")));
  EXPECT_EQ(obj["metadata"]["labels"], Json::parse(R"({"usage":"Intranet"})"));
}

TEST(MergePatchTest, AnnotateCreatesMissingMap) {
  Json obj = Json::parse(R"({"metadata":{"name":"x"}})");
  ASSERT_FALSE(ApplyMergePatch(&obj, Json::parse(R"({"metadata":{"annotations":{"a":"b"}}})")));
  EXPECT_EQ(obj["metadata"]["annotations"]["a"], "b");
}

TEST(MergePatchTest, ListsAreReplacedWhole) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyMergePatch(
      &obj,
      Json::parse(R"({"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"n"}]}}}})")));
  EXPECT_EQ(obj["spec"]["replicas"], 2);
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"], Json::parse(R"([{"name":"n"}])"));
}

TEST(MergePatchTest, NonObjectPatchIsBadRequest) {
  Json obj = Deployment();
  Json before = obj;
  auto err = ApplyMergePatch(&obj, Json::parse("[1]"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(err->reason, "BadRequest");
  EXPECT_EQ(obj, before);
}

// --- JSON patch ------------------------------------------------------------

TEST(JsonPatchTest, AllOperations) {
  Json obj = Json::parse(R"({"a":{"b":1},"list":[1,2,3]})");
  Json patch = Json::parse(R"([
    {"op":"test","path":"/a/b","value":1},
    {"op":"add","path":"/a/c","value":"x"},
    {"op":"replace","path":"/a/b","value":2},
    {"op":"add","path":"/list/1","value":9},
    {"op":"add","path":"/list/-","value":4},
    {"op":"remove","path":"/list/0"},
    {"op":"copy","from":"/a/c","path":"/d"},
    {"op":"move","from":"/a/b","path":"/e"},
    {"op":"add","path":"/f~1g","value":true}
  ])");
  ASSERT_FALSE(ApplyJsonPatch(&obj, patch));
  EXPECT_EQ(obj, Json::parse(R"({"a":{"c":"x"},"list":[9,2,3,4],"d":"x","e":2,"f/g":true})"));
}

TEST(JsonPatchTest, FailedTestIs422AndAtomic) {
  Json obj = Json::parse(R"({"spec":{"replicas":1}})");
  auto err = ApplyJsonPatch(&obj, Json::parse(R"([
    {"op":"replace","path":"/spec/replicas","value":5},
    {"op":"test","path":"/spec/replicas","value":3}])"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 422);
  EXPECT_EQ(err->reason, "Invalid");
  EXPECT_EQ(err->message, "the server rejected our request due to an error in our request");
  ASSERT_EQ(err->causes.size(), 1u);
  EXPECT_EQ(err->causes[0].reason, "UnexpectedServerResponse");
  EXPECT_EQ(err->causes[0].message, "testing value /spec/replicas failed: test failed");
  EXPECT_EQ(obj["spec"]["replicas"], 1);
}

TEST(JsonPatchTest, MissingPathsReported) {
  Json obj = Json::parse(R"({"a":{}})");
  auto err = ApplyJsonPatch(&obj, Json::parse(R"([{"op":"remove","path":"/a/zz"}])"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 422);
  EXPECT_EQ(err->causes[0].message, "Unable to remove nonexistent key: zz: missing value");
  err = ApplyJsonPatch(&obj, Json::parse(R"([{"op":"add","path":"/x/y","value":1}])"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->causes[0].message,
            "add operation does not apply: doc is missing path: \"/x/y\": missing value");
  err = ApplyJsonPatch(&obj, Json::parse(R"([{"op":"replace","path":"/a/q","value":1}])"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->causes[0].message,
            "replace operation does not apply: doc is missing key: /a/q: missing value");
  err = ApplyJsonPatch(&obj, Json::parse(R"([{"op":"bogus","path":"/a"}])"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->causes[0].message, "Unexpected kind: bogus");
}

TEST(JsonPatchTest, NonArrayIsBadRequest) {
  Json obj = Json::object();
  auto err = ApplyJsonPatch(&obj, Json::parse(R"({"op":"add"})"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

// --- strategic merge patch -------------------------------------------------

TEST(StrategicMergePatchTest, KubectlApplyKeepsContainerPorts) {
  Json obj = Deployment();
  // What kubectl 1.20 apply sends for an image change (SPEC §3).
  Json patch = Json::parse(
      R"({"spec":{"replicas":2,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.19","name":"nginx"}]}}}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(&obj, patch, "Deployment"));
  EXPECT_EQ(obj["spec"]["replicas"], 2);
  const Json& cs = obj["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0]["name"], "nginx");
  EXPECT_EQ(cs[0]["image"], "nginx:1.19");
  EXPECT_EQ(cs[0]["ports"], Json::parse(R"([{"containerPort":80,"protocol":"TCP"}])"));
  EXPECT_EQ(cs[1]["name"], "sidecar");
  EXPECT_FALSE(obj["spec"]["template"]["spec"].contains("$setElementOrder/containers"));
}

TEST(StrategicMergePatchTest, PodSpecAtPodAndCronJobPaths) {
  Json pod = Json::parse(
      R"({"spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":1}]}]}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &pod, Json::parse(R"({"spec":{"containers":[{"name":"a","image":"y"}]}})"), "Pod"));
  EXPECT_EQ(pod["spec"]["containers"][0]["ports"].size(), 1u);
  EXPECT_EQ(pod["spec"]["containers"][0]["image"], "y");

  Json cj = Json::parse(R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{
      "containers":[{"name":"c","image":"x","env":[{"name":"E","value":"1"}]}]}}}}}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &cj, Json::parse(R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{
          "containers":[{"name":"c","env":[{"name":"F","value":"2"}]}]}}}}}})"),
      "CronJob"));
  const Json& c = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "x");
  EXPECT_EQ(c["env"], Json::parse(R"([{"name":"E","value":"1"},{"name":"F","value":"2"}])"));
}

TEST(StrategicMergePatchTest, DeleteDirectiveRemovesKeyedItem) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyStrategicMergePatch(&obj,
                                        Json::parse(R"({"spec":{"template":{"spec":{"containers":[
          {"name":"sidecar","$patch":"delete"},
          {"name":"nginx","env":[{"name":"A","$patch":"delete"}]}]}}}})"),
                                        "Deployment"));
  const Json& cs = obj["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0]["env"], Json::parse(R"([{"name":"B","value":"2"}])"));
}

TEST(StrategicMergePatchTest, ReplaceDirectives) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyStrategicMergePatch(&obj,
                                        Json::parse(R"({"spec":{"template":{"spec":{"containers":[
          {"name":"only","image":"i"},{"$patch":"replace"}]}}},
          "metadata":{"labels":{"$patch":"replace","x":"y"}}})"),
                                        "Deployment"));
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"],
            Json::parse(R"([{"name":"only","image":"i"}])"));
  EXPECT_EQ(obj["metadata"]["labels"], Json::parse(R"({"x":"y"})"));
}

TEST(StrategicMergePatchTest, SetElementOrderReorders) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyStrategicMergePatch(&obj, Json::parse(R"({"spec":{"template":{"spec":{
          "$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"},{"name":"new"}],
          "containers":[{"name":"new","image":"n"}]}}}})"),
                                        "Deployment"));
  const Json& cs = obj["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0]["name"], "sidecar");
  EXPECT_EQ(cs[1]["name"], "nginx");
  EXPECT_EQ(cs[2]["name"], "new");
}

TEST(StrategicMergePatchTest, NullDeletesAndNestedMapsMerge) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &obj,
      Json::parse(R"({"metadata":{"labels":{"app":null,"tier":"fe"}},"spec":{"selector":null}})"),
      "Deployment"));
  EXPECT_EQ(obj["metadata"]["labels"], Json::parse(R"({"tier":"fe"})"));
  EXPECT_FALSE(obj["spec"].contains("selector"));
  EXPECT_EQ(obj["spec"]["replicas"], 1);
}

TEST(StrategicMergePatchTest, FinalizersArePrimitiveMergeList) {
  Json obj = Deployment();
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &obj, Json::parse(R"({"metadata":{"finalizers":["b","a"]}})"), "Deployment"));
  EXPECT_EQ(obj["metadata"]["finalizers"], Json::parse(R"(["a","b"])"));
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &obj, Json::parse(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})"),
      "Deployment"));
  EXPECT_EQ(obj["metadata"]["finalizers"], Json::parse(R"(["b"])"));
  EXPECT_FALSE(obj["metadata"].contains("$deleteFromPrimitiveList/finalizers"));
}

TEST(StrategicMergePatchTest, RetainKeysDropsOthers) {
  Json obj = Json::parse(
      R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}}}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &obj, Json::parse(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"),
      "Deployment"));
  EXPECT_EQ(obj["spec"]["strategy"], Json::parse(R"({"type":"Recreate"})"));
}

TEST(StrategicMergePatchTest, ServicePortsMergeByPortAndOtherListsReplace) {
  Json svc =
      Json::parse(R"({"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"name":"https"}],
      "externalIPs":["1.1.1.1"]}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(
      &svc,
      Json::parse(
          R"({"spec":{"ports":[{"port":80,"targetPort":8080}],"externalIPs":["2.2.2.2"]}})"),
      "Service"));
  EXPECT_EQ(svc["spec"]["ports"].size(), 2u);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 8080);
  EXPECT_EQ(svc["spec"]["ports"][0]["name"], "http");
  EXPECT_EQ(svc["spec"]["externalIPs"], Json::parse(R"(["2.2.2.2"])"));
}

TEST(StrategicMergePatchTest, OwnerReferencesConditionsAndVolumes) {
  Json pod = Json::parse(R"({"metadata":{"ownerReferences":[{"uid":"u1","name":"a"}]},
      "spec":{"volumes":[{"name":"v","emptyDir":{}}],"tolerations":[{"key":"k"}]},
      "status":{"conditions":[{"type":"Ready","status":"False"}]}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(&pod, Json::parse(R"({
      "metadata":{"ownerReferences":[{"uid":"u2","name":"b"}]},
      "spec":{"volumes":[{"name":"w","configMap":{"name":"c"}}],"tolerations":[{"key":"z"}]},
      "status":{"conditions":[{"type":"Ready","status":"True"}]}})"),
                                        "Pod"));
  EXPECT_EQ(pod["metadata"]["ownerReferences"].size(), 2u);
  EXPECT_EQ(pod["spec"]["volumes"].size(), 2u);
  EXPECT_EQ(pod["spec"]["tolerations"], Json::parse(R"([{"key":"z"}])"));
  EXPECT_EQ(pod["status"]["conditions"], Json::parse(R"([{"type":"Ready","status":"True"}])"));
}

TEST(StrategicMergePatchTest, NewSubtreesAreStrippedOfDirectives) {
  Json pod = Json::parse(R"({"spec":{}})");
  ASSERT_FALSE(ApplyStrategicMergePatch(&pod, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"a"}],
      "containers":[{"name":"a","image":"x","$setElementOrder/env":[{"name":"E"}],
                     "env":[{"name":"E","value":"1"},{"name":"G","$patch":"delete"}]}]}})"),
                                        "Pod"));
  EXPECT_EQ(
      pod,
      Json::parse(
          R"({"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"E","value":"1"}]}]}})"));
}

TEST(StrategicMergePatchTest, Errors) {
  Json obj = Deployment();
  Json before = obj;
  auto err = ApplyStrategicMergePatch(
      &obj, Json::parse(R"({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}})"),
      "Deployment");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 500);
  EXPECT_EQ(err->message, "map: {\"image\":\"x\"} does not contain declared merge key: name");
  EXPECT_EQ(obj, before);
  err = ApplyStrategicMergePatch(&obj, Json::parse(R"({"metadata":{"$patch":"bogus"}})"),
                                 "Deployment");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 500);
  err = ApplyStrategicMergePatch(
      &obj, Json::parse(R"({"metadata":{"$setElementOrder/finalizers":"x"}})"), "Deployment");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(obj, before);
  err = ApplyStrategicMergePatch(&obj, Json::parse("[]"), "Deployment");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

// Hostile shapes (issue 12): patches as wide or as deep as a 3 MiB body
// allows must cost time linear in their size.
TEST(ObjectPatch, WideMergePatchIntoAWideObjectIsLinear) {
  // Built from text: operator[] on the ordered object is itself quadratic.
  std::string obj_text = "{", patch_text = "{";
  for (int i = 0; i < 100000; ++i)
    obj_text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  for (int i = 50000; i < 150000; ++i)
    patch_text += "\"k" + std::to_string(i) + "\":-" + std::to_string(i) + ",";
  for (int i = 0; i < 100; ++i) patch_text += "\"k" + std::to_string(i) + "\":null,";
  obj_text.back() = '}';
  patch_text.back() = '}';
  Json obj, patch;
  ASSERT_TRUE(ParseJsonBounded(obj_text, &obj));
  ASSERT_TRUE(ParseJsonBounded(patch_text, &patch));
  auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(ApplyMergePatch(&obj, patch));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(obj.size(), 150000u - 100u);
  EXPECT_EQ(obj.begin().key(), "k100");  // deleted keys gone, order kept
  EXPECT_EQ(obj["k49999"], 49999);
  EXPECT_EQ(obj["k50000"], -50000);
  EXPECT_EQ(obj["k149999"], -149999);
  EXPECT_FALSE(obj.contains("k0"));
}

TEST(ObjectPatch, DeepStrategicMergePatchIsLinear) {
  std::string deep;
  for (int i = 0; i < 9999; ++i) deep += R"({"a":)";
  deep += "1" + std::string(9999, '}');
  bool ok = false;
  double seconds = 0;
  StackThread t(kHandlerStackBytes, [&] {
    Json obj = Json::parse(R"({"spec":)" + deep + "}");
    Json patch = Json::parse(R"({"spec":)" + deep + "}");
    auto start = std::chrono::steady_clock::now();
    ok = !ApplyStrategicMergePatch(&obj, patch, "Deployment");
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  t.join();
  EXPECT_TRUE(ok);
  EXPECT_LT(seconds, 1.0);  // copying the path per level took ~5 s
}

}  // namespace
}  // namespace capstan::kube
