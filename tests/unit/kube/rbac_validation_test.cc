// RBAC object validation: Kubernetes' field paths and messages
// (pkg/apis/rbac/validation/validation.go), SPEC §11.
#include "kube-adapter/rbac_validation.h"

#include <gtest/gtest.h>

#include <string>

namespace capstan::kube {
namespace {

Json J(const char* text) { return Json::parse(text); }

std::string Render(const std::vector<FieldCause>& causes) {
  std::string out;
  for (const auto& c : causes) {
    if (!out.empty()) out += "\n";
    out += c.field + ": " + c.message;
  }
  return out;
}

struct Case {
  const char* what;
  const char* obj;
  const char* expect;  // causes, one per line; "" when valid
};

TEST(RbacValidationTest, Roles) {
  const Case cases[] = {
      {"pod-reader is valid",
       R"({"metadata":{"name":"pod-reader","namespace":"default"},
           "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","watch","list"]}]})",
       ""},
      {"no rules is valid", R"({"metadata":{"name":"r","namespace":"default"}})", ""},
      {"unknown verb is accepted",
       R"({"metadata":{"name":"r","namespace":"d"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["describe"]}]})",
       ""},
      {"empty apiGroups (seed trap)",
       R"({"metadata":{"name":"r","namespace":"d"},"rules":[{"apiGroups":[],"resources":["pods"],"verbs":["get"]}]})",
       "rules[0].apiGroups: Required value: resource rules must supply at least one api group"},
      {"no verbs, no resources",
       R"({"metadata":{"name":"r","namespace":"d"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]},{"apiGroups":[""]}]})",
       "rules[1].verbs: Required value: verbs must contain at least one value\n"
       "rules[1].resources: Required value: resource rules must supply at least one resource"},
      {"URLs in a Role",
       R"({"metadata":{"name":"r","namespace":"d"},"rules":[{"nonResourceURLs":["/healthz"],"verbs":["get"]}]})",
       R"(rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs)"},
      {"missing namespace", R"({"metadata":{"name":"r"}})", "metadata.namespace: Required value"},
      {"missing name", R"({"metadata":{"namespace":"d"}})",
       "metadata.name: Required value: name or generateName is required"},
      {"slash in name", R"({"metadata":{"name":"a/b","namespace":"d"}})",
       R"(metadata.name: Invalid value: "a/b": may not contain '/')"},
  };
  for (const auto& c : cases) EXPECT_EQ(Render(ValidateRole(J(c.obj))), c.expect) << c.what;
}

TEST(RbacValidationTest, ClusterRoles) {
  const Case cases[] = {
      {"secret-reader",
       R"({"metadata":{"name":"secret-reader"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","watch","list"]}]})",
       ""},
      {"URLs allowed cluster-wide",
       R"({"metadata":{"name":"h"},"rules":[{"nonResourceURLs":["/healthz","/healthz/*"],"verbs":["get"]}]})",
       ""},
      {"both kinds in one rule",
       R"({"metadata":{"name":"h"},"rules":[{"nonResourceURLs":["/healthz"],"resources":["pods"],"verbs":["get"]}]})",
       R"(rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to both regular resources and non-resource URLs)"},
      {"namespace forbidden", R"({"metadata":{"name":"c","namespace":"x"}})",
       "metadata.namespace: Forbidden: not allowed on this type"},
      {"aggregated monitoring",
       R"({"metadata":{"name":"monitoring"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate-to-monitoring":"true"}}]},"rules":[]})",
       ""},
      {"empty aggregationRule", R"({"metadata":{"name":"m"},"aggregationRule":{}})",
       "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector "
       "required if aggregationRule is non-nil"},
      {"bad selector operator",
       R"({"metadata":{"name":"m"},"aggregationRule":{"clusterRoleSelectors":[{"matchExpressions":[{"key":"a","operator":"Is"}]}]}})",
       R"(aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator: Invalid value: "Is": not a valid selector operator)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Render(ValidateClusterRole(J(c.obj))), c.expect) << c.what;
  }
}

TEST(RbacValidationTest, RoleBindings) {
  const Case cases[] = {
      {"read-pods",
       R"({"metadata":{"name":"read-pods","namespace":"default"},
           "subjects":[{"kind":"User","name":"jane","apiGroup":"rbac.authorization.k8s.io"}],
           "roleRef":{"kind":"Role","name":"pod-reader","apiGroup":"rbac.authorization.k8s.io"}})",
       ""},
      {"SA subject without namespace is fine in a RoleBinding",
       R"({"metadata":{"name":"b","namespace":"ci"},"subjects":[{"kind":"ServiceAccount","name":"builder"}],
           "roleRef":{"kind":"ClusterRole","name":"view","apiGroup":"rbac.authorization.k8s.io"}})",
       ""},
      {"bad roleRef",
       R"({"metadata":{"name":"b","namespace":"ci"},"roleRef":{"kind":"Pod","apiGroup":"v1"}})",
       "roleRef.apiGroup: Unsupported value: \"v1\": supported values: "
       "\"rbac.authorization.k8s.io\"\n"
       "roleRef.kind: Unsupported value: \"Pod\": supported values: \"Role\", \"ClusterRole\"\n"
       "roleRef.name: Required value"},
      {"bad subjects",
       R"({"metadata":{"name":"b","namespace":"ci"},
           "subjects":[{"kind":"Robot","name":"r"},{"kind":"User","apiGroup":"rbac.authorization.k8s.io"},
                       {"kind":"ServiceAccount","name":"s","apiGroup":"rbac.authorization.k8s.io"},
                       {"kind":"Group","name":"g","apiGroup":"x"}],
           "roleRef":{"kind":"Role","name":"r","apiGroup":"rbac.authorization.k8s.io"}})",
       "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", "
       "\"User\", \"Group\"\n"
       "subjects[1].name: Required value\n"
       "subjects[2].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": supported values: "
       "\"\"\n"
       "subjects[3].apiGroup: Unsupported value: \"x\": supported values: "
       "\"rbac.authorization.k8s.io\""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Render(ValidateRoleBinding(J(c.obj), nullptr)), c.expect) << c.what;
  }
}

TEST(RbacValidationTest, ClusterRoleBindings) {
  const Case cases[] = {
      {"valid",
       R"({"metadata":{"name":"b"},"subjects":[{"kind":"Group","name":"managers","apiGroup":"rbac.authorization.k8s.io"}],
           "roleRef":{"kind":"ClusterRole","name":"secret-reader","apiGroup":"rbac.authorization.k8s.io"}})",
       ""},
      {"Role not allowed",
       R"({"metadata":{"name":"b"},"roleRef":{"kind":"Role","name":"r","apiGroup":"rbac.authorization.k8s.io"}})",
       R"(roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole")"},
      {"SA name must be a DNS subdomain",
       R"({"metadata":{"name":"b"},"subjects":[{"kind":"ServiceAccount","name":"Prom_1","namespace":"m"}],
           "roleRef":{"kind":"ClusterRole","name":"view","apiGroup":"rbac.authorization.k8s.io"}})",
       "subjects[0].name: Invalid value: \"Prom_1\": a lowercase RFC 1123 subdomain must consist "
       "of "
       "lower case alphanumeric characters, '-' or '.', and must start and end with an "
       "alphanumeric character (e.g. 'example.com', regex used for validation is "
       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
      {"SA dotted name is fine",
       R"({"metadata":{"name":"b"},"subjects":[{"kind":"ServiceAccount","name":"a.b-c","namespace":"m"}],
           "roleRef":{"kind":"ClusterRole","name":"view","apiGroup":"rbac.authorization.k8s.io"}})",
       ""},
      {"SA needs namespace",
       R"({"metadata":{"name":"b"},"subjects":[{"kind":"ServiceAccount","name":"prom"}],
           "roleRef":{"kind":"ClusterRole","name":"view","apiGroup":"rbac.authorization.k8s.io"}})",
       "subjects[0].namespace: Required value"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Render(ValidateClusterRoleBinding(J(c.obj), nullptr)), c.expect) << c.what;
  }
}

TEST(RbacValidationTest, DefaultingThenValidating) {
  // kubectl YAML often omits apiGroup; v1 defaulting fills it in first.
  Json b = J(R"({"metadata":{"name":"b","namespace":"d"},
                 "subjects":[{"kind":"User","name":"jane"},{"kind":"ServiceAccount","name":"s"}],
                 "roleRef":{"kind":"Role","name":"r"}})");
  EXPECT_NE(Render(ValidateRoleBinding(b, nullptr)), "");
  DefaultRbacBinding(&b);
  EXPECT_EQ(b["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ(b["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_FALSE(b["subjects"][1].contains("apiGroup"));
  EXPECT_EQ(Render(ValidateRoleBinding(b, nullptr)), "");
  Json junk = J("[1]");
  DefaultRbacBinding(&junk);  // no throw
  DefaultRbacBinding(nullptr);
}

TEST(RbacValidationTest, RoleRefIsImmutable) {
  Json old = J(R"({"metadata":{"name":"b"},"subjects":[],
                   "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}})");
  Json same = old;
  same["subjects"] = J(R"([{"kind":"Group","name":"g","apiGroup":"rbac.authorization.k8s.io"}])");
  EXPECT_EQ(Render(ValidateClusterRoleBinding(same, &old)), "");
  Json changed = old;
  changed["roleRef"]["name"] = "edit";
  EXPECT_EQ(
      Render(ValidateClusterRoleBinding(changed, &old)),
      R"(roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef)");
  auto causes = ValidateClusterRoleBinding(changed, &old);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].reason, "FieldValueInvalid");
  Json old_rb = old;
  old_rb["metadata"]["namespace"] = "d";
  Json changed_rb = changed;
  changed_rb["metadata"]["namespace"] = "d";
  EXPECT_EQ(ValidateRoleBinding(changed_rb, &old_rb).size(), 1u);
}

TEST(RbacValidationTest, MalformedInputDoesNotThrow) {
  for (const char* text : {"null", "[]", "7", R"({"rules":5,"metadata":"x"})",
                           R"({"metadata":{"name":"a"},"rules":[null,"x",{"verbs":{}}]})"}) {
    EXPECT_NO_THROW(ValidateRole(J(text)));
    EXPECT_NO_THROW(ValidateClusterRole(J(text)));
    EXPECT_NO_THROW(ValidateRoleBinding(J(text), nullptr));
    Json old = J(text);
    EXPECT_NO_THROW(ValidateClusterRoleBinding(J(text), &old));
  }
}

}  // namespace
}  // namespace capstan::kube
