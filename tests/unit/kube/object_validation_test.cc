#include "kube-adapter/object_validation.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

constexpr char kSubdomainMsg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr char kLabelMsg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

Json Obj(const std::string& meta) { return Json::parse(R"({"metadata":)" + meta + "}"); }

TEST(ObjectValidationTest, ValidNamespacedObject) {
  auto errs = ValidateObjectMeta(
      Obj(R"({"name":"web.example-1","namespace":"default","labels":{"app":"web","example.com/tier":"fe_1"},
              "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}})"),
      true, "dns1123-subdomain");
  EXPECT_TRUE(errs.empty()) << errs[0].field << ": " << errs[0].message;
}

TEST(ObjectValidationTest, NameRules) {
  auto errs = ValidateObjectMeta(Obj(R"({"name":"Bad_Name","namespace":"default"})"), true,
                                 "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.name");
  EXPECT_EQ(errs[0].reason, "FieldValueInvalid");
  EXPECT_EQ(errs[0].message, std::string("Invalid value: \"Bad_Name\": ") + kSubdomainMsg);

  errs = ValidateObjectMeta(Obj(R"({"name":"a.b"})"), false, "dns1123-label");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, std::string("Invalid value: \"a.b\": ") + kLabelMsg);

  errs = ValidateObjectMeta(Obj(R"({"name":"system:controller:x"})"), false, "path-segment");
  EXPECT_TRUE(errs.empty());
  errs = ValidateObjectMeta(Obj(R"({"name":"a/b%"})"), false, "path-segment");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].message, "Invalid value: \"a/b%\": may not contain '/'");
  EXPECT_EQ(errs[1].message, "Invalid value: \"a/b%\": may not contain '%'");
  errs = ValidateObjectMeta(Obj(R"({"name":".."})"), false, "path-segment");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, "Invalid value: \"..\": may not be '..'");

  errs = ValidateObjectMeta(Obj(std::string(R"({"name":")") + std::string(64, 'a') + R"("})"),
                            false, "dns1123-label");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].message.find("must be no more than 63 characters"), std::string::npos);
}

TEST(ObjectValidationTest, NameRequiredUnlessGenerateName) {
  auto errs = ValidateObjectMeta(Obj(R"({"namespace":"default"})"), true, "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.name");
  EXPECT_EQ(errs[0].reason, "FieldValueRequired");
  EXPECT_EQ(errs[0].message, "Required value: name or generateName is required");

  errs = ValidateObjectMeta(Obj(R"({"generateName":"web-","namespace":"default"})"), true,
                            "dns1123-subdomain");
  EXPECT_TRUE(errs.empty());
  errs = ValidateObjectMeta(Obj(R"({"generateName":"Web-","namespace":"default"})"), true,
                            "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.generateName");
}

TEST(ObjectValidationTest, NamespaceRules) {
  auto errs = ValidateObjectMeta(Obj(R"({"name":"x"})"), true, "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.namespace");
  EXPECT_EQ(errs[0].message, "Required value");
  errs = ValidateObjectMeta(Obj(R"({"name":"x","namespace":"ns"})"), false, "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].reason, "FieldValueForbidden");
  EXPECT_EQ(errs[0].message, "Forbidden: not allowed on this type");
}

TEST(ObjectValidationTest, LabelsAndAnnotations) {
  auto errs = ValidateObjectMeta(Obj(R"({"name":"x","labels":{"-bad":"ok","good":"bad value"}})"),
                                 false, "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "metadata.labels");
  EXPECT_EQ(errs[0].message,
            "Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
            "'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  EXPECT_EQ(errs[1].field, "metadata.labels");
  EXPECT_NE(
      errs[1].message.find("Invalid value: \"bad value\": a valid label must be an empty string"),
      std::string::npos);

  Json big = Obj(R"({"name":"x","annotations":{"a":""}})");
  big["metadata"]["annotations"]["a"] = std::string(256 * 1024, 'x');
  errs = ValidateObjectMeta(big, false, "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].reason, "FieldValueTooLong");
  EXPECT_EQ(errs[0].message, "Too long: must have at most 262144 bytes");

  errs = ValidateObjectMeta(Obj(R"({"name":"x","annotations":{"a/b/c":"v"}})"), false,
                            "dns1123-subdomain");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.annotations");
}

TEST(ObjectValidationTest, RequestsNotAboveLimits) {
  Json spec = Json::parse(R"({"containers":[
      {"name":"a","resources":{"requests":{"cpu":"200m","memory":"64Mi"},"limits":{"cpu":"100m","memory":"1Gi"}}},
      {"name":"b","resources":{"requests":{"cpu":"0.1"},"limits":{"cpu":"100m"}}}]})");
  auto errs = ValidatePodSpecResources(spec, "spec");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.containers[0].resources.requests");
  EXPECT_EQ(errs[0].reason, "FieldValueInvalid");
  EXPECT_EQ(errs[0].message, "Invalid value: \"200m\": must be less than or equal to cpu limit");

  // Numbers as kubectl sends them, canonicalized in the message.
  spec = Json::parse(
      R"({"initContainers":[{"name":"i","resources":{"requests":{"cpu":0.5},"limits":{"cpu":0.25}}}]})");
  errs = ValidatePodSpecResources(spec, "spec.template.spec");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.template.spec.initContainers[0].resources.requests");
  EXPECT_EQ(errs[0].message, "Invalid value: \"500m\": must be less than or equal to cpu limit");

  spec = Json::parse(
      R"({"containers":[{"name":"a","resources":{"requests":{"memory":"2Gi"},"limits":{"memory":"1Gi"}}}]})");
  errs = ValidatePodSpecResources(spec, "spec");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, "Invalid value: \"2Gi\": must be less than or equal to memory limit");

  // Extended resources must be equal.
  spec = Json::parse(
      R"({"containers":[{"name":"a","resources":{"requests":{"nvidia.com/gpu":"1"},"limits":{"nvidia.com/gpu":"2"}}}]})");
  errs = ValidatePodSpecResources(spec, "spec");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, "Invalid value: \"1\": must be equal to nvidia.com/gpu limit");

  spec = Json::parse(R"({"containers":[{"name":"a","resources":{"limits":{"cpu":"-1"}}}]})");
  errs = ValidatePodSpecResources(spec, "spec");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.containers[0].resources.limits[cpu]");
  EXPECT_EQ(errs[0].message, "Invalid value: \"-1\": must be greater than or equal to 0");
}

TEST(ObjectValidationTest, UpdateImmutables) {
  Json old_obj =
      Obj(R"({"name":"x","namespace":"d","uid":"u1","creationTimestamp":"2026-01-01T00:00:00Z"})");
  EXPECT_TRUE(ValidateUpdateMeta(old_obj, old_obj).empty());
  EXPECT_TRUE(ValidateUpdateMeta(old_obj, Obj(R"({"name":"x","namespace":"d"})")).empty());
  auto errs = ValidateUpdateMeta(old_obj, Obj(R"({"name":"y","namespace":"d","uid":"u2"})"));
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "metadata.name");
  EXPECT_EQ(errs[0].message, "Invalid value: \"y\": field is immutable");
  EXPECT_EQ(errs[1].field, "metadata.uid");
  EXPECT_EQ(errs[1].message, "Invalid value: \"u2\": field is immutable");
  errs = ValidateUpdateMeta(
      old_obj, Obj(R"({"name":"x","namespace":"e","creationTimestamp":"2027-01-01T00:00:00Z"})"));
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "metadata.namespace");
  EXPECT_EQ(errs[1].field, "metadata.creationTimestamp");
}

// Pod updates (ValidatePodUpdate): only images, activeDeadlineSeconds and
// added tolerations may change, so a patch can never raise resources past
// what LimitRanger and ResourceQuota admitted.
TEST(ObjectValidationTest, PodSpecUpdateAllowsOnlyTheMutableFields) {
  const Json old_pod = Json::parse(R"({"metadata":{"name":"p"},"spec":{
      "containers":[{"name":"c","image":"nginx:1.19","resources":{"limits":{"cpu":"200m"}}}],
      "tolerations":[{"key":"a","operator":"Exists"}],
      "activeDeadlineSeconds":100}})");
  const std::string forbidden =
      "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
      "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only "
      "additions to existing tolerations)";
  auto with = [&](const char* pointer, const Json& value) {
    Json p = old_pod;
    p[Json::json_pointer(pointer)] = value;
    return p;
  };
  EXPECT_TRUE(ValidatePodSpecUpdate(old_pod, old_pod).empty());
  EXPECT_TRUE(
      ValidatePodSpecUpdate(old_pod, with("/spec/containers/0/image", "nginx:1.20")).empty());
  EXPECT_TRUE(ValidatePodSpecUpdate(old_pod, with("/spec/activeDeadlineSeconds", 50)).empty());
  EXPECT_TRUE(
      ValidatePodSpecUpdate(
          old_pod, with("/spec/tolerations/1", Json::parse(R"({"key":"b","operator":"Exists"})")))
          .empty());
  // Key order does not matter.
  Json reordered = Json::parse(R"({"metadata":{"name":"p"},"spec":{
      "activeDeadlineSeconds":100, "tolerations":[{"operator":"Exists","key":"a"}],
      "containers":[{"resources":{"limits":{"cpu":"200m"}},"image":"nginx:1.19","name":"c"}]}})");
  EXPECT_TRUE(ValidatePodSpecUpdate(old_pod, reordered).empty());

  auto errs = ValidatePodSpecUpdate(old_pod, with("/spec/containers/0/resources/limits/cpu", "2"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec");
  EXPECT_EQ(errs[0].message, forbidden);
  errs = ValidatePodSpecUpdate(old_pod, with("/spec/serviceAccountName", "admin"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, forbidden);
  errs = ValidatePodSpecUpdate(
      old_pod, with("/spec/containers/1", Json::parse(R"({"name":"d","image":"x"})")));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.containers");
  EXPECT_EQ(errs[0].message, "Forbidden: pod updates may not add or remove containers");
  errs = ValidatePodSpecUpdate(old_pod, with("/spec/activeDeadlineSeconds", 200));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message, "Invalid value: 200: must be less than or equal to previous value");
  Json unset = old_pod;
  unset["spec"].erase("activeDeadlineSeconds");
  errs = ValidatePodSpecUpdate(old_pod, unset);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.activeDeadlineSeconds");
  errs = ValidatePodSpecUpdate(old_pod, with("/spec/tolerations", Json::array()));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.tolerations");
}

// PVC updates (ValidatePersistentVolumeClaimUpdate): an unbound claim's spec
// is immutable; a bound one may grow requests.storage, never shrink it.
TEST(ObjectValidationTest, PvcSpecUpdate) {
  const Json pending = Json::parse(R"({"metadata":{"name":"c"},"spec":{
      "accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}},
      "status":{"phase":"Pending"}})");
  const std::string immutable =
      "Forbidden: is immutable after creation except resources.requests for bound claims";
  Json grown = pending;
  grown["spec"]["resources"]["requests"]["storage"] = "5Gi";
  EXPECT_TRUE(ValidatePvcSpecUpdate(pending, pending).empty());
  auto errs = ValidatePvcSpecUpdate(pending, grown);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec");
  EXPECT_EQ(errs[0].message, immutable);
  Json named = pending;
  named["spec"]["volumeName"] = "pv-1";
  EXPECT_TRUE(ValidatePvcSpecUpdate(pending, named).empty());  // the binder sets it once
  Json renamed = named;
  renamed["spec"]["volumeName"] = "pv-2";
  EXPECT_EQ(ValidatePvcSpecUpdate(named, renamed).size(), 1u);

  Json bound = pending, bound_grown = grown;
  bound["status"]["phase"] = bound_grown["status"]["phase"] = "Bound";
  EXPECT_TRUE(ValidatePvcSpecUpdate(bound, bound_grown).empty());
  errs = ValidatePvcSpecUpdate(bound_grown, bound);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.resources.requests.storage");
  EXPECT_EQ(errs[0].message, "Forbidden: field can not be less than previous value");
}

}  // namespace
}  // namespace capstan::kube
