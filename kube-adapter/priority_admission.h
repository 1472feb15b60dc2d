// PriorityClass admission and validation (Kubernetes 1.20's
// plugin/pkg/admission/priority and pkg/apis/scheduling/validation). Pure
// functions: the server passes the cluster's PriorityClasses.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// Built-in classes the apiserver always has.
inline constexpr int32_t kSystemClusterCriticalPriority = 2000000000;
inline constexpr int32_t kSystemNodeCriticalPriority = 2000001000;
// The largest value a user-defined class may have.
inline constexpr int32_t kHighestUserDefinablePriority = 1000000000;

// Pod CREATE: resolves spec.priorityClassName (or the globalDefault class with the
// lowest value, or none -> priority 0) and sets spec.priority and
// spec.preemptionPolicy. The built-in system-cluster-critical and
// system-node-critical classes are known even if absent from `priority_classes`.
// Returns the denial text that follows `pods "x" is forbidden: `, e.g.
// "no PriorityClass with name gold was found", or nullopt.
// (On pod UPDATE Kubernetes only keeps the old priority; the server does that.)
std::optional<std::string> AdmitPodPriority(const std::vector<Json>& priority_classes, Json* pod);

// PriorityClass CREATE/UPDATE admission: only one globalDefault class may exist.
// `existing` are the stored classes (for an update, including the old version).
// Returns the text after `priorityclasses.scheduling.k8s.io "x" is forbidden: `.
std::optional<std::string> AdmitPriorityClass(const std::vector<Json>& existing, const Json& pc,
                                              bool is_update);

// 422 causes for a PriorityClass: "system-" names are reserved for the built-ins
// (with their exact value and globalDefault), user values must be at most
// 1000000000, preemptionPolicy must be PreemptLowerPriority or Never.
std::vector<FieldCause> ValidatePriorityClass(const Json& pc);

// 422 causes for an update (ValidatePriorityClassUpdate): value and
// preemptionPolicy are immutable. Kubernetes runs only these checks on update.
std::vector<FieldCause> ValidatePriorityClassUpdate(const Json& old_pc, const Json& new_pc);

}  // namespace capstan::kube
