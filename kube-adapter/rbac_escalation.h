// RBAC escalation prevention (Kubernetes' pkg/registry/rbac/escalation_check.go,
// validation/rule.go ConfirmNoEscalation, policy_comparator.go Covers,
// compact_rules.go): a user may only write a role or binding granting what
// they already hold. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/json.h"
#include "kube-adapter/rbac_policy.h"
#include "kube-adapter/user_info.h"

namespace capstan::kube {

// Whether `owner` rules cover every rule of `servant`; the uncovered
// single-verb sub-rules go to `missing` when given.
bool RulesCover(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& servant,
                std::vector<PolicyRule>* missing);

// Kubernetes' CompactString of a rule, e.g.
// `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`.
std::string CompactRuleString(const PolicyRule& rule);

// Create (old_role == nullptr) or update of a Role (ns set,
// role_kind_resource "roles") or ClusterRole (ns "", "clusterroles").
// nullopt when allowed; otherwise the text after `<gr> "x" is forbidden: `.
// Allowed for system:masters, for holders of verb `escalate` on the
// resource (by name only on update, as create has no request name), for
// updates that only touch GC fields (ownerReferences, finalizers), or when
// the user's rules in `ns` cover the role's. A ClusterRole whose new or old
// object has an aggregationRule additionally needs `*` on everything.
std::optional<std::string> CheckRoleEscalation(const RbacPolicy& p, const UserInfo& user,
                                               const std::string& ns,
                                               const std::string& role_kind_resource,
                                               const Json& role, const Json* old_role = nullptr);

// Create (old_binding == nullptr) or update of a RoleBinding (ns set) or
// ClusterRoleBinding (ns ""). Allowed for system:masters, for GC-only
// updates, for holders of `bind` on the referenced role (in ns, by name), or
// when the user covers the referenced role's rules. A missing role denies
// with `roles.rbac.authorization.k8s.io "x" not found`.
std::optional<std::string> CheckBindingEscalation(const RbacPolicy& p, const UserInfo& user,
                                                  const std::string& ns, const Json& binding,
                                                  const Json* old_binding = nullptr);

}  // namespace capstan::kube
