// CrdSchema: what kube-apiserver does with a custom resource against its
// CRD version's structural openAPIV3Schema: prune fields the schema does not
// declare (unless x-kubernetes-preserve-unknown-fields) and check types,
// required fields and enums, with Kubernetes' messages
// (`spec.replicas in body must be of type integer: "string"`).
#pragma once

#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// Prunes and validates `obj` (a whole custom resource; apiVersion, kind and
// metadata are left alone). Returns the 422 causes; empty when valid.
std::vector<FieldCause> ValidateAndPruneCustomResource(const Json& schema, Json* obj);

}  // namespace capstan::kube
