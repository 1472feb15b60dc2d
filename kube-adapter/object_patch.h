// The three PATCH flavours of the Kubernetes API, applied to a JSON object in
// memory (no I/O). The REST layer reads the live object, applies one of these
// and writes the result back with a compare-and-swap.
#pragma once

#include <optional>
#include <string>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// application/merge-patch+json (RFC 7386): objects merge recursively, null
// deletes a key, everything else replaces. Like the apiserver, a patch that
// is not a JSON object is a 400 BadRequest. On error *target is unchanged.
std::optional<ApiError> ApplyMergePatch(Json* target, const Json& patch);

// application/json-patch+json (RFC 6902): add, remove, replace, move, copy,
// test. A patch that is not an array of operations is a 400 BadRequest; an
// operation that does not apply (missing path, failed test) is a 422 Invalid
// shaped as kube-apiserver 1.20 sends it: message "the server rejected our
// request due to an error in our request" and the json-patch library's error
// (e.g. "testing value /spec/replicas failed: test failed") as causes[0].
// On error *target is unchanged.
std::optional<ApiError> ApplyJsonPatch(Json* target, const Json& patch);

// application/strategic-merge-patch+json for built-in kinds (apimachinery's
// strategicpatch): a merge patch whose lists may merge by a key instead of
// being replaced. `kind` (e.g. "Pod", "Deployment", "Service") selects the
// merge keys, which are found by field name and position (a PodSpec is
// recognised at spec for Pods and at any template.spec), so Pods, workloads
// and CronJobs share one table. Supports {"$patch":"delete"|"replace"},
// $setElementOrder/<list>, $retainKeys and $deleteFromPrimitiveList/<list>;
// no directive survives into the result. Malformed directive values are a
// 400 BadRequest; an unknown $patch value or a list item without its merge
// key is a 500 with an empty reason, as the apiserver passes those through.
// On error *target is unchanged.
std::optional<ApiError> ApplyStrategicMergePatch(Json* target, const Json& patch,
                                                 const std::string& kind);

}  // namespace capstan::kube
