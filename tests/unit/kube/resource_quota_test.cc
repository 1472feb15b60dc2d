// ResourceQuota validation, usage evaluators, status recompute and admission,
// from Kubernetes' resource-quotas docs walkthroughs, the quota evaluator tests
// and the exact messages in SPEC §9.
#include "kube-adapter/resource_quota.h"

#include <gtest/gtest.h>

#include <map>

namespace capstan::kube {
namespace {

Json Quota(const std::string& name, Json hard, Json scopes = nullptr, Json selector = nullptr) {
  Json q = {{"apiVersion", "v1"}, {"kind", "ResourceQuota"}, {"metadata", {{"name", name}}}};
  q["spec"]["hard"] = hard;
  if (!scopes.is_null()) q["spec"]["scopes"] = scopes;
  if (!selector.is_null()) q["spec"]["scopeSelector"]["matchExpressions"] = selector;
  return q;
}

Json Container(Json requests, Json limits, const std::string& name = "c") {
  Json c = {{"name", name}, {"image", "nginx"}};
  if (!limits.is_null()) c["resources"]["limits"] = limits;
  if (!requests.is_null()) c["resources"]["requests"] = requests;
  return c;
}

Json Pod(const std::string& name, std::vector<Json> containers, std::vector<Json> inits = {}) {
  Json p = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}};
  p["spec"]["containers"] = containers;
  if (!inits.empty()) p["spec"]["initContainers"] = inits;
  return p;
}

// A fake namespace: objects by resource; status recompute lists from it.
struct Namespace {
  std::map<std::pair<std::string, std::string>, std::vector<Json>> objects;
  ObjectLister Lister() {
    return [this](const std::string& g, const std::string& r) { return objects[{g, r}]; };
  }
};

// Creates with a fresh status, as the server does on quota create.
Json Ready(Json quota, Namespace* ns = nullptr) {
  Namespace empty;
  RecomputeQuotaStatus(&quota, (ns ? ns : &empty)->Lister());
  return quota;
}

std::optional<std::string> Create(std::vector<Json>* quotas, const std::string& group,
                                  const std::string& resource, const Json& obj) {
  bool changed[8] = {};
  return ChargeQuotas(quotas, group, resource, nullptr, &obj, changed);
}

TEST(ResourceQuotaTest, MemCpuDemo) {
  std::vector<Json> quotas = {Ready(Quota("mem-cpu-demo", {{"requests.cpu", "1"},
                                                           {"requests.memory", "1Gi"},
                                                           {"limits.cpu", "2"},
                                                           {"limits.memory", "2Gi"}}))};
  Json pod = Pod("quota-mem-cpu-demo", {Container({{"memory", "600Mi"}, {"cpu", "400m"}},
                                                  {{"memory", "800Mi"}, {"cpu", "800m"}})});
  bool changed[1] = {};
  EXPECT_EQ(ChargeQuotas(&quotas, "", "pods", nullptr, &pod, changed), std::nullopt);
  EXPECT_TRUE(changed[0]);
  EXPECT_EQ(
      quotas[0]["status"]["used"].dump(),
      R"({"limits.cpu":"800m","limits.memory":"800Mi","requests.cpu":"400m","requests.memory":"600Mi"})");
  EXPECT_EQ(
      quotas[0]["status"]["hard"].dump(),
      R"({"requests.cpu":"1","requests.memory":"1Gi","limits.cpu":"2","limits.memory":"2Gi"})");

  Json pod2 = Pod("quota-mem-cpu-demo-2", {Container({{"memory", "700Mi"}, {"cpu", "400m"}},
                                                     {{"memory", "1Gi"}, {"cpu", "800m"}})});
  Json before = quotas[0];
  auto denied = ChargeQuotas(&quotas, "", "pods", nullptr, &pod2, changed);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(*denied,
            "exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, used: "
            "requests.memory=600Mi, limited: requests.memory=1Gi");
  EXPECT_FALSE(changed[0]);
  EXPECT_EQ(quotas[0], before);  // nothing charged on denial

  // Deleting gives the usage back.
  EXPECT_EQ(ChargeQuotas(&quotas, "", "pods", &pod, nullptr, changed), std::nullopt);
  EXPECT_TRUE(changed[0]);
  EXPECT_EQ(quotas[0]["status"]["used"].dump(),
            R"({"limits.cpu":"0","limits.memory":"0","requests.cpu":"0","requests.memory":"0"})");
  // ... and never below zero.
  EXPECT_EQ(ChargeQuotas(&quotas, "", "pods", &pod, nullptr, changed), std::nullopt);
  EXPECT_EQ(quotas[0]["status"]["used"]["requests.cpu"], "0");
}

TEST(ResourceQuotaTest, PodCountFourthPodRejected) {
  std::vector<Json> quotas = {Ready(Quota("mem-cpu-demo", {{"pods", 3}}))};
  for (int i = 1; i <= 3; i++) {
    EXPECT_EQ(
        Create(&quotas, "", "pods", Pod("busy" + std::to_string(i), {Container(nullptr, nullptr)})),
        std::nullopt);
  }
  EXPECT_EQ(quotas[0]["status"]["used"]["pods"], "3");
  EXPECT_EQ(Create(&quotas, "", "pods", Pod("busy4", {Container(nullptr, nullptr)})),
            "exceeded quota: mem-cpu-demo, requested: pods=1, used: pods=3, limited: pods=3");
}

TEST(ResourceQuotaTest, ConstraintsStatusAndNegative) {
  const struct {
    const char* name;
    Json quota;  // already with or without status
    Json pod;
    const char* denial;
  } cases[] = {
      {"cpu/memory quota needs every container to state them",
       Ready(Quota("compute", {{"requests.cpu", "1"},
                               {"requests.memory", "1Gi"},
                               {"limits.cpu", "2"},
                               {"limits.memory", "2Gi"}})),
       Pod("p", {Container(nullptr, nullptr)}),
       "failed quota: compute: must specify limits.cpu,limits.memory,requests.cpu,requests.memory"},
      {"only the missing names",
       Ready(Quota("compute", {{"requests.cpu", "1"}, {"limits.memory", "2Gi"}, {"pods", "10"}})),
       Pod("p", {Container({{"cpu", "100m"}}, nullptr),
                 Container({{"cpu", "100m"}}, {{"memory", "1Gi"}}, "d")}),
       "failed quota: compute: must specify limits.memory"},
      {"shorthand cpu counts as a request", Ready(Quota("compute", {{"cpu", "1"}})),
       Pod("p", {Container(nullptr, {{"memory", "1Gi"}})}),
       "failed quota: compute: must specify cpu"},
      {"init containers are constrained too", Ready(Quota("compute", {{"requests.cpu", "1"}})),
       Pod("p", {Container({{"cpu", "100m"}}, nullptr)}, {Container(nullptr, nullptr, "i")}),
       "failed quota: compute: must specify requests.cpu"},
      {"pods-only quota has no constraint", Ready(Quota("count", {{"pods", "10"}})),
       Pod("p", {Container(nullptr, nullptr)}), ""},
      {"missing status", Quota("fresh", {{"pods", "10"}, {"configmaps", "3"}}),
       Pod("p", {Container(nullptr, nullptr)}), "status unknown for quota: fresh, resources: pods"},
      {"negative usage", Ready(Quota("compute", {{"requests.cpu", "1"}})),
       Pod("p", {Container({{"cpu", "-1"}}, nullptr)}),
       "quota usage is negative for resource(s): cpu,requests.cpu"},
  };
  for (const auto& c : cases) {
    std::vector<Json> quotas = {c.quota};
    auto denied = Create(&quotas, "", "pods", c.pod);
    if (std::string(c.denial).empty()) {
      EXPECT_FALSE(denied.has_value()) << c.name << ": " << denied.value_or("");
    } else {
      EXPECT_EQ(denied.value_or("<admitted>"), c.denial) << c.name;
    }
  }
}

TEST(ResourceQuotaTest, PodUsage) {
  const struct {
    const char* name;
    Json pod;
    const char* usage;
  } cases[] = {
      {"sum of containers, shorthand and requests/limits names",
       Pod("p", {Container({{"cpu", "250m"}, {"memory", "64Mi"}},
                           {{"cpu", "500m"}, {"memory", "128Mi"}}),
                 Container({{"cpu", 0.25}, {"memory", "64Mi"}},
                           {{"cpu", "500m"}, {"memory", "128Mi"}}, "d")}),
       R"({"count/pods":"1","cpu":"500m","limits.cpu":"1","limits.memory":"256Mi","memory":"128Mi","pods":"1","requests.cpu":"500m","requests.memory":"128Mi"})"},
      {"init container max rule",
       Pod("p", {Container({{"cpu", "100m"}}, nullptr), Container({{"cpu", "100m"}}, nullptr, "d")},
           {Container({{"cpu", "1"}}, nullptr, "i"), Container({{"cpu", "150m"}}, nullptr, "j")}),
       R"({"count/pods":"1","cpu":"1","pods":"1","requests.cpu":"1"})"},
      {"extended, hugepages and ephemeral storage",
       Pod("p",
           {Container(
               {{"nvidia.com/gpu", "2"}, {"hugepages-2Mi", "4Mi"}, {"ephemeral-storage", "1Gi"}},
               {{"nvidia.com/gpu", "2"}, {"ephemeral-storage", "2Gi"}})}),
       R"({"count/pods":"1","ephemeral-storage":"1Gi","hugepages-2Mi":"4Mi","limits.ephemeral-storage":"2Gi","pods":"1","requests.ephemeral-storage":"1Gi","requests.hugepages-2Mi":"4Mi","requests.nvidia.com/gpu":"2"})"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ResourceListToJson(ObjectQuotaUsage("", "pods", c.pod)).dump(), c.usage) << c.name;
  }
  Json done = Pod("p", {Container({{"cpu", "1"}}, nullptr)});
  done["status"]["phase"] = "Succeeded";
  EXPECT_EQ(ResourceListToJson(ObjectQuotaUsage("", "pods", done)).dump(), R"({"count/pods":"1"})");
}

TEST(ResourceQuotaTest, OtherEvaluators) {
  Json lb = {{"kind", "Service"}, {"metadata", {{"name", "s"}}}};
  lb["spec"] = {{"type", "LoadBalancer"}, {"ports", {{{"port", 80}}, {{"port", 443}}}}};
  Json pvc = {{"kind", "PersistentVolumeClaim"}, {"metadata", {{"name", "c"}}}};
  pvc["spec"] = {{"storageClassName", "gold"},
                 {"resources", {{"requests", {{"storage", "1.5Gi"}}}}}};
  Json pvc_ann = pvc;
  pvc_ann["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"] = "bronze";
  const struct {
    std::string group, resource;
    Json obj;
    const char* usage;
  } cases[] = {
      {"", "services", lb,
       R"({"count/services":"1","services":"1","services.loadbalancers":"1","services.nodeports":"2"})"},
      {"", "services", Json{{"spec", {{"ports", {{{"port", 80}}}}}}},
       R"({"count/services":"1","services":"1","services.loadbalancers":"0","services.nodeports":"0"})"},
      {"", "persistentvolumeclaims", pvc,
       R"({"count/persistentvolumeclaims":"1","gold.storageclass.storage.k8s.io/persistentvolumeclaims":"1","gold.storageclass.storage.k8s.io/requests.storage":"1536Mi","persistentvolumeclaims":"1","requests.storage":"1536Mi"})"},
      {"", "persistentvolumeclaims", pvc_ann,
       R"({"bronze.storageclass.storage.k8s.io/persistentvolumeclaims":"1","bronze.storageclass.storage.k8s.io/requests.storage":"1536Mi","count/persistentvolumeclaims":"1","persistentvolumeclaims":"1","requests.storage":"1536Mi"})"},
      {"", "configmaps", Json::object(), R"({"configmaps":"1","count/configmaps":"1"})"},
      {"", "secrets", Json::object(), R"({"count/secrets":"1","secrets":"1"})"},
      {"apps", "deployments", Json::object(), R"({"count/deployments.apps":"1"})"},
      {"stable.example.com", "crontabs", Json::object(),
       R"({"count/crontabs.stable.example.com":"1"})"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ResourceListToJson(ObjectQuotaUsage(c.group, c.resource, c.obj)).dump(), c.usage)
        << c.resource;
  }
}

TEST(ResourceQuotaTest, ObjectCountsServicesAndPvcs) {
  std::vector<Json> quotas = {Ready(Quota("object-quota-demo", {{"persistentvolumeclaims", "1"},
                                                                {"services.loadbalancers", "2"},
                                                                {"services.nodeports", "0"}})),
                              Ready(Quota("counts", {{"count/deployments.apps", "1"},
                                                     {"configmaps", "1"},
                                                     {"requests.storage", "2Gi"}}))};
  Json np = {{"kind", "Service"}, {"metadata", {{"name", "np"}}}};
  np["spec"] = {{"type", "NodePort"}, {"ports", {{{"port", 80}}}}};
  EXPECT_EQ(Create(&quotas, "", "services", np),
            "exceeded quota: object-quota-demo, requested: services.nodeports=1, used: "
            "services.nodeports=0, limited: services.nodeports=0");
  Json cip = {{"kind", "Service"},
              {"metadata", {{"name", "cip"}}},
              {"spec", {{"ports", {{{"port", 80}}}}}}};
  EXPECT_EQ(Create(&quotas, "", "services", cip), std::nullopt);

  auto pvc = [](const std::string& size) {
    Json p = {{"kind", "PersistentVolumeClaim"}, {"metadata", {{"name", "c"}}}};
    p["spec"]["resources"]["requests"]["storage"] = size;
    return p;
  };
  EXPECT_EQ(Create(&quotas, "", "persistentvolumeclaims", pvc("5Gi")),
            "exceeded quota: counts, requested: requests.storage=5Gi, used: requests.storage=0, "
            "limited: requests.storage=2Gi");
  EXPECT_EQ(Create(&quotas, "", "persistentvolumeclaims", pvc("1Gi")), std::nullopt);
  EXPECT_EQ(Create(&quotas, "", "persistentvolumeclaims", pvc("500Mi")),
            "exceeded quota: object-quota-demo, requested: persistentvolumeclaims=1, used: "
            "persistentvolumeclaims=1, limited: persistentvolumeclaims=1");
  EXPECT_EQ(quotas[1]["status"]["used"]["requests.storage"], "1Gi");

  EXPECT_EQ(Create(&quotas, "apps", "deployments", Json::object()), std::nullopt);
  EXPECT_EQ(Create(&quotas, "apps", "deployments", Json::object()),
            "exceeded quota: counts, requested: count/deployments.apps=1, used: "
            "count/deployments.apps=1, limited: count/deployments.apps=1");
  EXPECT_EQ(Create(&quotas, "", "configmaps", Json::object()), std::nullopt);
  EXPECT_EQ(
      Create(&quotas, "", "configmaps", Json::object()),
      "exceeded quota: counts, requested: configmaps=1, used: configmaps=1, limited: configmaps=1");
  // Untracked kinds pass and change nothing.
  bool changed[2] = {true, true};
  Json secret = Json::object();
  EXPECT_EQ(ChargeQuotas(&quotas, "", "secrets", nullptr, &secret, changed), std::nullopt);
  EXPECT_FALSE(changed[0]);
  EXPECT_FALSE(changed[1]);
}

TEST(ResourceQuotaTest, FirstFailureWinsAcrossQuotas) {
  std::vector<Json> quotas = {Ready(Quota("a", {{"pods", "5"}})),
                              Ready(Quota("b", {{"pods", "0"}})),
                              Ready(Quota("c", {{"pods", "0"}}))};
  std::vector<Json> before = quotas;
  EXPECT_EQ(Create(&quotas, "", "pods", Pod("p", {Container(nullptr, nullptr)})),
            "exceeded quota: b, requested: pods=1, used: pods=0, limited: pods=0");
  EXPECT_EQ(quotas, before);
  // Constraint and status checks of every quota come before any limit.
  quotas.push_back(Quota("d", {{"pods", "9"}}));
  EXPECT_EQ(Create(&quotas, "", "pods", Pod("p", {Container(nullptr, nullptr)})),
            "status unknown for quota: d, resources: pods");
}

TEST(ResourceQuotaTest, Scopes) {
  Json best_effort = Pod("be", {Container(nullptr, nullptr)});
  Json burstable = Pod("bu", {Container({{"cpu", "100m"}, {"memory", "64Mi"}},
                                        {{"cpu", "100m"}, {"memory", "64Mi"}})});
  Json terminating = best_effort;
  terminating["spec"]["activeDeadlineSeconds"] = 30;
  Json high = burstable;
  high["spec"]["priorityClassName"] = "high";
  const Json pods1 = {{"pods", "1"}};
  const struct {
    const char* name;
    Json quota;
    Json pod;
    bool counted;
  } cases[] = {
      {"BestEffort matches best-effort", Quota("q", pods1, {"BestEffort"}), best_effort, true},
      {"BestEffort skips burstable", Quota("q", pods1, {"BestEffort"}), burstable, false},
      {"NotBestEffort", Quota("q", pods1, {"NotBestEffort"}), burstable, true},
      {"Terminating", Quota("q", pods1, {"Terminating"}), terminating, true},
      {"Terminating skips", Quota("q", pods1, {"Terminating"}), best_effort, false},
      {"NotTerminating", Quota("q", pods1, {"NotTerminating"}), best_effort, true},
      {"all scopes must match", Quota("q", pods1, {"NotTerminating", "NotBestEffort"}), best_effort,
       false},
      {"PriorityClass In",
       Quota("q", pods1, nullptr,
             {{{"scopeName", "PriorityClass"}, {"operator", "In"}, {"values", {"high"}}}}),
       high, true},
      {"PriorityClass In, other class",
       Quota("q", pods1, nullptr,
             {{{"scopeName", "PriorityClass"}, {"operator", "In"}, {"values", {"low"}}}}),
       high, false},
      {"PriorityClass NotIn, no class",
       Quota("q", pods1, nullptr,
             {{{"scopeName", "PriorityClass"}, {"operator", "NotIn"}, {"values", {"high"}}}}),
       burstable, true},
      {"PriorityClass Exists",
       Quota("q", pods1, nullptr, {{{"scopeName", "PriorityClass"}, {"operator", "Exists"}}}), high,
       true},
      {"PriorityClass Exists, none",
       Quota("q", pods1, nullptr, {{{"scopeName", "PriorityClass"}, {"operator", "Exists"}}}),
       burstable, false},
      {"PriorityClass DoesNotExist",
       Quota("q", pods1, nullptr, {{{"scopeName", "PriorityClass"}, {"operator", "DoesNotExist"}}}),
       burstable, true},
      {"scopes via selector",
       Quota("q", pods1, nullptr, {{{"scopeName", "BestEffort"}, {"operator", "Exists"}}}),
       burstable, false},
  };
  for (const auto& c : cases) {
    std::vector<Json> quotas = {Ready(c.quota)};
    EXPECT_EQ(Create(&quotas, "", "pods", c.pod), std::nullopt) << c.name;
    EXPECT_EQ(quotas[0]["status"]["used"]["pods"], c.counted ? "1" : "0") << c.name;
  }
  // A scoped quota never matches non-pod objects.
  std::vector<Json> quotas = {Ready(Quota("q", {{"configmaps", "0"}}, {"BestEffort"}))};
  EXPECT_EQ(Create(&quotas, "", "configmaps", Json::object()), std::nullopt);
}

TEST(ResourceQuotaTest, TerminalPodsAndUpdates) {
  std::vector<Json> quotas = {
      Ready(Quota("q", {{"pods", "1"}, {"count/pods", "5"}, {"requests.cpu", "1"}}))};
  Json pod = Pod("p", {Container({{"cpu", "500m"}}, nullptr)});
  EXPECT_EQ(Create(&quotas, "", "pods", pod), std::nullopt);
  EXPECT_EQ(quotas[0]["status"]["used"].dump(),
            R"({"count/pods":"1","pods":"1","requests.cpu":"500m"})");
  // The pod finishes: compute usage and "pods" are given back, count/pods stays.
  Json done = pod;
  done["status"]["phase"] = "Succeeded";
  bool changed[1] = {};
  EXPECT_EQ(ChargeQuotas(&quotas, "", "pods", &pod, &done, changed), std::nullopt);
  EXPECT_TRUE(changed[0]);
  EXPECT_EQ(quotas[0]["status"]["used"].dump(),
            R"({"count/pods":"1","pods":"0","requests.cpu":"0"})");
  // An update with no usage change changes nothing.
  Json relabeled = done;
  relabeled["metadata"]["labels"]["a"] = "b";
  EXPECT_EQ(ChargeQuotas(&quotas, "", "pods", &done, &relabeled, changed), std::nullopt);
  EXPECT_FALSE(changed[0]);
  // Service update growing nodeports is checked against the increase only.
  std::vector<Json> sq = {Ready(Quota("svc", {{"services.nodeports", "1"}, {"services", "5"}}))};
  Json svc = {{"kind", "Service"}, {"spec", {{"type", "NodePort"}, {"ports", {{{"port", 80}}}}}}};
  EXPECT_EQ(Create(&sq, "", "services", svc), std::nullopt);
  Json svc2 = svc;
  svc2["spec"]["ports"].push_back({{"port", 81}});
  EXPECT_EQ(ChargeQuotas(&sq, "", "services", &svc, &svc2, nullptr),
            "exceeded quota: svc, requested: services.nodeports=1, used: services.nodeports=1, "
            "limited: services.nodeports=1");
}

TEST(ResourceQuotaTest, RecomputeStatus) {
  Namespace ns;
  Json p1 = Pod("a", {Container({{"cpu", "250m"}, {"memory", "1Gi"}}, {{"cpu", "500m"}})});
  Json p2 = Pod("b", {Container({{"cpu", 1}, {"memory", "512Mi"}}, nullptr)});
  Json p3 = Pod("c", {Container(nullptr, nullptr)});
  p3["status"]["phase"] = "Failed";
  ns.objects[{"", "pods"}] = {p1, p2, p3};
  ns.objects[{"", "configmaps"}] = {Json::object(), Json::object()};
  ns.objects[{"apps", "deployments"}] = {Json::object()};
  Json q = Quota("all", {{"pods", 10},
                         {"count/pods", "10"},
                         {"requests.cpu", "4"},
                         {"requests.memory", "8Gi"},
                         {"limits.cpu", "8"},
                         {"configmaps", "10"},
                         {"count/deployments.apps", "3"},
                         {"services", "2"}});
  RecomputeQuotaStatus(&q, ns.Lister());
  EXPECT_EQ(q["status"]["hard"]["pods"], "10");  // canonical string from a JSON number
  EXPECT_EQ(
      q["status"]["used"].dump(),
      R"({"configmaps":"2","count/deployments.apps":"1","count/pods":"3","limits.cpu":"500m","pods":"2","requests.cpu":"1250m","requests.memory":"1536Mi","services":"0"})");

  Json be = Quota("be", {{"pods", "10"}}, {"BestEffort"});
  RecomputeQuotaStatus(&be, ns.Lister());
  EXPECT_EQ(be["status"]["used"].dump(), R"({"pods":"0"})");  // p3 is terminal
}

TEST(ResourceQuotaTest, Validate) {
  const struct {
    const char* name;
    Json quota;
    std::vector<std::pair<std::string, std::string>> causes;
  } cases[] = {
      {"valid",
       Quota("q", {{"pods", "4"},
                   {"requests.cpu", "1"},
                   {"count/deployments.apps", "2"},
                   {"requests.nvidia.com/gpu", 4}}),
       {}},
      {"unknown name",
       Quota("q", {{"widgets", "1"}}),
       {{"spec.hard[widgets]",
         "Invalid value: \"widgets\": must be a standard resource for quota"}}},
      {"negative",
       Quota("q", {{"cpu", "-1"}}),
       {{"spec.hard[cpu]", "Invalid value: \"-1\": must be greater than or equal to 0"}}},
      {"not an integer",
       Quota("q", {{"pods", "1.5"}}),
       {{"spec.hard[pods]", "Invalid value: \"1500m\": must be an integer"}}},
      {"bad quantity",
       Quota("q", {{"memory", "1GB"}}),
       {{"spec.hard[memory]",
         "Invalid value: \"1GB\": quantities must match the regular expression "
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"}}},
      {"BestEffort tracks only pods",
       Quota("q", {{"pods", "1"}, {"cpu", "1"}}, {"BestEffort"}),
       {{"spec.scopes",
         "Invalid value: []core.ResourceQuotaScope{\"BestEffort\"}: unsupported scope applied to "
         "resource"}}},
      {"NotTerminating and services",
       Quota("q", {{"services", "1"}}, {"NotTerminating"}),
       {{"spec.scopes",
         "Invalid value: []core.ResourceQuotaScope{\"NotTerminating\"}: unsupported scope applied "
         "to resource"}}},
      {"conflicting",
       Quota("q", {{"pods", "1"}}, {"Terminating", "NotTerminating"}),
       {{"spec.scopes",
         "Invalid value: []core.ResourceQuotaScope{\"Terminating\", \"NotTerminating\"}: "
         "conflicting scopes"}}},
      {"unsupported scope",
       Quota("q", {{"pods", "1"}}, {"Sometimes"}),
       {{"spec.scopes",
         "Invalid value: []core.ResourceQuotaScope{\"Sometimes\"}: unsupported scope"}}},
      {"selector In without values",
       Quota("q", {{"pods", "1"}}, nullptr, {{{"scopeName", "PriorityClass"}, {"operator", "In"}}}),
       {{"spec.scopeSelector.matchExpressions.values",
         "Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope "
         "selector"}}},
      {"selector Exists with values",
       Quota("q", {{"pods", "1"}}, nullptr,
             {{{"scopeName", "PriorityClass"}, {"operator", "Exists"}, {"values", {"x"}}}}),
       {{"spec.scopeSelector.matchExpressions.values",
         "Invalid value: [\"x\"]: must be no value when `operator` is 'Exist' or 'DoesNotExist' "
         "for scope selector"}}},
      {"selector bad operator",
       Quota("q", {{"pods", "1"}}, nullptr,
             {{{"scopeName", "BestEffort"}, {"operator", "In"}, {"values", {"x"}}}}),
       {{"spec.scopeSelector.matchExpressions.operator",
         "Invalid value: \"In\": must be 'Exist' only operator when scope is any of "
         "ResourceQuotaScopeTerminating, "
         "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort or "
         "ResourceQuotaScopeNotBestEffort"}}},
  };
  for (const auto& c : cases) {
    auto got = ValidateResourceQuota(c.quota);
    ASSERT_EQ(got.size(), c.causes.size()) << c.name << ": " << (got.empty() ? "" : got[0].message);
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i].field, c.causes[i].first) << c.name;
      EXPECT_EQ(got[i].message, c.causes[i].second) << c.name;
    }
  }
}

}  // namespace
}  // namespace capstan::kube
