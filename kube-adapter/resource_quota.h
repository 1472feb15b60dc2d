// ResourceQuota validation, usage evaluation and admission (Kubernetes 1.20's
// pkg/quota/v1/evaluator/core, pkg/quota/v1/generic and the resourcequota
// admission controller). Pure computation: the server lists objects, writes the
// admitted object together with every changed quota in one store transaction
// (compare on each quota's revision) and retries the whole admission on conflict,
// so usage stays exact (SPEC §0.5) instead of Kubernetes' eventually-fixed charge.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"
#include "kube-adapter/quantity.h"

namespace capstan::kube {

// 422 causes for a ResourceQuota (hard resource names and quantities, scopes and
// scopeSelector); empty means valid.
std::vector<FieldCause> ValidateResourceQuota(const Json& quota);

// Lists every object of group/resource ("" for core) in the quota's namespace.
using ObjectLister =
    std::function<std::vector<Json>(const std::string& group, const std::string& resource)>;

// Sets status.hard = spec.hard and status.used[k] for every hard k from the
// objects that exist now (0 when nothing counts). Used when a quota is created
// or its spec is updated (Kubernetes' quota controller, run synchronously).
void RecomputeQuotaStatus(Json* quota, const ObjectLister& list);

// Quota admission and accounting for one object write in one namespace:
// create (old_obj null), delete (new_obj null) or update (both set).
//
// For each quota, in order, that the object matches (resources and scopes):
// creates (and updates that newly enter a quota's scope) must satisfy the
// "must specify ..." constraints and the quota must have status; then usage
// increases are checked against status.hard ("exceeded quota: ..."). The first
// failure wins and nothing is modified; the returned text follows
// `<gr> "name" is forbidden: `.
//
// On success each affected quota's status.used is updated in place (deletes and
// shrinking updates give back, never below zero). `changed`, if not null, points
// to an array of quotas->size() flags: changed[i] is set to whether quota i was
// modified (only those need writing).
std::optional<std::string> ChargeQuotas(std::vector<Json>* quotas, const std::string& group,
                                        const std::string& resource, const Json* old_obj,
                                        const Json* new_obj, bool* changed);

// The quota usage of one object, as the evaluator for group/resource computes
// it (pods, services, persistentvolumeclaims, legacy counts, count/<r>[.<g>]),
// before masking by any quota's hard names. Exposed for the server and tests.
ResourceList ObjectQuotaUsage(const std::string& group, const std::string& resource,
                              const Json& obj);

}  // namespace capstan::kube
