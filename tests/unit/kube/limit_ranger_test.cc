// LimitRange defaulting, validation and pod/PVC admission, from Kubernetes'
// limitranger admission_test.go behaviour, the limit-range docs walkthroughs
// and the exact messages in SPEC §8.
#include "kube-adapter/limit_ranger.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

Json Container(const std::string& name, Json requests, Json limits) {
  Json c = {{"name", name}, {"image", "nginx"}};
  Json res = Json::object();
  if (!limits.is_null()) res["limits"] = limits;
  if (!requests.is_null()) res["requests"] = requests;
  if (!res.empty()) c["resources"] = res;
  return c;
}

Json Pod(std::vector<Json> containers, std::vector<Json> inits = {}) {
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}};
  pod["spec"]["containers"] = containers;
  if (!inits.empty()) pod["spec"]["initContainers"] = inits;
  return pod;
}

// A LimitRange with the given items, defaulted as the server stores it.
Json LimitRange(std::vector<Json> items) {
  Json lr = {{"apiVersion", "v1"}, {"kind", "LimitRange"}, {"metadata", {{"name", "lr"}}}};
  lr["spec"]["limits"] = items;
  DefaultLimitRange(&lr);
  return lr;
}

TEST(LimitRangerTest, DefaultRequestsFromLimits) {
  Json spec =
      Pod({Container("a", nullptr, {{"cpu", "1"}, {"memory", "1Gi"}}),
           Container("b", {{"cpu", "100m"}}, {{"cpu", "1"}}), Container("c", nullptr, nullptr)},
          {Container("i", nullptr, {{"memory", "64Mi"}})})["spec"];
  DefaultContainerRequestsFromLimits(&spec);
  EXPECT_EQ(spec["containers"][0]["resources"]["requests"].dump(), R"({"cpu":"1","memory":"1Gi"})");
  EXPECT_EQ(spec["containers"][1]["resources"]["requests"].dump(), R"({"cpu":"100m"})");
  EXPECT_FALSE(spec["containers"][2].contains("resources"));
  EXPECT_EQ(spec["initContainers"][0]["resources"]["requests"].dump(), R"({"memory":"64Mi"})");

  // Quantities are stored canonically, numbers included.
  Json spec2 = Pod(
      {Container("a", {{"cpu", 0.1}}, {{"cpu", 0.5}, {"memory", "1.5Gi"}, {"bad", "x"}})})["spec"];
  DefaultContainerRequestsFromLimits(&spec2);
  EXPECT_EQ(
      spec2["containers"][0]["resources"].dump(),
      R"({"limits":{"cpu":"500m","memory":"1536Mi","bad":"x"},"requests":{"cpu":"100m","memory":"1536Mi","bad":"x"}})");
}

TEST(LimitRangerTest, DefaultLimitRangeItem) {
  Json lr =
      LimitRange({{{"type", "Container"}, {"max", {{"cpu", "800m"}}}, {"min", {{"cpu", "200m"}}}},
                  {{"type", "Container"}, {"default", {{"memory", "1Gi"}}}},
                  {{"type", "Container"}, {"min", {{"memory", "500Mi"}}}},
                  {{"type", "Pod"}, {"max", {{"cpu", "2"}}}}});
  const Json& l = lr["spec"]["limits"];
  EXPECT_EQ(l[0]["default"].dump(), R"({"cpu":"800m"})");
  EXPECT_EQ(l[0]["defaultRequest"].dump(), R"({"cpu":"800m"})");
  EXPECT_EQ(l[1]["defaultRequest"].dump(), R"({"memory":"1Gi"})");
  EXPECT_FALSE(l[2].contains("default"));
  EXPECT_EQ(l[2]["defaultRequest"].dump(), R"({"memory":"500Mi"})");
  EXPECT_FALSE(l[3].contains("default"));
  EXPECT_FALSE(l[3].contains("defaultRequest"));

  Json numbers = LimitRange(
      {{{"type", "Container"}, {"max", {{"cpu", 2}}}, {"defaultRequest", {{"cpu", 0.5}}}},
       {{"type", "Pod"}, {"max", {{"memory", "1024Mi"}}}}});
  EXPECT_EQ(
      numbers["spec"]["limits"][0].dump(),
      R"({"type":"Container","max":{"cpu":"2"},"defaultRequest":{"cpu":"500m"},"default":{"cpu":"2"}})");
  EXPECT_EQ(numbers["spec"]["limits"][1]["max"]["memory"], "1Gi");
}

TEST(LimitRangerTest, MutateSetsDefaultsAndAnnotation) {
  const struct {
    const char* name;
    Json lr_item;
    Json pod;
    const char* annotation;  // "" = absent
    const char* resources0;  // container 0's resources after admission
  } cases[] = {
      {"default cpu (docs default-cpu-demo)",
       {{"type", "Container"}, {"default", {{"cpu", 1}}}, {"defaultRequest", {{"cpu", 0.5}}}},
       Pod({Container("default-cpu-demo-ctr", nullptr, nullptr)}),
       "LimitRanger plugin set: cpu request for container default-cpu-demo-ctr; cpu limit for "
       "container default-cpu-demo-ctr",
       R"({"limits":{"cpu":"1"},"requests":{"cpu":"500m"}})"},
      {"cpu and memory, both containers and an init container",
       {{"type", "Container"},
        {"default", {{"cpu", "500m"}, {"memory", "512Mi"}}},
        {"defaultRequest", {{"cpu", "100m"}, {"memory", "256Mi"}}}},
       Pod({Container("nginx", nullptr, nullptr),
            Container("side", {{"cpu", "50m"}}, {{"cpu", "50m"}})},
           {Container("init", nullptr, nullptr)}),
       "LimitRanger plugin set: cpu, memory request for container nginx; cpu, memory limit for "
       "container nginx; memory request for container side; memory limit for container side; cpu, "
       "memory request for init container init; cpu, memory limit for init container init",
       R"({"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"256Mi"}})"},
      {"nothing to set: no annotation",
       {{"type", "Container"}, {"default", {{"cpu", "1"}}}},
       Pod({Container("c", {{"cpu", "1"}}, {{"cpu", "1"}})}),
       "",
       R"({"limits":{"cpu":"1"},"requests":{"cpu":"1"}})"},
      {"Pod type items do not default",
       {{"type", "Pod"}, {"max", {{"cpu", "4"}}}},
       Pod({Container("c", {{"cpu", "1"}}, {{"cpu", "1"}})}),
       "",
       R"({"limits":{"cpu":"1"},"requests":{"cpu":"1"}})"},
      {"user request kept, limit defaulted (request above default request)",
       {{"type", "Container"},
        {"default", {{"memory", "1Gi"}}},
        {"defaultRequest", {{"memory", "256Mi"}}}},
       Pod({Container("c", {{"memory", "512Mi"}}, nullptr)}),
       "LimitRanger plugin set: memory limit for container c",
       R"({"requests":{"memory":"512Mi"},"limits":{"memory":"1Gi"}})"},
  };
  for (const auto& c : cases) {
    Json pod = c.pod;
    DefaultContainerRequestsFromLimits(&pod["spec"]);
    auto denied = AdmitPodLimitRanges({LimitRange({c.lr_item})}, &pod);
    EXPECT_FALSE(denied.has_value()) << c.name << ": " << denied.value_or("");
    const Json& ann = pod["metadata"].value("annotations", Json::object());
    if (std::string(c.annotation).empty()) {
      EXPECT_FALSE(ann.contains("kubernetes.io/limit-ranger")) << c.name;
    } else {
      EXPECT_EQ(ann.value("kubernetes.io/limit-ranger", ""), c.annotation) << c.name;
    }
    EXPECT_EQ(pod["spec"]["containers"][0]["resources"].dump(), c.resources0) << c.name;
  }
}

TEST(LimitRangerTest, ValidatePods) {
  const Json mem_min_max = {
      {"type", "Container"}, {"min", {{"memory", "500Mi"}}}, {"max", {{"memory", "1Gi"}}}};
  const Json cpu_min_max = {
      {"type", "Container"}, {"min", {{"cpu", "200m"}}}, {"max", {{"cpu", "800m"}}}};
  const struct {
    const char* name;
    std::vector<Json> items;
    Json pod;
    const char* denial;  // "" = admitted
  } cases[] = {
      {"within min/max",
       {mem_min_max},
       Pod({Container("c", {{"memory", "600Mi"}}, {{"memory", "800Mi"}})}),
       ""},
      {"defaults satisfy min/max", {mem_min_max}, Pod({Container("c", nullptr, nullptr)}), ""},
      {"limit above max",
       {mem_min_max},
       Pod({Container("c", {{"memory", "800Mi"}}, {{"memory", "1.5Gi"}})}),
       "maximum memory usage per Container is 1Gi, but limit is 1536Mi"},
      {"request below min",
       {mem_min_max},
       Pod({Container("c", {{"memory", "100Mi"}}, {{"memory", "800Mi"}})}),
       "minimum memory usage per Container is 500Mi, but request is 100Mi"},
      {"cpu limit above max (number input)",
       {cpu_min_max},
       Pod({Container("c", {{"cpu", 0.5}}, {{"cpu", 1.5}})}),
       "maximum cpu usage per Container is 800m, but limit is 1500m"},
      {"cpu request below min",
       {cpu_min_max},
       Pod({Container("c", {{"cpu", "100m"}}, {{"cpu", "800m"}})}),
       "minimum cpu usage per Container is 200m, but request is 100m"},
      {"two errors in one container are aggregated",
       {mem_min_max},
       Pod({Container("c", {{"memory", "100Mi"}}, {{"memory", "2Gi"}})}),
       "[minimum memory usage per Container is 500Mi, but request is 100Mi, maximum memory usage "
       "per "
       "Container is 1Gi, but limit is 2Gi]"},
      {"duplicate messages collapse",
       {cpu_min_max},
       Pod({Container("a", {{"cpu", "100m"}}, {{"cpu", "800m"}}),
            Container("b", {{"cpu", "100m"}}, {{"cpu", "800m"}})}),
       "minimum cpu usage per Container is 200m, but request is 100m"},
      {"init container checked too",
       {cpu_min_max},
       Pod({Container("c", {{"cpu", "300m"}}, {{"cpu", "300m"}})},
           {Container("i", {{"cpu", "1"}}, {{"cpu", "1"}})}),
       "maximum cpu usage per Container is 800m, but limit is 1"},
      {"min without default: no request",
       {{{"type", "Pod"}, {"min", {{"cpu", "100m"}}}}},
       Pod({Container("c", nullptr, nullptr)}),
       "minimum cpu usage per Pod is 100m.  No request is specified"},
      {"ratio exceeded",
       {{{"type", "Container"}, {"maxLimitRequestRatio", {{"memory", 2}}}}},
       Pod({Container("c", {{"memory", "100Mi"}}, {{"memory", "800Mi"}})}),
       "memory max limit to request ratio per Container is 2, but provided ratio is 8.000000"},
      {"ratio fine",
       {{{"type", "Container"}, {"maxLimitRequestRatio", {{"cpu", "2"}}}}},
       Pod({Container("c", {{"cpu", "500m"}}, {{"cpu", "1"}})}),
       ""},
      {"ratio without request",
       {{{"type", "Container"}, {"maxLimitRequestRatio", {{"cpu", "2"}}}}},
       Pod({Container("c", nullptr, nullptr)}),
       "cpu max limit to request ratio per Container is 2, but no request is specified or request "
       "is 0"},
      {"ratio with request 0 and no limit",
       {{{"type", "Container"}, {"maxLimitRequestRatio", {{"cpu", "1500m"}}}}},
       Pod({Container("c", {{"cpu", "100m"}}, nullptr)}),
       "cpu max limit to request ratio per Container is 1500m, but no limit is specified or limit "
       "is 0"},
      {"pod max: sums memory as raw bytes",
       {{{"type", "Pod"}, {"max", {{"memory", "1Gi"}}}}},
       Pod({Container("a", {{"memory", "600Mi"}}, {{"memory", "600Mi"}}),
            Container("b", {{"memory", "600Mi"}}, {{"memory", "600Mi"}})}),
       "maximum memory usage per Pod is 1Gi, but limit is 1258291200"},
      {"pod max: cpu summed in milli",
       {{{"type", "Pod"}, {"max", {{"cpu", "1"}}}}},
       Pod({Container("a", {{"cpu", "600m"}}, {{"cpu", "600m"}}),
            Container("b", {{"cpu", "0.6"}}, {{"cpu", "0.6"}})}),
       "maximum cpu usage per Pod is 1, but limit is 1200m"},
      {"pod max: a container without the limit drops the key",
       {{{"type", "Pod"}, {"max", {{"cpu", "2"}}}}},
       Pod({Container("a", {{"cpu", "1"}}, {{"cpu", "1"}}), Container("b", nullptr, nullptr)}),
       "maximum cpu usage per Pod is 2.  No limit is specified"},
      {"pod max: init container larger than the sum",
       {{{"type", "Pod"}, {"max", {{"cpu", "2"}}}}},
       Pod({Container("a", {{"cpu", "1"}}, {{"cpu", "1"}})},
           {Container("i", {{"cpu", "3"}}, {{"cpu", "3"}})}),
       "maximum cpu usage per Pod is 2, but limit is 3"},
      {"pod within max",
       {{{"type", "Pod"}, {"max", {{"cpu", "2"}}}}},
       Pod({Container("a", {{"cpu", "1"}}, {{"cpu", "1"}}),
            Container("b", {{"cpu", "1"}}, {{"cpu", "1"}})}),
       ""},
  };
  for (const auto& c : cases) {
    Json pod = c.pod;
    DefaultContainerRequestsFromLimits(&pod["spec"]);
    auto denied = AdmitPodLimitRanges({LimitRange(c.items)}, &pod);
    if (std::string(c.denial).empty()) {
      EXPECT_FALSE(denied.has_value()) << c.name << ": " << denied.value_or("");
    } else {
      ASSERT_TRUE(denied.has_value()) << c.name;
      EXPECT_EQ(*denied, c.denial) << c.name;
    }
  }
}

TEST(LimitRangerTest, FirstFailingLimitRangeWins) {
  Json pod = Pod({Container("c", {{"cpu", "100m"}}, {{"cpu", "4"}})});
  auto denied =
      AdmitPodLimitRanges({LimitRange({{{"type", "Container"}, {"max", {{"cpu", "2"}}}}}),
                           LimitRange({{{"type", "Container"}, {"min", {{"cpu", "200m"}}}}})},
                          &pod);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(*denied, "maximum cpu usage per Container is 2, but limit is 4");
  EXPECT_EQ(AdmitPodLimitRanges({}, &pod), std::nullopt);
}

TEST(LimitRangerTest, Pvc) {
  auto pvc = [](Json storage) {
    Json p = {{"kind", "PersistentVolumeClaim"}, {"metadata", {{"name", "c"}}}};
    p["spec"]["accessModes"] = {"ReadWriteOnce"};
    if (!storage.is_null()) p["spec"]["resources"]["requests"]["storage"] = storage;
    return p;
  };
  Json lr = LimitRange({{{"type", "PersistentVolumeClaim"},
                         {"min", {{"storage", "1Gi"}}},
                         {"max", {{"storage", "2Gi"}}}}});
  const struct {
    Json storage;
    const char* denial;
  } cases[] = {
      {"1Gi", ""},
      {"2Gi", ""},
      {"500Mi", "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"},
      {"5Gi", "maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"},
      {nullptr,
       "[minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, maximum "
       "storage usage per PersistentVolumeClaim is 2Gi.  No request is specified]"},
  };
  for (const auto& c : cases) {
    auto denied = AdmitPvcLimitRanges({lr}, pvc(c.storage));
    if (std::string(c.denial).empty()) {
      EXPECT_FALSE(denied.has_value()) << c.storage.dump();
    } else {
      ASSERT_TRUE(denied.has_value()) << c.storage.dump();
      EXPECT_EQ(*denied, c.denial);
    }
  }
}

TEST(LimitRangerTest, ValidateLimitRange) {
  const struct {
    const char* name;
    std::vector<Json> items;
    std::vector<std::pair<std::string, std::string>> causes;  // field, message
  } cases[] = {
      {"valid", {{{"type", "Container"}, {"min", {{"cpu", "100m"}}}, {"max", {{"cpu", "1"}}}}}, {}},
      {"min greater than max",
       {{{"type", "Container"}, {"min", {{"cpu", "2"}}}, {"max", {{"cpu", "1"}}}}},
       // after defaulting default=max=1 and defaultRequest=1, min also exceeds those
       {{"spec.limits[0].min[cpu]",
         "Invalid value: \"2\": min value 2 is greater than max value 1"},
        {"spec.limits[0].defaultRequest[cpu]",
         "Invalid value: \"1\": min value 2 is greater than default request value 1"},
        {"spec.limits[0].default[cpu]",
         "Invalid value: \"2\": min value 2 is greater than default value 1"}}},
      {"default greater than max",
       {{{"type", "Container"},
         {"default", {{"memory", "2Gi"}}},
         {"defaultRequest", {{"memory", "1Gi"}}},
         {"max", {{"memory", "1Gi"}}}}},
       {{"spec.limits[0].default[memory]",
         "Invalid value: \"1Gi\": default value 2Gi is greater than max value 1Gi"}}},
      {"default request greater than default",
       {{{"type", "Container"},
         {"default", {{"cpu", "500m"}}},
         {"defaultRequest", {{"cpu", "1"}}}}},
       {{"spec.limits[0].defaultRequest[cpu]",
         "Invalid value: \"1\": default request value 1 is greater than default limit value "
         "500m"}}},
      {"pod type with default",
       {{{"type", "Pod"}, {"default", {{"cpu", "1"}}}}},
       {{"spec.limits[0].default", "Forbidden: may not be specified when `type` is 'Pod'"}}},
      {"duplicate type",
       {{{"type", "Pod"}, {"max", {{"cpu", "1"}}}}, {{"type", "Pod"}, {"max", {{"cpu", "2"}}}}},
       {{"spec.limits[1].type", "Duplicate value: \"Pod\""}}},
      {"ratio below 1",
       {{{"type", "Container"}, {"maxLimitRequestRatio", {{"cpu", "500m"}}}}},
       {{"spec.limits[0].maxLimitRequestRatio[cpu]",
         "Invalid value: \"500m\": ratio 500m is less than 1"}}},
      {"ratio above max/min",
       {{{"type", "Pod"},
         {"min", {{"cpu", "1"}}},
         {"max", {{"cpu", "2"}}},
         {"maxLimitRequestRatio", {{"cpu", "3"}}}}},
       {{"spec.limits[0].maxLimitRequestRatio[cpu]",
         "Invalid value: \"3\": ratio 3 is greater than max/min = 2.000000"}}},
      {"pvc needs storage min or max",
       {{{"type", "PersistentVolumeClaim"}, {"max", {{"cpu", "1"}}}}},
       {{"spec.limits[0].limits",
         "Required value: either minimum or maximum storage value is required, but neither was "
         "provided"}}},
      {"unknown container resource",
       {{{"type", "Container"}, {"max", {{"gpu", "1"}}}}},
       {{"spec.limits[0].max[gpu]",
         "Invalid value: \"gpu\": must be a standard resource for containers"},
        {"spec.limits[0].default[gpu]",
         "Invalid value: \"gpu\": must be a standard resource for containers"},
        {"spec.limits[0].defaultRequest[gpu]",
         "Invalid value: \"gpu\": must be a standard resource for containers"}}},
      {"bad quantity",
       {{{"type", "Container"}, {"max", {{"cpu", "lots"}}}}},
       {{"spec.limits[0].max[cpu]",
         "Invalid value: \"lots\": quantities must match the regular expression "
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
        // defaulting copied the bad max into default and defaultRequest
        {"spec.limits[0].default[cpu]",
         "Invalid value: \"lots\": quantities must match the regular expression "
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
        {"spec.limits[0].defaultRequest[cpu]",
         "Invalid value: \"lots\": quantities must match the regular expression "
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"}}},
  };
  for (const auto& c : cases) {
    Json lr = {{"kind", "LimitRange"}, {"metadata", {{"name", "lr"}}}};
    lr["spec"]["limits"] = c.items;
    DefaultLimitRange(&lr);
    std::vector<FieldCause> got = ValidateLimitRange(lr);
    ASSERT_EQ(got.size(), c.causes.size()) << c.name;
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i].field, c.causes[i].first) << c.name;
      EXPECT_EQ(got[i].message, c.causes[i].second) << c.name;
    }
  }
}

TEST(LimitRangerTest, AggregateErrors) {
  EXPECT_EQ(AggregateErrors({}), "");
  EXPECT_EQ(AggregateErrors({"a"}), "a");
  EXPECT_EQ(AggregateErrors({"a", "a"}), "a");
  EXPECT_EQ(AggregateErrors({"a", "b", "a"}), "[a, b]");
}

}  // namespace
}  // namespace capstan::kube
