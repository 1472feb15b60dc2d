// RBAC authorization: rule resolution, rule matching, allow reasons, 403
// texts and SelfSubjectRulesReview, table-driven over the course scenarios
// (SPEC §11, Kubernetes' rbac.go / evaluation_helpers.go / rule.go).
#include "kube-adapter/rbac_authorizer.h"

#include <gtest/gtest.h>

#include "kube-adapter/api_error.h"
#include "kube-adapter/bootstrap_policy.h"

namespace capstan::kube {
namespace {

Json J(const char* text) { return Json::parse(text); }

UserInfo User(const std::string& name, std::vector<std::string> groups = {"system:authenticated"}) {
  return UserInfo{name, "", std::move(groups)};
}

UserInfo ServiceAccount(const std::string& ns, const std::string& name) {
  return UserInfo{
      "system:serviceaccount:" + ns + ":" + name,
      "",
      {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}};
}

RequestAttributes Res(const UserInfo& u, const std::string& verb, const std::string& ns,
                      const std::string& group, const std::string& resource,
                      const std::string& name = "", const std::string& sub = "") {
  RequestAttributes a;
  a.user = u;
  a.verb = verb;
  a.namespace_ = ns;
  a.api_group = group;
  a.api_version = "v1";
  a.resource = resource;
  a.subresource = sub;
  a.name = name;
  return a;
}

RequestAttributes Path(const UserInfo& u, const std::string& verb, const std::string& path) {
  RequestAttributes a;
  a.user = u;
  a.verb = verb;
  a.resource_request = false;
  a.path = path;
  return a;
}

// The course policy: pod-reader bound to jane in default, secret-reader
// granted in dev only, an aggregated monitoring role, subresources, names,
// wildcards, URLs and ServiceAccount subjects.
RbacPolicy CoursePolicy() {
  RbacPolicy p;
  p.roles = {
      J(R"({"kind":"Role","metadata":{"name":"pod-reader","namespace":"default"},
            "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","watch","list"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"log-reader","namespace":"default"},
            "rules":[{"apiGroups":[""],"resources":["pods/log"],"verbs":["get"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"cm-one","namespace":"default"},
            "rules":[{"apiGroups":[""],"resources":["configmaps"],"resourceNames":["my-config"],
                      "verbs":["get","update"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"all-deploy","namespace":"prod"},
            "rules":[{"apiGroups":["apps"],"resources":["deployments"],"verbs":["*"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"sa-role","namespace":"ci"},
            "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"any-status","namespace":"default"},
            "rules":[{"apiGroups":["*"],"resources":["*/status"],"verbs":["get"]}]})"),
      J(R"({"kind":"Role","metadata":{"name":"pods-star","namespace":"default"},
            "rules":[{"apiGroups":[""],"resources":["pods/*"],"verbs":["get"]}]})"),
  };
  p.role_bindings = {
      J(R"({"kind":"RoleBinding","metadata":{"name":"read-pods","namespace":"default"},
            "subjects":[{"kind":"User","name":"jane","apiGroup":"rbac.authorization.k8s.io"}],
            "roleRef":{"kind":"Role","name":"pod-reader","apiGroup":"rbac.authorization.k8s.io"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"read-secrets","namespace":"development"},
            "subjects":[{"kind":"User","name":"dave","apiGroup":"rbac.authorization.k8s.io"}],
            "roleRef":{"kind":"ClusterRole","name":"secret-reader","apiGroup":"rbac.authorization.k8s.io"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"logs","namespace":"default"},
            "subjects":[{"kind":"User","name":"lou"}],
            "roleRef":{"kind":"Role","name":"log-reader"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"cm","namespace":"default"},
            "subjects":[{"kind":"User","name":"carl"}],
            "roleRef":{"kind":"Role","name":"cm-one"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"deployers","namespace":"prod"},
            "subjects":[{"kind":"Group","name":"deployers"}],
            "roleRef":{"kind":"Role","name":"all-deploy"}})"),
      // No subject namespace: defaults to the binding's.
      J(R"({"kind":"RoleBinding","metadata":{"name":"sa","namespace":"ci"},
            "subjects":[{"kind":"ServiceAccount","name":"builder"}],
            "roleRef":{"kind":"Role","name":"sa-role"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"ci-group","namespace":"ci"},
            "subjects":[{"kind":"Group","name":"system:serviceaccounts:ci"}],
            "roleRef":{"kind":"ClusterRole","name":"view"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"status","namespace":"default"},
            "subjects":[{"kind":"User","name":"stan"}],
            "roleRef":{"kind":"Role","name":"any-status"}})"),
      J(R"({"kind":"RoleBinding","metadata":{"name":"star","namespace":"default"},
            "subjects":[{"kind":"User","name":"pat"}],
            "roleRef":{"kind":"Role","name":"pods-star"}})"),
  };
  p.cluster_roles = BootstrapClusterRoles();
  p.cluster_roles.push_back(J(R"({"kind":"ClusterRole","metadata":{"name":"secret-reader"},
            "rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","watch","list"]}]})"));
  p.cluster_roles.push_back(J(R"({"kind":"ClusterRole","metadata":{"name":"healthz-reader"},
            "rules":[{"nonResourceURLs":["/healthz","/healthz/*","/metrics"],"verbs":["get","post"]}]})"));
  p.cluster_roles.push_back(J(R"({"kind":"ClusterRole","metadata":{"name":"monitoring"},
            "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate-to-monitoring":"true"}}]},
            "rules":[{"apiGroups":[""],"resources":["services","endpoints","pods"],"verbs":["get","list","watch"]}]})"));
  p.cluster_role_bindings = BootstrapClusterRoleBindings();
  p.cluster_role_bindings.push_back(J(R"({"kind":"ClusterRoleBinding","metadata":{"name":"health"},
            "subjects":[{"kind":"User","name":"hank"}],
            "roleRef":{"kind":"ClusterRole","name":"healthz-reader"}})"));
  p.cluster_role_bindings.push_back(J(R"({"kind":"ClusterRoleBinding","metadata":{"name":"monitor"},
            "subjects":[{"kind":"ServiceAccount","name":"prom","namespace":"monitoring"}],
            "roleRef":{"kind":"ClusterRole","name":"monitoring"}})"));
  return p;
}

struct Case {
  const char* what;
  RequestAttributes attrs;
  bool allowed;
  const char* reason;  // exact allow reason, or nullptr to skip
};

TEST(RbacAuthorizerTest, CourseScenarios) {
  RbacPolicy p = CoursePolicy();
  UserInfo jane = User("jane"), dave = User("dave"), lou = User("lou"), carl = User("carl");
  UserInfo anon = User("system:anonymous", {"system:unauthenticated"});
  UserInfo deployer = User("dee", {"deployers", "system:authenticated"});
  UserInfo admin = User("kubernetes-admin", {"system:masters", "system:authenticated"});
  const Case cases[] = {
      {"jane gets pods in default", Res(jane, "get", "default", "", "pods", "web"), true,
       R"(RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to User "jane")"},
      {"jane lists pods in default", Res(jane, "list", "default", "", "pods"), true, nullptr},
      {"jane watch", Res(jane, "watch", "default", "", "pods"), true, nullptr},
      {"jane may not delete pods", Res(jane, "delete", "default", "", "pods", "web"), false, ""},
      {"jane: role is namespaced", Res(jane, "get", "kube-system", "", "pods", "x"), false, ""},
      {"jane: cluster-wide list", Res(jane, "list", "", "", "pods"), false, ""},
      {"jane: bare pods does not grant pods/log",
       Res(jane, "get", "default", "", "pods", "web", "log"), false, ""},
      {"jane: other group", Res(jane, "get", "default", "apps", "pods", "web"), false, ""},
      {"dave reads secrets in development", Res(dave, "get", "development", "", "secrets", "s"),
       true,
       R"(RBAC: allowed by RoleBinding "read-secrets/development" of ClusterRole "secret-reader" to User "dave")"},
      {"dave: secret-reader only in development", Res(dave, "get", "default", "", "secrets", "s"),
       false, ""},
      {"dave: not cluster-wide", Res(dave, "list", "", "", "secrets"), false, ""},
      {"lou reads pods/log", Res(lou, "get", "default", "", "pods", "web", "log"), true, nullptr},
      {"lou: pods/log is not pods", Res(lou, "get", "default", "", "pods", "web"), false, ""},
      {"carl: named configmap", Res(carl, "get", "default", "", "configmaps", "my-config"), true,
       nullptr},
      {"carl: other configmap", Res(carl, "get", "default", "", "configmaps", "other"), false, ""},
      {"carl: list has no name", Res(carl, "list", "default", "", "configmaps"), false, ""},
      {"carl: create has no name", Res(carl, "create", "default", "", "configmaps"), false, ""},
      {"* verbs", Res(deployer, "deletecollection", "prod", "apps", "deployments"), true,
       R"(RBAC: allowed by RoleBinding "deployers/prod" of Role "all-deploy" to Group "deployers")"},
      {"* verbs but not subresource",
       Res(deployer, "update", "prod", "apps", "deployments", "d", "scale"), false, ""},
      {"*/status", Res(User("stan"), "get", "default", "apps", "deployments", "d", "status"), true,
       nullptr},
      {"*/status is not the resource",
       Res(User("stan"), "get", "default", "apps", "deployments", "d"), false, ""},
      {"pods/* is literal", Res(User("pat"), "get", "default", "", "pods", "p", "log"), false, ""},
      {"nonResourceURL exact", Path(User("hank"), "get", "/metrics"), true,
       R"(RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "healthz-reader" to User "hank")"},
      {"nonResourceURL prefix*", Path(User("hank"), "post", "/healthz/etcd"), true, nullptr},
      {"nonResourceURL miss", Path(User("hank"), "get", "/metricsx"), false, ""},
      {"discovery for authenticated", Path(jane, "get", "/apis/apps/v1"), true,
       R"(RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated")"},
      {"anonymous sees /healthz", Path(anon, "get", "/healthz"), true, nullptr},
      {"anonymous has no discovery", Path(anon, "get", "/api"), false, ""},
      {"basic-user SSAR",
       Res(jane, "create", "", "authorization.k8s.io", "selfsubjectaccessreviews"), true, nullptr},
      {"SA subject defaults to binding ns",
       Res(ServiceAccount("ci", "builder"), "list", "ci", "", "pods"), true,
       R"(RBAC: allowed by RoleBinding "sa/ci" of Role "sa-role" to ServiceAccount "builder/ci")"},
      {"SA in another ns", Res(ServiceAccount("qa", "builder"), "list", "ci", "", "pods"), false,
       ""},
      {"SA group binding (view)",
       Res(ServiceAccount("ci", "other"), "get", "ci", "apps", "deployments", "d"), true,
       R"(RBAC: allowed by RoleBinding "ci-group/ci" of ClusterRole "view" to Group "system:serviceaccounts:ci")"},
      {"view has no secrets", Res(ServiceAccount("ci", "other"), "get", "ci", "", "secrets", "s"),
       false, ""},
      {"SA via ClusterRoleBinding",
       Res(ServiceAccount("monitoring", "prom"), "list", "", "", "endpoints"), true,
       R"(RBAC: allowed by ClusterRoleBinding "monitor" of ClusterRole "monitoring" to ServiceAccount "prom/monitoring")"},
      {"system:masters always", Res(admin, "delete", "", "", "nodes", "n1"), true, ""},
      {"system:masters path", Path(admin, "get", "/anything"), true, ""},
  };
  for (const auto& c : cases) {
    AuthorizationDecision d = Authorize(p, c.attrs);
    EXPECT_EQ(d.allowed, c.allowed) << c.what;
    if (c.reason != nullptr) {
      EXPECT_EQ(d.reason, c.reason) << c.what;
    }
    EXPECT_EQ(d.errors, "") << c.what;
  }
}

TEST(RbacAuthorizerTest, RuleMatchingTable) {
  struct RuleCase {
    const char* rule;
    RequestAttributes attrs;
    bool allows;
  };
  UserInfo u = User("u");
  const RuleCase cases[] = {
      {R"({"verbs":["*"],"apiGroups":["*"],"resources":["*"]})",
       Res(u, "get", "ns", "x", "y", "n", "sub"), true},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["pods"]})",
       Res(u, "get", "ns", "", "pods"), true},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["pods"]})",
       Res(u, "list", "ns", "", "pods"), false},
      {R"({"verbs":["describe"],"apiGroups":[""],"resources":["pods"]})",
       Res(u, "get", "ns", "", "pods"), false},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["pods/log"]})",
       Res(u, "get", "ns", "", "pods", "p", "log"), true},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["*/log"]})",
       Res(u, "get", "ns", "", "pods", "p", "log"), true},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["*/log"]})",
       Res(u, "get", "ns", "", "pods", "p", "exec"), false},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["a","b"]})",
       Res(u, "get", "ns", "", "pods", "b"), true},
      {R"({"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["a"]})",
       Res(u, "get", "ns", "", "pods", ""), false},
      {R"({"verbs":["get"],"apiGroups":[],"resources":["pods"]})", Res(u, "get", "ns", "", "pods"),
       false},
      {R"({"verbs":["get"],"nonResourceURLs":["*"]})", Path(u, "get", "/x/y"), true},
      {R"({"verbs":["get"],"nonResourceURLs":["/api*"]})", Path(u, "get", "/apis"), true},
      {R"({"verbs":["get"],"nonResourceURLs":["/api"]})", Path(u, "get", "/api/v1"), false},
      {R"({"verbs":["get"],"apiGroups":["*"],"resources":["*"]})", Path(u, "get", "/api"), false},
      {R"({"verbs":["get"],"nonResourceURLs":["*"]})", Res(u, "get", "", "", "pods"), false},
      {R"({"verbs":"get","apiGroups":[""],"resources":["pods"]})", Res(u, "get", "ns", "", "pods"),
       false},  // malformed grants nothing
  };
  for (const auto& c : cases) {
    EXPECT_EQ(RuleAllows(c.attrs, ParsePolicyRule(J(c.rule))), c.allows) << c.rule;
  }
}

TEST(RbacAuthorizerTest, ForbiddenMessages) {
  RbacPolicy p = CoursePolicy();
  UserInfo jane = User("jane");
  struct MsgCase {
    RequestAttributes attrs;
    const char* message;
  };
  const MsgCase cases[] = {
      {Res(jane, "list", "default", "", "secrets"),
       R"(User "jane" cannot list resource "secrets" in API group "" in the namespace "default")"},
      {Res(jane, "get", "default", "", "pods", "web", "log"),
       R"(User "jane" cannot get resource "pods/log" in API group "" in the namespace "default")"},
      {Res(jane, "list", "", "rbac.authorization.k8s.io", "clusterroles"),
       R"(User "jane" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope)"},
  };
  for (const auto& c : cases) {
    AuthorizationDecision d = Authorize(p, c.attrs);
    ASSERT_FALSE(d.allowed);
    EXPECT_EQ(d.reason, "");
    EXPECT_EQ(ForbiddenReason(c.attrs, d), c.message);
  }
  // The full 403 as ApiError builds it.
  RequestAttributes a = Res(jane, "delete", "default", "", "pods", "web");
  EXPECT_EQ(
      ApiError::Forbidden("", "pods", "web", ForbiddenReason(a, Authorize(p, a))).message,
      R"(pods "web" is forbidden: User "jane" cannot delete resource "pods" in API group "" in the namespace "default")");

  RequestAttributes np = Path(User("system:anonymous", {"system:unauthenticated"}), "get", "/api");
  EXPECT_EQ(NonResourceForbiddenMessage(np, Authorize(p, np)),
            R"(forbidden: User "system:anonymous" cannot get path "/api")");
  RequestAttributes html = Path(jane, "get", "/x<y>&");
  EXPECT_EQ(NonResourceForbiddenMessage(html, Authorize(p, html)),
            R"(forbidden: User "jane" cannot get path "/x&lt;y&gt;&amp;")");
}

TEST(RbacAuthorizerTest, MissingRolesAreErrors) {
  RbacPolicy p;
  p.cluster_role_bindings = {J(R"({"metadata":{"name":"b1"},"subjects":[{"kind":"User","name":"u"}],
            "roleRef":{"kind":"ClusterRole","name":"gone"}})")};
  p.role_bindings = {
      J(R"({"metadata":{"name":"b2","namespace":"ns"},"subjects":[{"kind":"User","name":"u"}],
            "roleRef":{"kind":"Role","name":"gone-too"}})"),
      J(R"({"metadata":{"name":"b3","namespace":"ns"},"subjects":[{"kind":"User","name":"u"}],
            "roleRef":{"kind":"Role","name":"gone-too"}})")};
  RequestAttributes a = Res(User("u"), "get", "ns", "", "pods", "p");
  AuthorizationDecision d = Authorize(p, a);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "");
  // Aggregated like utilerrors: de-duplicated, bracketed.
  EXPECT_EQ(
      d.errors,
      R"([clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "gone-too" not found])");
  EXPECT_EQ(ReviewReason(d), "RBAC: " + d.errors);
  EXPECT_EQ(ForbiddenReason(a, d),
            R"(User "u" cannot get resource "pods" in API group "" in the namespace "ns": RBAC: )" +
                d.errors);

  RequestAttributes cluster = Res(User("u"), "list", "", "", "nodes");
  d = Authorize(p, cluster);
  EXPECT_EQ(d.errors, R"(clusterrole.rbac.authorization.k8s.io "gone" not found)");
}

TEST(RbacAuthorizerTest, RulesReview) {
  RbacPolicy p = CoursePolicy();
  Json s = RulesReview(p, User("jane"), "default");
  EXPECT_EQ(s["incomplete"], false);
  EXPECT_FALSE(s.contains("evaluationError"));
  Json expect_pods = J(R"({"verbs":["get","watch","list"],"apiGroups":[""],"resources":["pods"]})");
  Json expect_ssar = J(
      R"({"verbs":["create"],"apiGroups":["authorization.k8s.io"],"resources":["selfsubjectaccessreviews","selfsubjectrulesreviews"]})");
  bool pods = false, ssar = false;
  for (const auto& r : s["resourceRules"]) {
    pods |= r == expect_pods;
    ssar |= r == expect_ssar;
  }
  EXPECT_TRUE(pods);
  EXPECT_TRUE(ssar);
  bool healthz = false;
  for (const auto& r : s["nonResourceRules"]) {
    for (const auto& u : r["nonResourceURLs"]) healthz |= u == "/healthz";
  }
  EXPECT_TRUE(healthz);

  // In another namespace jane has no pod rule.
  Json other = RulesReview(p, User("jane"), "kube-system");
  for (const auto& r : other["resourceRules"]) EXPECT_NE(r, expect_pods);

  RbacPolicy broken;
  broken.cluster_role_bindings = {
      J(R"({"metadata":{"name":"b"},"subjects":[{"kind":"User","name":"u"}],
            "roleRef":{"kind":"ClusterRole","name":"gone"}})")};
  Json e = RulesReview(broken, User("u"), "");
  EXPECT_EQ(e["evaluationError"], R"(clusterrole.rbac.authorization.k8s.io "gone" not found)");
  EXPECT_EQ(e["resourceRules"], Json::array());
  EXPECT_EQ(e["nonResourceRules"], Json::array());
}

TEST(RbacAuthorizerTest, GoQuoting) {
  EXPECT_EQ(GoQuote("jane"), R"("jane")");
  EXPECT_EQ(GoQuote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\x01")");
  EXPECT_EQ(GoQuoteList({}), "[]");
  EXPECT_EQ(GoQuoteList({"system:authenticated", ""}), R"(["system:authenticated" ""])");
}

TEST(RbacAuthorizerTest, MalformedObjectsNeverThrowOrGrant) {
  RbacPolicy p;
  p.cluster_roles = {J(R"({"metadata":{"name":"r"},"rules":"nope"})"), J("42")};
  p.cluster_role_bindings = {J("null"), J(R"({"subjects":{"kind":"User"}})"),
                             J(R"({"metadata":{"name":"b"},"subjects":[{"kind":"User","name":"u"}],
                                   "roleRef":{"kind":"ClusterRole","name":"r"}})")};
  p.role_bindings = {J(R"([1,2])")};
  AuthorizationDecision d = Authorize(p, Res(User("u"), "get", "ns", "", "pods", "x"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.errors, "");
}

}  // namespace
}  // namespace capstan::kube
