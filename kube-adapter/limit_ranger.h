// LimitRange defaulting, validation and admission (Kubernetes 1.20's
// plugin/pkg/admission/limitranger and pkg/apis/core validation/defaults).
// Pure functions over JSON objects: the server lists the namespace's
// LimitRanges and persists whatever these functions mutate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// Pod defaulting (SetDefaults_Pod): for every container and init container,
// each limit without a matching request becomes the request. The server runs
// it before admission; LimitRange outcomes depend on it. Valid limit/request
// quantities are also rewritten in canonical form (`cpu: 0.1` -> "100m"), as
// Kubernetes stores them.
void DefaultContainerRequestsFromLimits(Json* pod_spec);

// LimitRange object defaulting (SetDefaults_LimitRangeItem), on create/update:
// for type Container, default <- max, defaultRequest <- default, then <- min.
// Valid quantities of every item are rewritten in canonical form.
void DefaultLimitRange(Json* limit_range);

// 422 causes for a LimitRange (ValidateLimitRange); empty means valid.
// Deviation: Kubernetes prints a Quantity bad value as a Go struct dump; the
// causes here show the canonical quantity string instead.
std::vector<FieldCause> ValidateLimitRange(const Json& limit_range);

// Admission of a pod CREATE against every LimitRange of its namespace (Kubernetes
// skips pod updates and subresources; the caller decides when to call this).
// First mutates the pod with each LimitRange's Container defaults (and sets the
// kubernetes.io/limit-ranger annotation), then validates against each LimitRange
// in order. Returns the denial text that follows `pods "x" is forbidden: `
// (one LimitRange's errors aggregated: "e" or "[e1, e2]"), or nullopt.
std::optional<std::string> AdmitPodLimitRanges(const std::vector<Json>& limit_ranges, Json* pod);

// Admission of a PersistentVolumeClaim CREATE: min/max of type
// PersistentVolumeClaim against spec.resources.requests.
std::optional<std::string> AdmitPvcLimitRanges(const std::vector<Json>& limit_ranges,
                                               const Json& pvc);

}  // namespace capstan::kube
