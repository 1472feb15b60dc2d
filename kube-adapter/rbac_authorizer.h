// The authorizer chain Kubernetes runs for a request: the privileged-group
// authorizer (system:masters) then RBAC (plugin/pkg/auth/authorizer/rbac),
// plus the texts of 403s and of SelfSubject*Reviews. Pure: no I/O.
#pragma once

#include <string>

#include "kube-adapter/json.h"
#include "kube-adapter/rbac_policy.h"
#include "kube-adapter/request_attributes.h"
#include "kube-adapter/user_info.h"

namespace capstan::kube {

struct AuthorizationDecision {
  bool allowed = false;
  // On allow by RBAC: `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole
  // "r" to User "u"`. Empty on deny and for system:masters.
  std::string reason;
  // RBAC evaluation errors (missing roles) as one aggregated text, e.g.
  // `clusterrole.rbac.authorization.k8s.io "x" not found`; "" if none.
  std::string errors;
};

// Whether one rule grants the request (rbac.go RuleAllows).
bool RuleAllows(const RequestAttributes& a, const PolicyRule& rule);

AuthorizationDecision Authorize(const RbacPolicy& p, const RequestAttributes& a);

// The SubjectAccessReview status.reason Kubernetes would report: the allow
// reason, or on deny "RBAC: <errors>" when there were evaluation errors.
std::string ReviewReason(const AuthorizationDecision& d);

// The text after `<gr> "name" is forbidden: ` for a denied resource request:
// `User "U" cannot VERB resource "RES[/SUB]" in API group "G" in the
// namespace "NS"` (or `at the cluster scope`), plus `: RBAC: <errors>`.
std::string ForbiddenReason(const RequestAttributes& a, const AuthorizationDecision& d);

// The whole 403 message of a denied non-resource request:
// `forbidden: User "U" cannot get path "/p"` (plus `: RBAC: <errors>`).
std::string NonResourceForbiddenMessage(const RequestAttributes& a, const AuthorizationDecision& d);

// SelfSubjectRulesReview status: {resourceRules, nonResourceRules,
// incomplete, evaluationError?}.
Json RulesReview(const RbacPolicy& p, const UserInfo& u, const std::string& ns);

}  // namespace capstan::kube
