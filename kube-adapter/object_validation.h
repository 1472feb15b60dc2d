// Validation of the generic parts of Kubernetes objects (apimachinery's
// ObjectMeta checks and core v1's container resource checks), returning
// field causes with Kubernetes' exact wording for a 422 Invalid. Pure: the
// REST layer decides which checks apply to which kind.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// metadata checks of a create (apimachinery ValidateObjectMeta): name (or
// generateName) required and valid under `name_rule` ("dns1123-subdomain",
// "dns1123-label" or "path-segment"); namespace required and a DNS-1123
// label when `namespaced`, forbidden otherwise; label keys and values;
// annotation keys and total annotation size (256 KiB).
std::vector<FieldCause> ValidateObjectMeta(const Json& obj, bool namespaced,
                                           const std::string& name_rule);

// Container resource checks of a PodSpec at `path` (e.g. "spec", or
// "spec.template.spec"): quantities non-negative, requests <= limits for
// overcommittable resources, requests == limits for extended resources.
// Checks containers and initContainers.
std::vector<FieldCause> ValidatePodSpecResources(const Json& pod_spec, const std::string& path);

// metadata checks of an update: name, namespace, uid and creationTimestamp
// are immutable. A uid/creationTimestamp absent from `new_obj` counts as
// unchanged, since the apiserver copies both from the stored object before
// validating (rest.BeforeUpdate).
std::vector<FieldCause> ValidateUpdateMeta(const Json& old_obj, const Json& new_obj);

// The spec checks of a pod update (core validation ValidatePodUpdate, 1.20):
// containers cannot be added or removed, and of the spec only container and
// init container images, activeDeadlineSeconds (set, or lowered) and
// additions to tolerations may change. So an update can never raise a pod's
// resources past what LimitRanger and ResourceQuota admitted at create.
// Compares JSON values (object key order ignored), after defaulting of both.
std::vector<FieldCause> ValidatePodSpecUpdate(const Json& old_pod, const Json& new_pod);

// The spec checks of a PersistentVolumeClaim update (core validation
// ValidatePersistentVolumeClaimUpdate, 1.20, volume expansion on): the spec
// is immutable except spec.volumeName once set from empty and, for a Bound
// claim, resources.requests.storage, which may not shrink.
std::vector<FieldCause> ValidatePvcSpecUpdate(const Json& old_pvc, const Json& new_pvc);

// The apimachinery validation primitives used above (and by label
// selectors); each returns the list of problems, empty when valid.
std::vector<std::string> IsDNS1123Subdomain(const std::string& value);
std::vector<std::string> IsDNS1123Label(const std::string& value);
std::vector<std::string> IsQualifiedName(const std::string& value);  // label/annotation keys
std::vector<std::string> IsValidLabelValue(const std::string& value);

}  // namespace capstan::kube
