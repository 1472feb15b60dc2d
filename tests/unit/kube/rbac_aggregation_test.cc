// ClusterRole aggregation and the bootstrap roles (Kubernetes'
// clusterroleaggregation controller and bootstrappolicy), SPEC §11.
#include "kube-adapter/rbac_aggregation.h"

#include <gtest/gtest.h>

#include "kube-adapter/bootstrap_policy.h"
#include "kube-adapter/rbac_authorizer.h"
#include "kube-adapter/rbac_policy.h"

namespace capstan::kube {
namespace {

Json J(const char* text) { return Json::parse(text); }

const Json* Find(const std::vector<Json>& v, const std::string& name) {
  for (const auto& r : v) {
    if (ObjectName(r) == name) return &r;
  }
  return nullptr;
}

TEST(RbacAggregationTest, LabelSelectors) {
  struct Case {
    const char* selector;
    const char* labels;
    bool matches;
  };
  const Case cases[] = {
      {R"({})", R"({"a":"b"})", true},
      {R"({})", "null", true},
      {R"({"matchLabels":{"a":"b"}})", R"({"a":"b","c":"d"})", true},
      {R"({"matchLabels":{"a":"b"}})", R"({"a":"c"})", false},
      {R"({"matchLabels":{"a":"b"}})", "null", false},
      {R"({"matchExpressions":[{"key":"a","operator":"In","values":["x","y"]}]})", R"({"a":"y"})",
       true},
      {R"({"matchExpressions":[{"key":"a","operator":"In","values":["x"]}]})", R"({})", false},
      {R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":["x"]}]})", R"({})", true},
      {R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":["x"]}]})", R"({"a":"x"})",
       false},
      {R"({"matchExpressions":[{"key":"a","operator":"Exists"}]})", R"({"a":""})", true},
      {R"({"matchExpressions":[{"key":"a","operator":"Exists"}]})", R"({"b":""})", false},
      {R"({"matchExpressions":[{"key":"a","operator":"DoesNotExist"}]})", R"({"b":""})", true},
      {R"({"matchExpressions":[{"key":"a","operator":"DoesNotExist"}]})", R"({"a":"1"})", false},
      {R"({"matchLabels":{"a":"1"},"matchExpressions":[{"key":"b","operator":"Exists"}]})",
       R"({"a":"1"})", false},
      {R"({"matchExpressions":[{"key":"a","operator":"Bogus"}]})", R"({"a":"1"})", false},
      {R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})", R"({"a":"1"})", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(LabelSelectorMatches(J(c.selector), J(c.labels)), c.matches)
        << c.selector << " on " << c.labels;
  }
}

TEST(RbacAggregationTest, MonitoringExample) {
  std::vector<Json> roles = {
      J(R"({"metadata":{"name":"monitoring"},
            "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate-to-monitoring":"true"}}]},
            "rules":[{"apiGroups":["x"],"resources":["user-written"],"verbs":["get"]}]})"),
      J(R"({"metadata":{"name":"monitoring-endpoints","labels":{"rbac.example.com/aggregate-to-monitoring":"true"}},
            "rules":[{"apiGroups":[""],"resources":["services","endpoints","pods"],"verbs":["get","list","watch"]}]})"),
      J(R"({"metadata":{"name":"a-monitoring-extra","labels":{"rbac.example.com/aggregate-to-monitoring":"true"}},
            "rules":[{"apiGroups":[""],"resources":["nodes"],"verbs":["get"]},
                     {"apiGroups":[""],"resources":["services","endpoints","pods"],"verbs":["get","list","watch"]}]})"),
      J(R"({"metadata":{"name":"unrelated"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]})"),
  };
  std::vector<Json> changed = AggregateClusterRoles(roles);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(ObjectName(changed[0]), "monitoring");
  // Name order (a-monitoring-extra first), de-duplicated, user rules replaced.
  EXPECT_EQ(changed[0]["rules"], J(R"([
      {"verbs":["get"],"apiGroups":[""],"resources":["nodes"]},
      {"verbs":["get","list","watch"],"apiGroups":[""],"resources":["services","endpoints","pods"]}])"));
  EXPECT_TRUE(changed[0].contains("aggregationRule"));

  // Already settled: nothing to change.
  roles[0] = changed[0];
  EXPECT_TRUE(AggregateClusterRoles(roles).empty());

  // Removing the label empties the aggregate.
  roles[1]["metadata"].erase("labels");
  roles[2]["metadata"].erase("labels");
  changed = AggregateClusterRoles(roles);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]["rules"], Json::array());
}

TEST(RbacAggregationTest, ExcludesItselfAndSurvivesCycles) {
  std::vector<Json> roles = {
      J(R"({"metadata":{"name":"a","labels":{"agg":"1"}},
            "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"agg":"1"}}]}})"),
      J(R"({"metadata":{"name":"b","labels":{"agg":"1"}},
            "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"agg":"1"}}]}})"),
      J(R"({"metadata":{"name":"c","labels":{"agg":"1"}},
            "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})"),
  };
  std::vector<Json> changed = AggregateClusterRoles(roles);
  ASSERT_EQ(changed.size(), 2u);
  Json expect = J(R"([{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}])");
  EXPECT_EQ(changed[0]["rules"], expect);
  EXPECT_EQ(changed[1]["rules"], expect);
  EXPECT_TRUE(AggregateClusterRoles({J("null"), J(R"({"aggregationRule":5})")}).empty());
}

TEST(RbacAggregationTest, BootstrapRoles) {
  std::vector<Json> roles = BootstrapClusterRoles();
  for (const char* name : {"cluster-admin", "admin", "edit", "view", "system:aggregate-to-admin",
                           "system:aggregate-to-edit", "system:aggregate-to-view",
                           "system:discovery", "system:basic-user", "system:public-info-viewer"}) {
    const Json* r = Find(roles, name);
    ASSERT_NE(r, nullptr) << name;
    EXPECT_EQ((*r)["apiVersion"], "rbac.authorization.k8s.io/v1");
    EXPECT_EQ((*r)["kind"], "ClusterRole");
    EXPECT_EQ((*r)["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
              "true");
    EXPECT_EQ((*r)["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
  }
  // Aggregated rules are already filled and stable.
  EXPECT_TRUE(AggregateClusterRoles(roles).empty());
  EXPECT_EQ(ParseRules(*Find(roles, "view")), ParseRules(*Find(roles, "system:aggregate-to-view")));
  EXPECT_GT(ParseRules(*Find(roles, "edit")).size(), ParseRules(*Find(roles, "view")).size());
  EXPECT_GT(ParseRules(*Find(roles, "admin")).size(), ParseRules(*Find(roles, "edit")).size());
  EXPECT_EQ(
      (*Find(roles, "edit"))["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"],
      "true");
  EXPECT_EQ(
      (*Find(roles, "view"))["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
      "true");

  std::vector<Json> bindings = BootstrapClusterRoleBindings();
  ASSERT_NE(Find(bindings, "cluster-admin"), nullptr);
  EXPECT_EQ(
      (*Find(bindings, "cluster-admin"))["subjects"],
      J(R"([{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:masters"}])"));
  EXPECT_EQ((*Find(bindings, "system:public-info-viewer"))["subjects"].size(), 2u);
  EXPECT_EQ(
      (*Find(bindings, "system:discovery"))["roleRef"],
      J(R"({"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:discovery"})"));
}

// A user bound to view/edit/admin in a namespace.
RequestAttributes In(const std::string& user, const std::string& verb, const std::string& group,
                     const std::string& resource, const std::string& sub = "") {
  RequestAttributes a;
  a.user = UserInfo{user, "", {"system:authenticated"}};
  a.verb = verb;
  a.namespace_ = "team";
  a.api_group = group;
  a.resource = resource;
  a.subresource = sub;
  a.name = "x";
  return a;
}

RbacPolicy TeamPolicy(std::vector<Json> cluster_roles) {
  RbacPolicy p;
  p.cluster_roles = std::move(cluster_roles);
  for (const char* role : {"view", "edit", "admin"}) {
    Json b = Json::object();
    b["metadata"] = {{"name", std::string(role) + "-b"}, {"namespace", "team"}};
    b["subjects"] = Json::array({{{"kind", "User"}, {"name", std::string(role) + "er"}}});
    b["roleRef"] = {
        {"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}};
    p.role_bindings.push_back(b);
  }
  return p;
}

TEST(RbacAggregationTest, DefaultRolesGrantWhatKubernetesGrants) {
  RbacPolicy p = TeamPolicy(BootstrapClusterRoles());
  struct Case {
    RequestAttributes attrs;
    bool allowed;
  };
  const Case cases[] = {
      {In("viewer", "list", "", "pods"), true},
      {In("viewer", "get", "", "pods", "log"), true},
      {In("viewer", "get", "apps", "deployments"), true},
      {In("viewer", "get", "", "secrets"), false},  // view has no secrets
      {In("viewer", "create", "", "pods"), false},
      {In("editer", "get", "", "secrets"), true},
      {In("editer", "create", "apps", "deployments"), true},
      {In("editer", "patch", "apps", "deployments", "scale"), true},
      {In("editer", "list", "", "pods"), true},  // view reaches edit
      {In("editer", "create", "rbac.authorization.k8s.io", "rolebindings"), false},
      {In("adminer", "create", "rbac.authorization.k8s.io", "rolebindings"), true},
      {In("adminer", "delete", "batch", "jobs"), true},  // edit reaches admin
      {In("adminer", "watch", "", "configmaps"), true},  // view reaches admin
      {In("adminer", "get", "", "nodes"), false},
      {In("adminer", "create", "", "resourcequotas"), false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Authorize(p, c.attrs).allowed, c.allowed)
        << c.attrs.user.name << " " << c.attrs.verb << " " << c.attrs.resource;
  }
}

TEST(RbacAggregationTest, CustomRoleReachesViewEditAdmin) {
  std::vector<Json> roles = BootstrapClusterRoles();
  roles.push_back(J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
      "metadata":{"name":"crontab-reader","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},
      "rules":[{"apiGroups":["stable.example.com"],"resources":["crontabs"],"verbs":["get","list","watch"]}]})"));
  std::vector<Json> changed = AggregateClusterRoles(roles);
  std::vector<std::string> names;
  for (const auto& c : changed) names.push_back(ObjectName(c));
  EXPECT_EQ(names, (std::vector<std::string>{"admin", "edit", "view"}));
  for (const auto& c : changed) {
    for (auto& r : roles) {
      if (ObjectName(r) == ObjectName(c)) r = c;
    }
  }
  RbacPolicy p = TeamPolicy(roles);
  for (const char* user : {"viewer", "editer", "adminer"}) {
    EXPECT_TRUE(Authorize(p, In(user, "list", "stable.example.com", "crontabs")).allowed) << user;
    EXPECT_FALSE(Authorize(p, In(user, "delete", "stable.example.com", "crontabs")).allowed)
        << user;
  }
}

}  // namespace
}  // namespace capstan::kube
