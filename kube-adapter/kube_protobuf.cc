// Kubernetes protobuf → JSON decoding. See kube_protobuf.h.
#include "kube-adapter/kube_protobuf.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace capstan::kube {
namespace {

// ---------------------------------------------------------------------------
// Schema.

enum class T {
  kString,
  kBytes,  // base64 in JSON
  kInt32,
  kInt64,
  kBool,
  kDouble,
  kMessage,      // FieldSpec::message names the type
  kTime,         // metav1.Time {1 seconds, 2 nanos} → RFC3339 / null
  kQuantity,     // resource.Quantity {1 string} → string
  kIntOrString,  // intstr.IntOrString {1 type, 2 intVal, 3 strVal}
  kMapString,    // map<string,string>: repeated {1 key, 2 value}
  kMapBytes,     // map<string,bytes> (values base64)
  kMapQuantity,  // map<string,Quantity> (ResourceList)
  kUnsupported,  // a real field the decoder does not cover: an error if set
};

constexpr uint8_t kRepeated = 1;
// Emitted even when zero/empty: Go pointer fields (on the wire only when
// non-nil) and fields without `omitempty`. Other scalars are omitted when
// zero, as gogo-protobuf always writes non-pointer fields.
constexpr uint8_t kKeep = 2;
// A Go embedded struct (`json:",inline"`): its fields go into the parent.
constexpr uint8_t kInline = 4;

struct FieldSpec {
  int number;
  const char* json;
  T type;
  const char* message;
  uint8_t flags;
};

struct MessageSpec {
  const char* name;
  std::vector<FieldSpec> fields;  // in Go struct (JSON) order
};

// Generated from the FileDescriptorProtos of the k8s.io/api and
// k8s.io/apimachinery generated.proto files compiled into kubectl 1.32;
// message names are "<group>.<version>.<Message>" ("meta.v1.ObjectMeta").
// Messages not listed are not decoded: "*Status" ones decode to {}, other
// fields referring to them are kUnsupported.
const std::vector<MessageSpec>& Schema() {
  static const std::vector<MessageSpec> schema = {
      {"meta.v1.ObjectMeta",
       {{1, "name", T::kString, nullptr, 0},
        {2, "generateName", T::kString, nullptr, 0},
        {3, "namespace", T::kString, nullptr, 0},
        {4, "selfLink", T::kString, nullptr, 0},
        {5, "uid", T::kString, nullptr, 0},
        {6, "resourceVersion", T::kString, nullptr, 0},
        {7, "generation", T::kInt64, nullptr, 0},
        {8, "creationTimestamp", T::kTime, nullptr, 0},
        {9, "deletionTimestamp", T::kTime, nullptr, 0},
        {10, "deletionGracePeriodSeconds", T::kInt64, nullptr, kKeep},
        {11, "labels", T::kMapString, nullptr, 0},
        {12, "annotations", T::kMapString, nullptr, 0},
        {13, "ownerReferences", T::kMessage, "meta.v1.OwnerReference", kRepeated},
        {14, "finalizers", T::kString, nullptr, kRepeated}}},
      {"meta.v1.LabelSelector",
       {{1, "matchLabels", T::kMapString, nullptr, 0},
        {2, "matchExpressions", T::kMessage, "meta.v1.LabelSelectorRequirement", kRepeated}}},
      {"meta.v1.LabelSelectorRequirement",
       {{1, "key", T::kString, nullptr, 0},
        {2, "operator", T::kString, nullptr, 0},
        {3, "values", T::kString, nullptr, kRepeated}}},
      {"meta.v1.OwnerReference",
       {{5, "apiVersion", T::kString, nullptr, 0},
        {1, "kind", T::kString, nullptr, 0},
        {3, "name", T::kString, nullptr, 0},
        {4, "uid", T::kString, nullptr, 0},
        {6, "controller", T::kBool, nullptr, kKeep},
        {7, "blockOwnerDeletion", T::kBool, nullptr, kKeep}}},
      {"core.v1.Namespace",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "core.v1.NamespaceSpec", 0},
        {3, "status", T::kMessage, "core.v1.NamespaceStatus", 0}}},
      {"core.v1.NamespaceSpec", {{1, "finalizers", T::kString, nullptr, kRepeated}}},
      {"core.v1.Secret",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {5, "immutable", T::kBool, nullptr, kKeep},
        {2, "data", T::kMapBytes, nullptr, 0},
        {4, "stringData", T::kMapString, nullptr, 0},
        {3, "type", T::kString, nullptr, 0}}},
      {"core.v1.ConfigMap",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {4, "immutable", T::kBool, nullptr, kKeep},
        {2, "data", T::kMapString, nullptr, 0},
        {3, "binaryData", T::kMapBytes, nullptr, 0}}},
      {"core.v1.ServiceAccount",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "secrets", T::kMessage, "core.v1.ObjectReference", kRepeated},
        {3, "imagePullSecrets", T::kMessage, "core.v1.LocalObjectReference", kRepeated},
        {4, "automountServiceAccountToken", T::kBool, nullptr, kKeep}}},
      {"core.v1.ObjectReference",
       {{1, "kind", T::kString, nullptr, 0},
        {2, "namespace", T::kString, nullptr, 0},
        {3, "name", T::kString, nullptr, 0},
        {4, "uid", T::kString, nullptr, 0},
        {5, "apiVersion", T::kString, nullptr, 0},
        {6, "resourceVersion", T::kString, nullptr, 0},
        {7, "fieldPath", T::kString, nullptr, 0}}},
      {"core.v1.LocalObjectReference", {{1, "name", T::kString, nullptr, 0}}},
      {"core.v1.TypedLocalObjectReference",
       {{1, "apiGroup", T::kString, nullptr, 0},
        {2, "kind", T::kString, nullptr, 0},
        {3, "name", T::kString, nullptr, 0}}},
      {"core.v1.Service",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "core.v1.ServiceSpec", 0},
        {3, "status", T::kMessage, "core.v1.ServiceStatus", 0}}},
      {"core.v1.ServiceSpec",
       {{1, "ports", T::kMessage, "core.v1.ServicePort", kRepeated},
        {2, "selector", T::kMapString, nullptr, 0},
        {3, "clusterIP", T::kString, nullptr, 0},
        {18, "clusterIPs", T::kString, nullptr, kRepeated},
        {4, "type", T::kString, nullptr, 0},
        {5, "externalIPs", T::kString, nullptr, kRepeated},
        {7, "sessionAffinity", T::kString, nullptr, 0},
        {8, "loadBalancerIP", T::kString, nullptr, 0},
        {9, "loadBalancerSourceRanges", T::kString, nullptr, kRepeated},
        {10, "externalName", T::kString, nullptr, 0},
        {11, "externalTrafficPolicy", T::kString, nullptr, 0},
        {12, "healthCheckNodePort", T::kInt32, nullptr, 0},
        {13, "publishNotReadyAddresses", T::kBool, nullptr, 0},
        {14, "sessionAffinityConfig", T::kMessage, "core.v1.SessionAffinityConfig", 0},
        {19, "ipFamilies", T::kString, nullptr, kRepeated},
        {17, "ipFamilyPolicy", T::kString, nullptr, kKeep},
        {20, "allocateLoadBalancerNodePorts", T::kBool, nullptr, kKeep},
        {21, "loadBalancerClass", T::kString, nullptr, kKeep},
        {22, "internalTrafficPolicy", T::kString, nullptr, kKeep},
        {23, "trafficDistribution", T::kString, nullptr, kKeep}}},
      {"core.v1.ServicePort",
       {{1, "name", T::kString, nullptr, 0},
        {2, "protocol", T::kString, nullptr, 0},
        {6, "appProtocol", T::kString, nullptr, 0},
        {3, "port", T::kInt32, nullptr, kKeep},
        {4, "targetPort", T::kIntOrString, nullptr, 0},
        {5, "nodePort", T::kInt32, nullptr, 0}}},
      {"core.v1.SessionAffinityConfig",
       {{1, "clientIP", T::kMessage, "core.v1.ClientIPConfig", 0}}},
      {"core.v1.ClientIPConfig", {{1, "timeoutSeconds", T::kInt32, nullptr, kKeep}}},
      {"core.v1.ResourceQuota",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "core.v1.ResourceQuotaSpec", 0},
        {3, "status", T::kMessage, "core.v1.ResourceQuotaStatus", 0}}},
      {"core.v1.ResourceQuotaSpec",
       {{1, "hard", T::kMapQuantity, nullptr, 0},
        {2, "scopes", T::kString, nullptr, kRepeated},
        {3, "scopeSelector", T::kMessage, "core.v1.ScopeSelector", 0}}},
      {"core.v1.ScopeSelector",
       {{1, "matchExpressions", T::kMessage, "core.v1.ScopedResourceSelectorRequirement",
         kRepeated}}},
      {"core.v1.ScopedResourceSelectorRequirement",
       {{1, "scopeName", T::kString, nullptr, 0},
        {2, "operator", T::kString, nullptr, 0},
        {3, "values", T::kString, nullptr, kRepeated}}},
      {"core.v1.Pod",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "core.v1.PodSpec", 0},
        {3, "status", T::kMessage, "core.v1.PodStatus", 0}}},
      {"core.v1.PodSpec",
       {{1, "volumes", T::kMessage, "core.v1.Volume", kRepeated},
        {20, "initContainers", T::kMessage, "core.v1.Container", kRepeated},
        {2, "containers", T::kMessage, "core.v1.Container", kRepeated},
        {34, "ephemeralContainers", T::kUnsupported, nullptr, 0},
        {3, "restartPolicy", T::kString, nullptr, 0},
        {4, "terminationGracePeriodSeconds", T::kInt64, nullptr, kKeep},
        {5, "activeDeadlineSeconds", T::kInt64, nullptr, kKeep},
        {6, "dnsPolicy", T::kString, nullptr, 0},
        {7, "nodeSelector", T::kMapString, nullptr, 0},
        {8, "serviceAccountName", T::kString, nullptr, 0},
        {9, "serviceAccount", T::kString, nullptr, 0},
        {21, "automountServiceAccountToken", T::kBool, nullptr, kKeep},
        {10, "nodeName", T::kString, nullptr, 0},
        {11, "hostNetwork", T::kBool, nullptr, 0},
        {12, "hostPID", T::kBool, nullptr, 0},
        {13, "hostIPC", T::kBool, nullptr, 0},
        {27, "shareProcessNamespace", T::kBool, nullptr, kKeep},
        {14, "securityContext", T::kUnsupported, nullptr, 0},
        {15, "imagePullSecrets", T::kMessage, "core.v1.LocalObjectReference", kRepeated},
        {16, "hostname", T::kString, nullptr, 0},
        {17, "subdomain", T::kString, nullptr, 0},
        {18, "affinity", T::kUnsupported, nullptr, 0},
        {19, "schedulerName", T::kString, nullptr, 0},
        {22, "tolerations", T::kMessage, "core.v1.Toleration", kRepeated},
        {23, "hostAliases", T::kUnsupported, nullptr, 0},
        {24, "priorityClassName", T::kString, nullptr, 0},
        {25, "priority", T::kInt32, nullptr, kKeep},
        {26, "dnsConfig", T::kUnsupported, nullptr, 0},
        {28, "readinessGates", T::kUnsupported, nullptr, 0},
        {29, "runtimeClassName", T::kString, nullptr, kKeep},
        {30, "enableServiceLinks", T::kBool, nullptr, kKeep},
        {31, "preemptionPolicy", T::kString, nullptr, kKeep},
        {32, "overhead", T::kMapQuantity, nullptr, 0},
        {33, "topologySpreadConstraints", T::kUnsupported, nullptr, 0},
        {35, "setHostnameAsFQDN", T::kBool, nullptr, kKeep},
        {36, "os", T::kUnsupported, nullptr, 0},
        {37, "hostUsers", T::kBool, nullptr, kKeep},
        {38, "schedulingGates", T::kUnsupported, nullptr, 0},
        {39, "resourceClaims", T::kUnsupported, nullptr, 0},
        {40, "resources", T::kMessage, "core.v1.ResourceRequirements", 0}}},
      {"core.v1.PodTemplateSpec",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "core.v1.PodSpec", 0}}},
      {"core.v1.Container",
       {{1, "name", T::kString, nullptr, 0},
        {2, "image", T::kString, nullptr, 0},
        {3, "command", T::kString, nullptr, kRepeated},
        {4, "args", T::kString, nullptr, kRepeated},
        {5, "workingDir", T::kString, nullptr, 0},
        {6, "ports", T::kMessage, "core.v1.ContainerPort", kRepeated},
        {19, "envFrom", T::kMessage, "core.v1.EnvFromSource", kRepeated},
        {7, "env", T::kMessage, "core.v1.EnvVar", kRepeated},
        {8, "resources", T::kMessage, "core.v1.ResourceRequirements", 0},
        {23, "resizePolicy", T::kUnsupported, nullptr, 0},
        {24, "restartPolicy", T::kString, nullptr, kKeep},
        {9, "volumeMounts", T::kMessage, "core.v1.VolumeMount", kRepeated},
        {21, "volumeDevices", T::kUnsupported, nullptr, 0},
        {10, "livenessProbe", T::kMessage, "core.v1.Probe", 0},
        {11, "readinessProbe", T::kMessage, "core.v1.Probe", 0},
        {22, "startupProbe", T::kMessage, "core.v1.Probe", 0},
        {12, "lifecycle", T::kUnsupported, nullptr, 0},
        {13, "terminationMessagePath", T::kString, nullptr, 0},
        {20, "terminationMessagePolicy", T::kString, nullptr, 0},
        {14, "imagePullPolicy", T::kString, nullptr, 0},
        {15, "securityContext", T::kUnsupported, nullptr, 0},
        {16, "stdin", T::kBool, nullptr, 0},
        {17, "stdinOnce", T::kBool, nullptr, 0},
        {18, "tty", T::kBool, nullptr, 0}}},
      {"core.v1.ContainerPort",
       {{1, "name", T::kString, nullptr, 0},
        {2, "hostPort", T::kInt32, nullptr, 0},
        {3, "containerPort", T::kInt32, nullptr, kKeep},
        {4, "protocol", T::kString, nullptr, 0},
        {5, "hostIP", T::kString, nullptr, 0}}},
      {"core.v1.EnvVar",
       {{1, "name", T::kString, nullptr, 0},
        {2, "value", T::kString, nullptr, 0},
        {3, "valueFrom", T::kMessage, "core.v1.EnvVarSource", 0}}},
      {"core.v1.EnvVarSource",
       {{1, "fieldRef", T::kMessage, "core.v1.ObjectFieldSelector", 0},
        {2, "resourceFieldRef", T::kMessage, "core.v1.ResourceFieldSelector", 0},
        {3, "configMapKeyRef", T::kMessage, "core.v1.ConfigMapKeySelector", 0},
        {4, "secretKeyRef", T::kMessage, "core.v1.SecretKeySelector", 0}}},
      {"core.v1.ConfigMapKeySelector",
       {{1, "localObjectReference", T::kMessage, "core.v1.LocalObjectReference", 0},
        {2, "key", T::kString, nullptr, 0},
        {3, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.SecretKeySelector",
       {{1, "localObjectReference", T::kMessage, "core.v1.LocalObjectReference", 0},
        {2, "key", T::kString, nullptr, 0},
        {3, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.ObjectFieldSelector",
       {{1, "apiVersion", T::kString, nullptr, 0}, {2, "fieldPath", T::kString, nullptr, 0}}},
      {"core.v1.ResourceFieldSelector",
       {{1, "containerName", T::kString, nullptr, 0},
        {2, "resource", T::kString, nullptr, 0},
        {3, "divisor", T::kQuantity, nullptr, 0}}},
      {"core.v1.EnvFromSource",
       {{1, "prefix", T::kString, nullptr, 0},
        {2, "configMapRef", T::kMessage, "core.v1.ConfigMapEnvSource", 0},
        {3, "secretRef", T::kMessage, "core.v1.SecretEnvSource", 0}}},
      {"core.v1.ConfigMapEnvSource",
       {{1, "localObjectReference", T::kMessage, "core.v1.LocalObjectReference", 0},
        {2, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.SecretEnvSource",
       {{1, "localObjectReference", T::kMessage, "core.v1.LocalObjectReference", 0},
        {2, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.ResourceRequirements",
       {{1, "limits", T::kMapQuantity, nullptr, 0},
        {2, "requests", T::kMapQuantity, nullptr, 0},
        {3, "claims", T::kMessage, "core.v1.ResourceClaim", kRepeated}}},
      {"core.v1.ResourceClaim",
       {{1, "name", T::kString, nullptr, 0}, {2, "request", T::kString, nullptr, 0}}},
      {"core.v1.VolumeMount",
       {{1, "name", T::kString, nullptr, 0},
        {2, "readOnly", T::kBool, nullptr, 0},
        {7, "recursiveReadOnly", T::kString, nullptr, kKeep},
        {3, "mountPath", T::kString, nullptr, 0},
        {4, "subPath", T::kString, nullptr, 0},
        {5, "mountPropagation", T::kString, nullptr, kKeep},
        {6, "subPathExpr", T::kString, nullptr, 0}}},
      {"core.v1.Volume",
       {{1, "name", T::kString, nullptr, 0},
        {2, "volumeSource", T::kMessage, "core.v1.VolumeSource", kInline}}},
      {"core.v1.VolumeSource",
       {{1, "hostPath", T::kMessage, "core.v1.HostPathVolumeSource", 0},
        {2, "emptyDir", T::kMessage, "core.v1.EmptyDirVolumeSource", 0},
        {3, "gcePersistentDisk", T::kUnsupported, nullptr, 0},
        {4, "awsElasticBlockStore", T::kUnsupported, nullptr, 0},
        {5, "gitRepo", T::kUnsupported, nullptr, 0},
        {6, "secret", T::kMessage, "core.v1.SecretVolumeSource", 0},
        {7, "nfs", T::kUnsupported, nullptr, 0},
        {8, "iscsi", T::kUnsupported, nullptr, 0},
        {9, "glusterfs", T::kUnsupported, nullptr, 0},
        {10, "persistentVolumeClaim", T::kMessage, "core.v1.PersistentVolumeClaimVolumeSource", 0},
        {11, "rbd", T::kUnsupported, nullptr, 0},
        {12, "flexVolume", T::kUnsupported, nullptr, 0},
        {13, "cinder", T::kUnsupported, nullptr, 0},
        {14, "cephfs", T::kUnsupported, nullptr, 0},
        {15, "flocker", T::kUnsupported, nullptr, 0},
        {16, "downwardAPI", T::kUnsupported, nullptr, 0},
        {17, "fc", T::kUnsupported, nullptr, 0},
        {18, "azureFile", T::kUnsupported, nullptr, 0},
        {19, "configMap", T::kMessage, "core.v1.ConfigMapVolumeSource", 0},
        {20, "vsphereVolume", T::kUnsupported, nullptr, 0},
        {21, "quobyte", T::kUnsupported, nullptr, 0},
        {22, "azureDisk", T::kUnsupported, nullptr, 0},
        {23, "photonPersistentDisk", T::kUnsupported, nullptr, 0},
        {26, "projected", T::kUnsupported, nullptr, 0},
        {24, "portworxVolume", T::kUnsupported, nullptr, 0},
        {25, "scaleIO", T::kUnsupported, nullptr, 0},
        {27, "storageos", T::kUnsupported, nullptr, 0},
        {28, "csi", T::kUnsupported, nullptr, 0},
        {29, "ephemeral", T::kUnsupported, nullptr, 0},
        {30, "image", T::kUnsupported, nullptr, 0}}},
      {"core.v1.EmptyDirVolumeSource",
       {{1, "medium", T::kString, nullptr, 0}, {2, "sizeLimit", T::kQuantity, nullptr, 0}}},
      {"core.v1.ConfigMapVolumeSource",
       {{1, "localObjectReference", T::kMessage, "core.v1.LocalObjectReference", 0},
        {2, "items", T::kMessage, "core.v1.KeyToPath", kRepeated},
        {3, "defaultMode", T::kInt32, nullptr, kKeep},
        {4, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.SecretVolumeSource",
       {{1, "secretName", T::kString, nullptr, 0},
        {2, "items", T::kMessage, "core.v1.KeyToPath", kRepeated},
        {3, "defaultMode", T::kInt32, nullptr, kKeep},
        {4, "optional", T::kBool, nullptr, kKeep}}},
      {"core.v1.KeyToPath",
       {{1, "key", T::kString, nullptr, 0},
        {2, "path", T::kString, nullptr, 0},
        {3, "mode", T::kInt32, nullptr, kKeep}}},
      {"core.v1.HostPathVolumeSource",
       {{1, "path", T::kString, nullptr, 0}, {2, "type", T::kString, nullptr, kKeep}}},
      {"core.v1.PersistentVolumeClaimVolumeSource",
       {{1, "claimName", T::kString, nullptr, 0}, {2, "readOnly", T::kBool, nullptr, 0}}},
      {"core.v1.Probe",
       {{1, "handler", T::kMessage, "core.v1.ProbeHandler", kInline},
        {2, "initialDelaySeconds", T::kInt32, nullptr, 0},
        {3, "timeoutSeconds", T::kInt32, nullptr, 0},
        {4, "periodSeconds", T::kInt32, nullptr, 0},
        {5, "successThreshold", T::kInt32, nullptr, 0},
        {6, "failureThreshold", T::kInt32, nullptr, 0},
        {7, "terminationGracePeriodSeconds", T::kInt64, nullptr, kKeep}}},
      {"core.v1.ProbeHandler",
       {{1, "exec", T::kMessage, "core.v1.ExecAction", 0},
        {2, "httpGet", T::kMessage, "core.v1.HTTPGetAction", 0},
        {3, "tcpSocket", T::kMessage, "core.v1.TCPSocketAction", 0},
        {4, "grpc", T::kUnsupported, nullptr, 0}}},
      {"core.v1.ExecAction", {{1, "command", T::kString, nullptr, kRepeated}}},
      {"core.v1.HTTPGetAction",
       {{1, "path", T::kString, nullptr, 0},
        {2, "port", T::kIntOrString, nullptr, 0},
        {3, "host", T::kString, nullptr, 0},
        {4, "scheme", T::kString, nullptr, 0},
        {5, "httpHeaders", T::kMessage, "core.v1.HTTPHeader", kRepeated}}},
      {"core.v1.HTTPHeader",
       {{1, "name", T::kString, nullptr, 0}, {2, "value", T::kString, nullptr, 0}}},
      {"core.v1.TCPSocketAction",
       {{1, "port", T::kIntOrString, nullptr, 0}, {2, "host", T::kString, nullptr, 0}}},
      {"core.v1.Toleration",
       {{1, "key", T::kString, nullptr, 0},
        {2, "operator", T::kString, nullptr, 0},
        {3, "value", T::kString, nullptr, 0},
        {4, "effect", T::kString, nullptr, 0},
        {5, "tolerationSeconds", T::kInt64, nullptr, kKeep}}},
      {"apps.v1.Deployment",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "apps.v1.DeploymentSpec", 0},
        {3, "status", T::kMessage, "apps.v1.DeploymentStatus", 0}}},
      {"apps.v1.DeploymentSpec",
       {{1, "replicas", T::kInt32, nullptr, kKeep},
        {2, "selector", T::kMessage, "meta.v1.LabelSelector", 0},
        {3, "template", T::kMessage, "core.v1.PodTemplateSpec", 0},
        {4, "strategy", T::kMessage, "apps.v1.DeploymentStrategy", 0},
        {5, "minReadySeconds", T::kInt32, nullptr, 0},
        {6, "revisionHistoryLimit", T::kInt32, nullptr, kKeep},
        {7, "paused", T::kBool, nullptr, 0},
        {9, "progressDeadlineSeconds", T::kInt32, nullptr, kKeep}}},
      {"apps.v1.DeploymentStrategy",
       {{1, "type", T::kString, nullptr, 0},
        {2, "rollingUpdate", T::kMessage, "apps.v1.RollingUpdateDeployment", 0}}},
      {"apps.v1.RollingUpdateDeployment",
       {{1, "maxUnavailable", T::kIntOrString, nullptr, 0},
        {2, "maxSurge", T::kIntOrString, nullptr, 0}}},
      {"batch.v1.Job",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "batch.v1.JobSpec", 0},
        {3, "status", T::kMessage, "batch.v1.JobStatus", 0}}},
      {"batch.v1.JobSpec",
       {{1, "parallelism", T::kInt32, nullptr, kKeep},
        {2, "completions", T::kInt32, nullptr, kKeep},
        {3, "activeDeadlineSeconds", T::kInt64, nullptr, kKeep},
        {11, "podFailurePolicy", T::kUnsupported, nullptr, 0},
        {16, "successPolicy", T::kUnsupported, nullptr, 0},
        {7, "backoffLimit", T::kInt32, nullptr, kKeep},
        {12, "backoffLimitPerIndex", T::kInt32, nullptr, kKeep},
        {13, "maxFailedIndexes", T::kInt32, nullptr, kKeep},
        {4, "selector", T::kMessage, "meta.v1.LabelSelector", 0},
        {5, "manualSelector", T::kBool, nullptr, kKeep},
        {6, "template", T::kMessage, "core.v1.PodTemplateSpec", 0},
        {8, "ttlSecondsAfterFinished", T::kInt32, nullptr, kKeep},
        {9, "completionMode", T::kString, nullptr, kKeep},
        {10, "suspend", T::kBool, nullptr, kKeep},
        {14, "podReplacementPolicy", T::kString, nullptr, kKeep},
        {15, "managedBy", T::kString, nullptr, kKeep}}},
      {"batch.v1.JobTemplateSpec",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "batch.v1.JobSpec", 0}}},
      {"batch.v1.CronJob",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "batch.v1.CronJobSpec", 0},
        {3, "status", T::kMessage, "batch.v1.CronJobStatus", 0}}},
      {"batch.v1.CronJobSpec",
       {{1, "schedule", T::kString, nullptr, 0},
        {8, "timeZone", T::kString, nullptr, kKeep},
        {2, "startingDeadlineSeconds", T::kInt64, nullptr, kKeep},
        {3, "concurrencyPolicy", T::kString, nullptr, 0},
        {4, "suspend", T::kBool, nullptr, kKeep},
        {5, "jobTemplate", T::kMessage, "batch.v1.JobTemplateSpec", 0},
        {6, "successfulJobsHistoryLimit", T::kInt32, nullptr, kKeep},
        {7, "failedJobsHistoryLimit", T::kInt32, nullptr, kKeep}}},
      {"batch.v1beta1.CronJob",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "batch.v1beta1.CronJobSpec", 0},
        {3, "status", T::kMessage, "batch.v1beta1.CronJobStatus", 0}}},
      {"batch.v1beta1.CronJobSpec",
       {{1, "schedule", T::kString, nullptr, 0},
        {8, "timeZone", T::kString, nullptr, kKeep},
        {2, "startingDeadlineSeconds", T::kInt64, nullptr, kKeep},
        {3, "concurrencyPolicy", T::kString, nullptr, 0},
        {4, "suspend", T::kBool, nullptr, kKeep},
        {5, "jobTemplate", T::kMessage, "batch.v1beta1.JobTemplateSpec", 0},
        {6, "successfulJobsHistoryLimit", T::kInt32, nullptr, kKeep},
        {7, "failedJobsHistoryLimit", T::kInt32, nullptr, kKeep}}},
      {"batch.v1beta1.JobTemplateSpec",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "batch.v1.JobSpec", 0}}},
      {"rbac.v1.Role",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "rules", T::kMessage, "rbac.v1.PolicyRule", kRepeated}}},
      {"rbac.v1.ClusterRole",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "rules", T::kMessage, "rbac.v1.PolicyRule", kRepeated},
        {3, "aggregationRule", T::kMessage, "rbac.v1.AggregationRule", 0}}},
      {"rbac.v1.AggregationRule",
       {{1, "clusterRoleSelectors", T::kMessage, "meta.v1.LabelSelector", kRepeated}}},
      {"rbac.v1.PolicyRule",
       {{1, "verbs", T::kString, nullptr, kRepeated},
        {2, "apiGroups", T::kString, nullptr, kRepeated},
        {3, "resources", T::kString, nullptr, kRepeated},
        {4, "resourceNames", T::kString, nullptr, kRepeated},
        {5, "nonResourceURLs", T::kString, nullptr, kRepeated}}},
      {"rbac.v1.RoleBinding",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "subjects", T::kMessage, "rbac.v1.Subject", kRepeated},
        {3, "roleRef", T::kMessage, "rbac.v1.RoleRef", 0}}},
      {"rbac.v1.ClusterRoleBinding",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "subjects", T::kMessage, "rbac.v1.Subject", kRepeated},
        {3, "roleRef", T::kMessage, "rbac.v1.RoleRef", 0}}},
      {"rbac.v1.Subject",
       {{1, "kind", T::kString, nullptr, kKeep},
        {2, "apiGroup", T::kString, nullptr, 0},
        {3, "name", T::kString, nullptr, kKeep},
        {4, "namespace", T::kString, nullptr, 0}}},
      {"rbac.v1.RoleRef",
       {{1, "apiGroup", T::kString, nullptr, kKeep},
        {2, "kind", T::kString, nullptr, kKeep},
        {3, "name", T::kString, nullptr, kKeep}}},
      {"scheduling.v1.PriorityClass",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "value", T::kInt32, nullptr, kKeep},
        {3, "globalDefault", T::kBool, nullptr, 0},
        {4, "description", T::kString, nullptr, 0},
        {5, "preemptionPolicy", T::kString, nullptr, kKeep}}},
      {"policy.v1.PodDisruptionBudget",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "policy.v1.PodDisruptionBudgetSpec", 0},
        {3, "status", T::kMessage, "policy.v1.PodDisruptionBudgetStatus", 0}}},
      {"policy.v1.PodDisruptionBudgetSpec",
       {{1, "minAvailable", T::kIntOrString, nullptr, 0},
        {2, "selector", T::kMessage, "meta.v1.LabelSelector", 0},
        {3, "maxUnavailable", T::kIntOrString, nullptr, 0},
        {4, "unhealthyPodEvictionPolicy", T::kString, nullptr, kKeep}}},
      {"networking.v1.Ingress",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "networking.v1.IngressSpec", 0},
        {3, "status", T::kMessage, "networking.v1.IngressStatus", 0}}},
      {"networking.v1.IngressSpec",
       {{4, "ingressClassName", T::kString, nullptr, kKeep},
        {1, "defaultBackend", T::kMessage, "networking.v1.IngressBackend", 0},
        {2, "tls", T::kMessage, "networking.v1.IngressTLS", kRepeated},
        {3, "rules", T::kMessage, "networking.v1.IngressRule", kRepeated}}},
      {"networking.v1.IngressBackend",
       {{4, "service", T::kMessage, "networking.v1.IngressServiceBackend", 0},
        {3, "resource", T::kMessage, "core.v1.TypedLocalObjectReference", 0}}},
      {"networking.v1.IngressServiceBackend",
       {{1, "name", T::kString, nullptr, 0},
        {2, "port", T::kMessage, "networking.v1.ServiceBackendPort", 0}}},
      {"networking.v1.ServiceBackendPort",
       {{1, "name", T::kString, nullptr, 0}, {2, "number", T::kInt32, nullptr, 0}}},
      {"networking.v1.IngressRule",
       {{1, "host", T::kString, nullptr, 0},
        {2, "ingressRuleValue", T::kMessage, "networking.v1.IngressRuleValue", kInline}}},
      {"networking.v1.IngressRuleValue",
       {{1, "http", T::kMessage, "networking.v1.HTTPIngressRuleValue", 0}}},
      {"networking.v1.HTTPIngressRuleValue",
       {{1, "paths", T::kMessage, "networking.v1.HTTPIngressPath", kRepeated}}},
      {"networking.v1.HTTPIngressPath",
       {{1, "path", T::kString, nullptr, 0},
        {3, "pathType", T::kString, nullptr, kKeep},
        {2, "backend", T::kMessage, "networking.v1.IngressBackend", 0}}},
      {"networking.v1.IngressTLS",
       {{1, "hosts", T::kString, nullptr, kRepeated}, {2, "secretName", T::kString, nullptr, 0}}},
      {"authentication.v1.TokenRequest",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "authentication.v1.TokenRequestSpec", 0},
        {3, "status", T::kMessage, "authentication.v1.TokenRequestStatus", 0}}},
      {"authentication.v1.TokenRequestSpec",
       {{1, "audiences", T::kString, nullptr, kRepeated},
        {4, "expirationSeconds", T::kInt64, nullptr, kKeep},
        {3, "boundObjectRef", T::kMessage, "authentication.v1.BoundObjectReference", 0}}},
      {"authentication.v1.BoundObjectReference",
       {{1, "kind", T::kString, nullptr, 0},
        {2, "apiVersion", T::kString, nullptr, 0},
        {3, "name", T::kString, nullptr, 0},
        {4, "uID", T::kString, nullptr, 0}}},
      {"authentication.v1.SelfSubjectReview",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "status", T::kMessage, "authentication.v1.SelfSubjectReviewStatus", 0}}},
      {"authorization.v1.SelfSubjectAccessReview",
       {{1, "metadata", T::kMessage, "meta.v1.ObjectMeta", 0},
        {2, "spec", T::kMessage, "authorization.v1.SelfSubjectAccessReviewSpec", 0},
        {3, "status", T::kMessage, "authorization.v1.SubjectAccessReviewStatus", 0}}},
      {"authorization.v1.SelfSubjectAccessReviewSpec",
       {{1, "resourceAttributes", T::kMessage, "authorization.v1.ResourceAttributes", 0},
        {2, "nonResourceAttributes", T::kMessage, "authorization.v1.NonResourceAttributes", 0}}},
      {"authorization.v1.ResourceAttributes",
       {{1, "namespace", T::kString, nullptr, 0},
        {2, "verb", T::kString, nullptr, 0},
        {3, "group", T::kString, nullptr, 0},
        {4, "version", T::kString, nullptr, 0},
        {5, "resource", T::kString, nullptr, 0},
        {6, "subresource", T::kString, nullptr, 0},
        {7, "name", T::kString, nullptr, 0},
        {8, "fieldSelector", T::kUnsupported, nullptr, 0},
        {9, "labelSelector", T::kUnsupported, nullptr, 0}}},
      {"authorization.v1.NonResourceAttributes",
       {{1, "path", T::kString, nullptr, 0}, {2, "verb", T::kString, nullptr, 0}}},
      {"apps.v1.DeploymentStatus", {}},
      {"authentication.v1.SelfSubjectReviewStatus", {}},
      {"authentication.v1.TokenRequestStatus", {}},
      {"authorization.v1.SubjectAccessReviewStatus", {}},
      {"batch.v1.CronJobStatus", {}},
      {"batch.v1.JobStatus", {}},
      {"batch.v1beta1.CronJobStatus", {}},
      {"core.v1.NamespaceStatus", {}},
      {"core.v1.PodStatus", {}},
      {"core.v1.ResourceQuotaStatus", {}},
      {"core.v1.ServiceStatus", {}},
      {"networking.v1.IngressStatus", {}},
      {"policy.v1.PodDisruptionBudgetStatus", {}},
  };
  return schema;
}

const MessageSpec* FindMessage(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const MessageSpec*>();
    for (const MessageSpec& spec : Schema()) (*m)[spec.name] = &spec;
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

// (apiVersion, kind) → top-level message.
const char* TopLevelMessage(const std::string& api_version, const std::string& kind) {
  struct Entry {
    const char* api_version;
    const char* kind;
    const char* message;
  };
  static const Entry kEntries[] = {
      {"v1", "Namespace", "core.v1.Namespace"},
      {"v1", "Secret", "core.v1.Secret"},
      {"v1", "ConfigMap", "core.v1.ConfigMap"},
      {"v1", "ServiceAccount", "core.v1.ServiceAccount"},
      {"v1", "Service", "core.v1.Service"},
      {"v1", "ResourceQuota", "core.v1.ResourceQuota"},
      {"v1", "Pod", "core.v1.Pod"},
      {"apps/v1", "Deployment", "apps.v1.Deployment"},
      {"batch/v1", "Job", "batch.v1.Job"},
      {"batch/v1", "CronJob", "batch.v1.CronJob"},
      {"batch/v1beta1", "CronJob", "batch.v1beta1.CronJob"},
      {"rbac.authorization.k8s.io/v1", "Role", "rbac.v1.Role"},
      {"rbac.authorization.k8s.io/v1", "ClusterRole", "rbac.v1.ClusterRole"},
      {"rbac.authorization.k8s.io/v1", "RoleBinding", "rbac.v1.RoleBinding"},
      {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "rbac.v1.ClusterRoleBinding"},
      {"scheduling.k8s.io/v1", "PriorityClass", "scheduling.v1.PriorityClass"},
      {"policy/v1", "PodDisruptionBudget", "policy.v1.PodDisruptionBudget"},
      {"networking.k8s.io/v1", "Ingress", "networking.v1.Ingress"},
      {"authentication.k8s.io/v1", "TokenRequest", "authentication.v1.TokenRequest"},
      {"authentication.k8s.io/v1", "SelfSubjectReview", "authentication.v1.SelfSubjectReview"},
      {"authorization.k8s.io/v1", "SelfSubjectAccessReview",
       "authorization.v1.SelfSubjectAccessReview"},
  };
  for (const Entry& e : kEntries) {
    if (api_version == e.api_version && kind == e.kind) return e.message;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Protobuf wire reading.

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Reader {
 public:
  explicit Reader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}

  bool Done() const { return p_ >= end_; }

  bool ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }

  bool ReadTag(int* field, int* wire_type) {
    uint64_t tag;
    if (!ReadVarint(&tag)) return false;
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    *field = static_cast<int>(tag >> 3);
    *wire_type = static_cast<int>(tag & 7);
    return true;
  }

  bool ReadFixed(int bytes, uint64_t* v) {
    if (end_ - p_ < bytes) return false;
    uint64_t result = 0;
    for (int i = 0; i < bytes; ++i) {
      result |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    }
    p_ += bytes;
    *v = result;
    return true;
  }

  bool ReadBytes(std::string_view* out) {
    uint64_t len;
    if (!ReadVarint(&len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return false;
    *out = std::string_view(p_, static_cast<size_t>(len));
    p_ += len;
    return true;
  }

  bool Skip(int wire_type) {
    uint64_t v;
    std::string_view s;
    switch (wire_type) {
      case kVarint:
        return ReadVarint(&v);
      case kFixed64:
        return ReadFixed(8, &v);
      case kLengthDelimited:
        return ReadBytes(&s);
      case kFixed32:
        return ReadFixed(4, &v);
      default:
        return false;  // groups (3, 4) and invalid wire types
    }
  }

 private:
  const char* p_;
  const char* end_;
};

// ---------------------------------------------------------------------------
// Value conversion.

std::string Base64(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Seconds since the Unix epoch → "2006-01-02T15:04:05Z" (metav1.Time's JSON,
// second precision, UTC). False outside years 0..9999 (Go refuses those).
bool FormatRfc3339(int64_t seconds, std::string* out) {
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  if (y < 0 || y > 9999) return false;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", static_cast<int>(y),
                static_cast<int>(m), static_cast<int>(d), static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  *out = buf;
  return true;
}

struct DecodeError {
  bool unsupported = false;  // → 415, else 400
  std::string message;
};

constexpr int kMaxDepth = 64;

class Decoder {
 public:
  std::optional<DecodeError> error;

  bool Fail(std::string message, bool unsupported = false) {
    if (!error) error = DecodeError{unsupported, std::move(message)};
    return false;
  }

  // Decodes `data` as message `spec` into the JSON object `*obj` (fields in
  // the schema's order, after whatever `*obj` already holds).
  bool DecodeMessage(std::string_view data, const MessageSpec& spec, Json* obj, int depth) {
    if (depth > kMaxDepth) return Fail("protobuf body nests too deeply");
    std::vector<std::optional<Json>> slots(spec.fields.size());
    Reader r(data);
    while (!r.Done()) {
      int number, wire_type;
      if (!r.ReadTag(&number, &wire_type)) return Malformed(spec, "bad field tag");
      size_t index = 0;
      while (index < spec.fields.size() && spec.fields[index].number != number) ++index;
      if (index == spec.fields.size()) {
        if (!r.Skip(wire_type)) return Malformed(spec, "truncated unknown field");
        continue;
      }
      if (!DecodeField(r, wire_type, spec, spec.fields[index], &slots[index], depth)) return false;
    }
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      if (!slots[i]) continue;
      const FieldSpec& f = spec.fields[i];
      if (f.flags & kInline) {
        for (auto& [key, value] : slots[i]->items()) (*obj)[key] = std::move(value);
      } else {
        (*obj)[f.json] = std::move(*slots[i]);
      }
    }
    return true;
  }

 private:
  bool Malformed(const MessageSpec& spec, const char* what) {
    return Fail(std::string("malformed protobuf body: ") + what + " in " + spec.name);
  }
  bool Malformed(const MessageSpec& spec, const FieldSpec& f, const char* what) {
    return Fail(std::string("malformed protobuf body: ") + what + " in field " + spec.name + "." +
                f.json);
  }

  static bool IsZero(const Json& v) {
    if (v.is_string()) return v.get_ref<const std::string&>().empty();
    if (v.is_boolean()) return !v.get<bool>();
    if (v.is_number_integer()) return v.get<int64_t>() == 0;
    if (v.is_number_float()) return v.get<double>() == 0;
    return false;
  }

  bool ReadString(Reader& r, int wire_type, const MessageSpec& spec, const FieldSpec& f,
                  std::string_view* s) {
    if (wire_type != kLengthDelimited || !r.ReadBytes(s)) {
      return Malformed(spec, f, "bad length-delimited value");
    }
    return true;
  }

  bool DecodeField(Reader& r, int wire_type, const MessageSpec& spec, const FieldSpec& f,
                   std::optional<Json>* slot, int depth) {
    const bool repeated = f.flags & kRepeated;
    std::string_view bytes;
    switch (f.type) {
      case T::kUnsupported:
        return Fail(std::string("protobuf field ") + spec.name + "." + f.json +
                        " is not supported by this server; send the object as JSON",
                    true);
      case T::kInt32:
      case T::kInt64:
      case T::kBool:
      case T::kDouble: {
        if (wire_type == kLengthDelimited && repeated) {  // packed
          if (!r.ReadBytes(&bytes)) return Malformed(spec, f, "truncated packed field");
          Reader packed(bytes);
          int element_wire = f.type == T::kDouble ? kFixed64 : kVarint;
          while (!packed.Done()) {
            Json v;
            if (!ReadNumber(packed, element_wire, spec, f, &v)) return false;
            Append(slot, std::move(v));
          }
          if (!*slot) *slot = Json::array();
          return true;
        }
        Json v;
        if (!ReadNumber(r, wire_type, spec, f, &v)) return false;
        return Store(slot, f, std::move(v));
      }
      case T::kString:
      case T::kBytes: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        if (f.type == T::kString && !ValidUtf8(bytes)) {
          return Malformed(spec, f, "invalid UTF-8 string");
        }
        return Store(slot, f,
                     f.type == T::kString ? Json(std::string(bytes)) : Json(Base64(bytes)));
      }
      case T::kQuantity: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        Json v;
        if (!DecodeQuantity(bytes, spec, f, &v)) return false;
        return Store(slot, f, std::move(v), /*force=*/true);
      }
      case T::kTime: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        Json v;
        if (!DecodeTime(bytes, spec, f, &v)) return false;
        return Store(slot, f, std::move(v), /*force=*/true);
      }
      case T::kIntOrString: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        Json v;
        if (!DecodeIntOrString(bytes, spec, f, &v)) return false;
        return Store(slot, f, std::move(v), /*force=*/true);
      }
      case T::kMapString:
      case T::kMapBytes:
      case T::kMapQuantity: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        if (!*slot) *slot = Json::object();
        return DecodeMapEntry(bytes, spec, f, &**slot);
      }
      case T::kMessage: {
        if (!ReadString(r, wire_type, spec, f, &bytes)) return false;
        const MessageSpec* sub = FindMessage(f.message);
        if (sub == nullptr) return Fail(std::string("internal: no schema for ") + f.message);
        if (repeated) {
          Json v = Json::object();
          if (!DecodeMessage(bytes, *sub, &v, depth + 1)) return false;
          Append(slot, std::move(v));
          return true;
        }
        // A repeated occurrence of a singular message merges into it.
        if (!*slot) *slot = Json::object();
        return DecodeMessage(bytes, *sub, &**slot, depth + 1);
      }
    }
    return Fail("internal: unknown field type");
  }

  bool ReadNumber(Reader& r, int wire_type, const MessageSpec& spec, const FieldSpec& f, Json* v) {
    uint64_t raw;
    if (f.type == T::kDouble) {
      if (wire_type != kFixed64 || !r.ReadFixed(8, &raw)) {
        return Malformed(spec, f, "bad double value");
      }
      double d;
      std::memcpy(&d, &raw, sizeof(d));
      *v = d;
      return true;
    }
    if (wire_type != kVarint || !r.ReadVarint(&raw)) return Malformed(spec, f, "bad varint value");
    if (f.type == T::kBool) {
      *v = raw != 0;
    } else if (f.type == T::kInt32) {
      *v = static_cast<int32_t>(static_cast<uint32_t>(raw));
    } else {
      *v = static_cast<int64_t>(raw);
    }
    return true;
  }

  static void Append(std::optional<Json>* slot, Json v) {
    if (!*slot) *slot = Json::array();
    (*slot)->push_back(std::move(v));
  }

  // Singular fields: the last occurrence wins; zero scalars are dropped
  // unless kKeep (or `force`, for the struct-like special types).
  static bool Store(std::optional<Json>* slot, const FieldSpec& f, Json v, bool force = false) {
    if (f.flags & kRepeated) {
      Append(slot, std::move(v));
      return true;
    }
    if (!force && !(f.flags & kKeep) && IsZero(v)) {
      slot->reset();
      return true;
    }
    *slot = std::move(v);
    return true;
  }

  bool DecodeQuantity(std::string_view data, const MessageSpec& spec, const FieldSpec& f, Json* v) {
    std::string value = "0";
    Reader r(data);
    while (!r.Done()) {
      int number, wire_type;
      if (!r.ReadTag(&number, &wire_type)) return Malformed(spec, f, "bad Quantity");
      if (number == 1 && wire_type == kLengthDelimited) {
        std::string_view s;
        if (!r.ReadBytes(&s) || !ValidUtf8(s)) return Malformed(spec, f, "bad Quantity");
        value = std::string(s);
      } else if (!r.Skip(wire_type)) {
        return Malformed(spec, f, "bad Quantity");
      }
    }
    *v = value;
    return true;
  }

  bool DecodeTime(std::string_view data, const MessageSpec& spec, const FieldSpec& f, Json* v) {
    uint64_t seconds = 0, nanos = 0;
    Reader r(data);
    while (!r.Done()) {
      int number, wire_type;
      if (!r.ReadTag(&number, &wire_type)) return Malformed(spec, f, "bad Time");
      if ((number == 1 || number == 2) && wire_type == kVarint) {
        if (!r.ReadVarint(number == 1 ? &seconds : &nanos)) return Malformed(spec, f, "bad Time");
      } else if (!r.Skip(wire_type)) {
        return Malformed(spec, f, "bad Time");
      }
    }
    if (seconds == 0 && nanos == 0) {  // the zero metav1.Time: JSON null
      *v = nullptr;
      return true;
    }
    std::string s;
    if (!FormatRfc3339(static_cast<int64_t>(seconds), &s)) {
      return Malformed(spec, f, "Time out of range");
    }
    *v = s;
    return true;
  }

  bool DecodeIntOrString(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                         Json* v) {
    uint64_t type = 0, int_val = 0;
    std::string_view str_val;
    Reader r(data);
    while (!r.Done()) {
      int number, wire_type;
      if (!r.ReadTag(&number, &wire_type)) return Malformed(spec, f, "bad IntOrString");
      bool ok;
      if (number == 1 && wire_type == kVarint) {
        ok = r.ReadVarint(&type);
      } else if (number == 2 && wire_type == kVarint) {
        ok = r.ReadVarint(&int_val);
      } else if (number == 3 && wire_type == kLengthDelimited) {
        ok = r.ReadBytes(&str_val) && ValidUtf8(str_val);
      } else {
        ok = r.Skip(wire_type);
      }
      if (!ok) return Malformed(spec, f, "bad IntOrString");
    }
    if (type == 1) {
      *v = std::string(str_val);
    } else {
      *v = static_cast<int32_t>(static_cast<uint32_t>(int_val));
    }
    return true;
  }

  bool DecodeMapEntry(std::string_view data, const MessageSpec& spec, const FieldSpec& f,
                      Json* map) {
    std::string_view key, value;
    Reader r(data);
    while (!r.Done()) {
      int number, wire_type;
      if (!r.ReadTag(&number, &wire_type)) return Malformed(spec, f, "bad map entry");
      bool ok;
      if ((number == 1 || number == 2) && wire_type == kLengthDelimited) {
        ok = r.ReadBytes(number == 1 ? &key : &value);
      } else {
        ok = r.Skip(wire_type);
      }
      if (!ok) return Malformed(spec, f, "bad map entry");
    }
    if (!ValidUtf8(key)) return Malformed(spec, f, "invalid UTF-8 map key");
    Json v;
    switch (f.type) {
      case T::kMapString:
        if (!ValidUtf8(value)) return Malformed(spec, f, "invalid UTF-8 map value");
        v = std::string(value);
        break;
      case T::kMapBytes:
        v = Base64(value);
        break;
      default:
        if (!DecodeQuantity(value, spec, f, &v)) return false;
        break;
    }
    (*map)[std::string(key)] = std::move(v);
    return true;
  }
};

constexpr std::string_view kMagic("k8s\0", 4);

std::optional<ApiError> Decode(const std::string& body, Json* out) {
  if (body.size() < kMagic.size() || std::string_view(body).substr(0, 4) != kMagic) {
    return ApiError::BadRequest("protobuf body does not start with the \"k8s\\x00\" prefix");
  }
  // runtime.Unknown {1 typeMeta {1 apiVersion, 2 kind}, 2 raw,
  // 3 contentEncoding, 4 contentType}.
  std::string api_version, kind, content_encoding;
  std::string_view raw;
  auto malformed = [] { return ApiError::BadRequest("malformed protobuf body (runtime.Unknown)"); };
  Reader r(std::string_view(body).substr(kMagic.size()));
  while (!r.Done()) {
    int number, wire_type;
    if (!r.ReadTag(&number, &wire_type)) return malformed();
    std::string_view bytes;
    if (number >= 1 && number <= 4 && wire_type == kLengthDelimited) {
      if (!r.ReadBytes(&bytes)) return malformed();
    } else {
      if (!r.Skip(wire_type)) return malformed();
      continue;
    }
    if (number == 1) {
      Reader tm(bytes);
      while (!tm.Done()) {
        int n, wt;
        std::string_view s;
        if (!tm.ReadTag(&n, &wt)) return malformed();
        if ((n == 1 || n == 2) && wt == kLengthDelimited) {
          if (!tm.ReadBytes(&s)) return malformed();
          (n == 1 ? api_version : kind) = std::string(s);
        } else if (!tm.Skip(wt)) {
          return malformed();
        }
      }
    } else if (number == 2) {
      raw = bytes;
    } else if (number == 3) {
      content_encoding = std::string(bytes);
    }
  }
  if (!ValidUtf8(api_version) || !ValidUtf8(kind)) return malformed();
  if (kind.empty() || api_version.empty()) {
    return ApiError::BadRequest("protobuf body has no apiVersion/kind in its type metadata");
  }
  if (!content_encoding.empty()) {
    return ApiError::UnsupportedMediaType("protobuf body with content encoding \"" +
                                          content_encoding + "\" is not supported");
  }
  const char* message = TopLevelMessage(api_version, kind);
  const MessageSpec* spec = message ? FindMessage(message) : nullptr;
  if (spec == nullptr) {
    return ApiError::UnsupportedMediaType(
        "the server cannot decode " + kind + " (" + api_version +
        ") from application/vnd.kubernetes.protobuf; send it as application/json");
  }
  Json obj = Json::object();
  obj["kind"] = kind;
  obj["apiVersion"] = api_version;
  Decoder decoder;
  if (!decoder.DecodeMessage(raw, *spec, &obj, 0)) {
    const DecodeError& e = *decoder.error;
    return e.unsupported ? ApiError::UnsupportedMediaType(e.message)
                         : ApiError::BadRequest(e.message);
  }
  *out = std::move(obj);
  return std::nullopt;
}

}  // namespace

bool IsKubeProtobuf(const std::string& content_type) {
  std::string_view ct(content_type);
  size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front())))
    media.remove_prefix(1);
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back())))
    media.remove_suffix(1);
  static constexpr std::string_view kType = "application/vnd.kubernetes.protobuf";
  if (media.size() != kType.size() ||
      !std::equal(media.begin(), media.end(), kType.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    return false;
  }
  if (semi != std::string_view::npos) {
    std::string params(ct.substr(semi));
    std::transform(params.begin(), params.end(), params.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    if (params.find("stream=watch") != std::string::npos) return false;
  }
  return true;
}

std::optional<ApiError> DecodeKubeProtobuf(const std::string& body, Json* out) {
  try {
    return Decode(body, out);
  } catch (const std::exception& e) {
    return ApiError::BadRequest(std::string("cannot decode protobuf body: ") + e.what());
  } catch (...) {
    return ApiError::BadRequest("cannot decode protobuf body");
  }
}

}  // namespace capstan::kube
