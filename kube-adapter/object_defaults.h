// Server-side defaulting of built-in objects (kube's SetDefaults_* functions
// of pkg/apis/{core,apps,batch}/v1*), applied on create and update before
// admission and validation, so stored objects look like kube-apiserver's.
#pragma once

#include <string>

#include "kube-adapter/json.h"

namespace capstan::kube {

// Fills unset fields of `obj` (group "" for core, "apps", "batch", ...).
// Kinds without defaults, and malformed objects, are left as they are;
// never fails. Covers Pod (including requests defaulted from limits),
// pod templates of Deployment/ReplicaSet/StatefulSet/DaemonSet/Job/CronJob/
// ReplicationController/PodTemplate, Service, Secret, PersistentVolumeClaim,
// Namespace and LimitRange.
void ApplyDefaults(const std::string& group, const std::string& kind, Json* obj);

// The pod's status.qosClass by Kubernetes' rules (pkg/apis/core/v1/helper/qos):
// "BestEffort" with no cpu/memory requests or limits, "Guaranteed" when
// every container limits cpu and memory and requests equal limits,
// "Burstable" otherwise. Call after ApplyDefaults (requests from limits).
std::string PodQosClass(const Json& pod);

}  // namespace capstan::kube
