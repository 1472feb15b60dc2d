// RbacPolicy: the RBAC objects authorization reads, plus the rule
// resolution every RBAC check shares (Kubernetes'
// pkg/registry/rbac/validation/rule.go DefaultRuleResolver). Pure: no I/O.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"
#include "kube-adapter/user_info.h"
#include "storage/go_quote.h"

namespace capstan::kube {

// All RBAC objects as stored JSON. roles and role_bindings hold every
// namespace; each carries metadata.namespace.
struct RbacPolicy {
  std::vector<Json> cluster_roles;
  std::vector<Json> cluster_role_bindings;
  std::vector<Json> roles;
  std::vector<Json> role_bindings;
};

// rbac/v1 PolicyRule. Missing or malformed fields read as empty, so a broken
// stored object can never grant more than it says.
struct PolicyRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;

  bool operator==(const PolicyRule&) const = default;
};

PolicyRule ParsePolicyRule(const Json& rule);
// The "rules" of a Role or ClusterRole object (empty when absent).
std::vector<PolicyRule> ParseRules(const Json& role);
// Serialized like Kubernetes: verbs always; apiGroups, resources,
// resourceNames, nonResourceURLs only when non-empty.
Json PolicyRuleToJson(const PolicyRule& rule);

// Safe accessors: "" / empty when the field is missing or not a string.
std::string JsonString(const Json& obj, const char* key);
std::vector<std::string> JsonStringList(const Json& obj, const char* key);
std::string ObjectName(const Json& obj);
std::string ObjectNamespace(const Json& obj);

const Json* FindClusterRole(const RbacPolicy& policy, const std::string& name);
const Json* FindRole(const RbacPolicy& policy, const std::string& ns, const std::string& name);

// Go fmt "%q" of a string, and of a []string (`["a" "b"]`).
std::string GoQuoteList(const std::vector<std::string>& v);

// Whether a binding subject names the user (rule.go appliesToUser).
// `ns` is the binding's namespace ("" for ClusterRoleBindings); it defaults
// a ServiceAccount subject's namespace.
bool SubjectMatches(const UserInfo& user, const Json& subject, const std::string& ns);

// How a missing role reads. The authorizer resolves roles through listers,
// which say `clusterrole.rbac.authorization.k8s.io "x" not found`; the
// escalation checks go through the registry, which says
// `clusterroles.rbac.authorization.k8s.io "x" not found`.
enum class RoleErrorStyle { kLister, kRegistry };

// The rules a roleRef points to, or false with the error text.
bool RoleRefRules(const RbacPolicy& policy, const Json& role_ref, const std::string& binding_ns,
                  std::vector<PolicyRule>* rules, std::string* error,
                  RoleErrorStyle style = RoleErrorStyle::kLister);

// Called per rule with a description of where it came from (e.g.
// `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`), or with rule ==
// nullptr and an error for an unresolvable roleRef. Return false to stop.
using RuleVisitor =
    std::function<bool(const std::string& source, const PolicyRule* rule, const std::string& err)>;

// ClusterRoleBindings first, then the RoleBindings of `ns` (none when ns
// is empty).
void VisitRulesFor(const RbacPolicy& policy, const UserInfo& user, const std::string& ns,
                   const RuleVisitor& visit, RoleErrorStyle style = RoleErrorStyle::kLister);

struct ResolvedRules {
  std::vector<PolicyRule> rules;
  std::vector<std::string> errors;
};
ResolvedRules RulesFor(const RbacPolicy& policy, const UserInfo& user, const std::string& ns,
                       RoleErrorStyle style = RoleErrorStyle::kLister);

}  // namespace capstan::kube
