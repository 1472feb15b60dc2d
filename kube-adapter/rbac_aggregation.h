// ClusterRole aggregation (Kubernetes'
// pkg/controller/clusterroleaggregation): a ClusterRole with an
// aggregationRule gets the rules of every other ClusterRole its label
// selectors match. Run synchronously after any ClusterRole write. Pure.
#pragma once

#include <vector>

#include "kube-adapter/json.h"

namespace capstan::kube {

// Whether a metav1.LabelSelector (matchLabels + matchExpressions with
// In/NotIn/Exists/DoesNotExist) matches `labels` (an object or null). An
// empty selector matches everything; a malformed one matches nothing.
bool LabelSelectorMatches(const Json& selector, const Json& labels);

// The ClusterRoles whose rules must change, as full objects carrying the
// new rules, in input order. Iterates to a fixpoint so chains
// (view -> edit -> admin) settle in one call. Per role: for each selector in
// order, the matching roles (itself excluded) by name, their rules
// appended unless already present.
std::vector<Json> AggregateClusterRoles(const std::vector<Json>& cluster_roles);

}  // namespace capstan::kube
