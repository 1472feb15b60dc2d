// Field validation of RBAC objects (Kubernetes'
// pkg/apis/rbac/validation/validation.go), run after defaulting. Each
// returns the 422 causes; empty means valid. Pure: no I/O.
#pragma once

#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// rbac/v1 defaulting (pkg/apis/rbac/v1/defaults.go): an empty roleRef
// apiGroup becomes rbac.authorization.k8s.io, and so does the apiGroup of
// User and Group subjects. Call before validating a binding.
void DefaultRbacBinding(Json* binding);

std::vector<FieldCause> ValidateRole(const Json& role);
std::vector<FieldCause> ValidateClusterRole(const Json& role);
// `old` is the stored object on update (nullptr on create); roleRef may
// not change.
std::vector<FieldCause> ValidateRoleBinding(const Json& obj, const Json* old);
std::vector<FieldCause> ValidateClusterRoleBinding(const Json& obj, const Json* old);

}  // namespace capstan::kube
