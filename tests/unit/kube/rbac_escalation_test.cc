// RBAC escalation prevention: escalate/bind verbs, rule coverage and the
// exact denial text (Kubernetes' escalation_check.go, rule.go
// ConfirmNoEscalation, policy_comparator.go, compact_rules.go), SPEC §11.
#include "kube-adapter/rbac_escalation.h"

#include <gtest/gtest.h>

#include "kube-adapter/bootstrap_policy.h"

namespace capstan::kube {
namespace {

Json J(const char* text) { return Json::parse(text); }

UserInfo User(const std::string& name) { return UserInfo{name, "", {"system:authenticated"}}; }

RbacPolicy Policy() {
  RbacPolicy p;
  p.cluster_roles = BootstrapClusterRoles();
  p.cluster_roles.push_back(J(R"({"metadata":{"name":"role-manager"},"rules":[
      {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings","clusterroles"],"verbs":["create","update","get"]},
      {"apiGroups":[""],"resources":["pods","*/status"],"verbs":["get","list"]},
      {"apiGroups":[""],"resources":["configmaps"],"resourceNames":["a","b"],"verbs":["get"]}]})"));
  p.cluster_roles.push_back(J(R"({"metadata":{"name":"escalator"},"rules":[
      {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles"],"verbs":["escalate"]}]})"));
  p.cluster_roles.push_back(J(R"({"metadata":{"name":"view-binder"},"rules":[
      {"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"],"resourceNames":["view"]}]})"));
  p.cluster_roles.push_back(J(R"({"metadata":{"name":"almost-everything"},"rules":[
      {"apiGroups":["*"],"resources":["*"],"verbs":["get","list","watch","create","update","patch","delete"]}]})"));
  p.roles.push_back(J(R"({"metadata":{"name":"pod-reader","namespace":"dev"},
      "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]})"));
  auto rb = [](const char* name, const char* ns, const char* user, const char* kind,
               const char* role) {
    Json b = Json::object();
    b["metadata"] = {{"name", name}, {"namespace", ns}};
    b["subjects"] = Json::array({{{"kind", "User"}, {"name", user}}});
    b["roleRef"] = {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", kind}, {"name", role}};
    return b;
  };
  p.role_bindings.push_back(rb("alice-rm", "dev", "alice", "ClusterRole", "role-manager"));
  p.role_bindings.push_back(rb("erin-esc", "dev", "erin", "ClusterRole", "escalator"));
  p.role_bindings.push_back(rb("erin-rm", "dev", "erin", "ClusterRole", "role-manager"));
  p.role_bindings.push_back(rb("bob-bind", "dev", "bob", "ClusterRole", "view-binder"));
  p.role_bindings.push_back(rb("bob-rm", "dev", "bob", "ClusterRole", "role-manager"));
  p.cluster_role_bindings.push_back(
      J(R"({"metadata":{"name":"root"},"subjects":[{"kind":"User","name":"root"}],
            "roleRef":{"kind":"ClusterRole","name":"cluster-admin"}})"));
  p.cluster_role_bindings.push_back(
      J(R"({"metadata":{"name":"almost"},"subjects":[{"kind":"User","name":"al"}],
            "roleRef":{"kind":"ClusterRole","name":"almost-everything"}})"));
  p.cluster_role_bindings.push_back(
      J(R"({"metadata":{"name":"broken"},"subjects":[{"kind":"User","name":"alice"}],
            "roleRef":{"kind":"ClusterRole","name":"gone"}})"));
  return p;
}

Json Role(const char* rules) {
  Json r = J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
                 "metadata":{"name":"x","namespace":"dev"}})");
  r["rules"] = J(rules);
  return r;
}

constexpr char kAliceHeader[] =
    "user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions "
    "not currently held:\n";
constexpr char kAliceErrors[] =
    "; resolution errors: [clusterroles.rbac.authorization.k8s.io \"gone\" not found]";

TEST(RbacEscalationTest, RoleCreation) {
  RbacPolicy p = Policy();
  struct Case {
    const char* what;
    const char* user;
    const char* rules;
    const char* denial;  // nullptr when allowed; else the missing rules part
  };
  const Case cases[] = {
      {"subset of own rules", "alice",
       R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}])", nullptr},
      {"*/status covers pods/status", "alice",
       R"([{"apiGroups":[""],"resources":["pods/status"],"verbs":["list"]}])", nullptr},
      {"named configmaps covered", "alice",
       R"([{"apiGroups":[""],"resources":["configmaps"],"resourceNames":["b"],"verbs":["get"]}])",
       nullptr},
      {"secrets not held", "alice",
       R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}])",
       R"({APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]})"},
      {"names do not cover all names", "alice",
       R"([{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}])",
       R"({APIGroups:[""], Resources:["configmaps"], Verbs:["get"]})"},
      {"partially held, sorted and compacted", "alice",
       R"([{"apiGroups":["apps"],"resources":["replicasets","deployments"],"verbs":["create","delete"]},
           {"apiGroups":[""],"resources":["pods"],"verbs":["get","delete"]},
           {"apiGroups":[""],"resources":["configmaps"],"resourceNames":["c"],"verbs":["get"]}])",
       "{APIGroups:[\"\"], Resources:[\"configmaps\"], ResourceNames:[\"c\"], Verbs:[\"get\"]}\n"
       "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}\n"
       "{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"create\" \"delete\"]}\n"
       "{APIGroups:[\"apps\"], Resources:[\"replicasets\"], Verbs:[\"create\" \"delete\"]}"},
      {"escalate verb lets erin through", "erin",
       R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])", nullptr},
      {"cluster-admin binding covers all", "root",
       R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])", nullptr},
  };
  for (const auto& c : cases) {
    auto got = CheckRoleEscalation(p, User(c.user), "dev", "roles", Role(c.rules));
    if (c.denial == nullptr) {
      EXPECT_FALSE(got.has_value()) << c.what << ": " << got.value_or("");
    } else {
      ASSERT_TRUE(got.has_value()) << c.what;
      EXPECT_EQ(*got, std::string(kAliceHeader) + c.denial + kAliceErrors) << c.what;
    }
  }
}

TEST(RbacEscalationTest, ExactSpecMessage) {
  RbacPolicy p = Policy();
  p.cluster_role_bindings.pop_back();  // no resolution errors
  auto got = CheckRoleEscalation(
      p, User("alice"), "dev", "roles",
      Role(R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}])"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got,
            "user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC "
            "permissions not currently held:\n"
            "{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}");
  // In another namespace alice holds nothing from her RoleBindings.
  got = CheckRoleEscalation(p, User("alice"), "prod", "roles",
                            Role(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}])"));
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find(R"({APIGroups:[""], Resources:["pods"], Verbs:["get"]})"), std::string::npos);
  // system:masters always passes.
  UserInfo admin{"kubernetes-admin", "", {"system:masters", "system:authenticated"}};
  EXPECT_FALSE(CheckRoleEscalation(p, admin, "prod", "roles",
                                   Role(R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])"))
                   .has_value());
}

TEST(RbacEscalationTest, NonResourceAndClusterRoles) {
  RbacPolicy p = Policy();
  Json cr = J(R"({"metadata":{"name":"metrics"},
                  "rules":[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]})");
  auto got = CheckRoleEscalation(p, User("al"), "", "clusterroles", cr);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got,
            "user \"al\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC "
            "permissions not currently held:\n{NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}");
  EXPECT_FALSE(CheckRoleEscalation(p, User("root"), "", "clusterroles", cr).has_value());
  // The escalate verb on roles does not cover clusterroles.
  EXPECT_TRUE(CheckRoleEscalation(p, User("erin"), "", "clusterroles", cr).has_value());
}

TEST(RbacEscalationTest, AggregationRuleNeedsClusterAdmin) {
  RbacPolicy p = Policy();
  Json monitoring = J(R"({"metadata":{"name":"monitoring"},
      "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate-to-monitoring":"true"}}]},
      "rules":[]})");
  auto got = CheckRoleEscalation(p, User("al"), "", "clusterroles", monitoring);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "must have cluster-admin privileges to use the aggregationRule");
  EXPECT_FALSE(CheckRoleEscalation(p, User("root"), "", "clusterroles", monitoring).has_value());
  // Updates are checked when the new or the old object aggregates.
  Json plain = monitoring;
  plain.erase("aggregationRule");
  Json relabelled = monitoring;
  relabelled["metadata"]["labels"] = {{"x", "y"}};
  const char* kNeedAdmin = "must have cluster-admin privileges to use the aggregationRule";
  // Old object aggregates, new one drops the rule: still checked.
  EXPECT_EQ(CheckRoleEscalation(p, User("al"), "", "clusterroles", plain, &monitoring).value_or(""),
            kNeedAdmin);
  // Unchanged rule, other edits: still checked.
  EXPECT_EQ(
      CheckRoleEscalation(p, User("al"), "", "clusterroles", relabelled, &monitoring).value_or(""),
      kNeedAdmin);
  EXPECT_EQ(CheckRoleEscalation(p, User("al"), "", "clusterroles", monitoring, &plain).value_or(""),
            kNeedAdmin);
  // An update touching only GC fields always passes (so deletes can finish).
  Json finalizing = monitoring;
  finalizing["metadata"]["finalizers"] = {"foregroundDeletion"};
  EXPECT_FALSE(
      CheckRoleEscalation(p, User("al"), "", "clusterroles", finalizing, &monitoring).has_value());
  // An empty selector list is no aggregationRule for this check.
  Json empty = monitoring;
  empty["aggregationRule"]["clusterRoleSelectors"] = Json::array();
  EXPECT_FALSE(CheckRoleEscalation(p, User("al"), "", "clusterroles", empty).has_value());
}

TEST(RbacEscalationTest, Bindings) {
  RbacPolicy p = Policy();
  auto binding = [](const char* kind, const char* name) {
    Json b =
        J(R"({"metadata":{"name":"b","namespace":"dev"},"subjects":[{"kind":"User","name":"z"}]})");
    b["roleRef"] = {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", kind}, {"name", name}};
    return b;
  };
  struct Case {
    const char* what;
    const char* user;
    const char* ns;
    const char* kind;
    const char* role;
    const char* denial;  // nullptr = allowed; otherwise a substring of the denial
  };
  const Case cases[] = {
      {"bind verb with resourceNames", "bob", "dev", "ClusterRole", "view", nullptr},
      {"bind is per name", "bob", "dev", "ClusterRole", "edit",
       R"(is attempting to grant RBAC permissions not currently held:)"},
      {"bind is per namespace", "bob", "prod", "ClusterRole", "view",
       R"(is attempting to grant RBAC permissions not currently held:)"},
      {"covers the role's rules", "alice", "dev", "Role", "pod-reader", nullptr},
      {"missing role", "alice", "dev", "Role", "nope",
       R"(roles.rbac.authorization.k8s.io "nope" not found)"},
      {"missing clusterrole", "alice", "dev", "ClusterRole", "nope",
       R"(clusterroles.rbac.authorization.k8s.io "nope" not found)"},
      {"cluster-admin binds anything", "root", "", "ClusterRole", "cluster-admin", nullptr},
      {"view not covered by almost-everything? it is", "al", "", "ClusterRole", "view", nullptr},
      {"cluster-admin needs URLs too", "al", "", "ClusterRole", "cluster-admin",
       R"({NonResourceURLs:["*"], Verbs:["*"]})"},
  };
  for (const auto& c : cases) {
    auto got = CheckBindingEscalation(p, User(c.user), c.ns, binding(c.kind, c.role));
    if (c.denial == nullptr) {
      EXPECT_FALSE(got.has_value()) << c.what << ": " << got.value_or("");
    } else {
      ASSERT_TRUE(got.has_value()) << c.what;
      EXPECT_NE(got->find(c.denial), std::string::npos) << c.what << ": " << *got;
    }
  }
  EXPECT_EQ(*CheckBindingEscalation(p, User("alice"), "dev", binding("Role", "nope")),
            R"(roles.rbac.authorization.k8s.io "nope" not found)");
  // GC-only updates pass even when the binding itself could not be created.
  Json old = binding("ClusterRole", "cluster-admin");
  Json updated = old;
  updated["metadata"]["ownerReferences"] = J(R"([{"uid":"u1"}])");
  EXPECT_FALSE(CheckBindingEscalation(p, User("alice"), "dev", updated, &old).has_value());
  updated["subjects"][0]["name"] = "other";
  EXPECT_TRUE(CheckBindingEscalation(p, User("alice"), "dev", updated, &old).has_value());
}

TEST(RbacEscalationTest, EscalateByNameOnlyOnUpdate) {
  RbacPolicy p = Policy();
  p.cluster_roles.push_back(J(R"({"metadata":{"name":"escalate-x"},"rules":[
      {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles"],"verbs":["escalate"],"resourceNames":["x"]}]})"));
  p.role_bindings.push_back(
      J(R"({"metadata":{"name":"n","namespace":"dev"},"subjects":[{"kind":"User","name":"nina"}],
            "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"escalate-x"}})"));
  Json role = Role(R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}])");
  // Create has no request name, so a named escalate grant does not apply.
  EXPECT_TRUE(CheckRoleEscalation(p, User("nina"), "dev", "roles", role).has_value());
  Json old = Role("[]");
  EXPECT_FALSE(CheckRoleEscalation(p, User("nina"), "dev", "roles", role, &old).has_value());
}

TEST(RbacEscalationTest, CoversTable) {
  struct Case {
    const char* owner;
    const char* servant;
    bool covers;
  };
  const Case cases[] = {
      {R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])",
       R"([{"apiGroups":["x"],"resources":["y/z"],"verbs":["q"],"resourceNames":["n"]}])", true},
      {R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])",
       R"([{"nonResourceURLs":["/x"],"verbs":["get"]}])", false},
      {R"([{"nonResourceURLs":["/api/*"],"verbs":["get"]}])",
       R"([{"nonResourceURLs":["/api/v1","/api/*"],"verbs":["get"]}])", true},
      {R"([{"nonResourceURLs":["/api/v1"],"verbs":["get"]}])",
       R"([{"nonResourceURLs":["/api/*"],"verbs":["get"]}])", false},
      {R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"]},
           {"apiGroups":[""],"resources":["pods"],"verbs":["list"]}])",
       R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}])", true},
      {R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}])",
       R"([{"apiGroups":[""],"resources":["pods/log"],"verbs":["get"]}])", false},
      {R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"],"resourceNames":["a"]}])",
       R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}])", false},
      {"[]", "[]", true},
  };
  for (const auto& c : cases) {
    std::vector<PolicyRule> owner, servant;
    for (const auto& r : J(c.owner)) owner.push_back(ParsePolicyRule(r));
    for (const auto& r : J(c.servant)) servant.push_back(ParsePolicyRule(r));
    EXPECT_EQ(RulesCover(owner, servant, nullptr), c.covers) << c.owner << " vs " << c.servant;
  }
}

}  // namespace
}  // namespace capstan::kube
