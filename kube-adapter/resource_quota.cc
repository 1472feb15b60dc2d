#include "kube-adapter/resource_quota.h"

#include <algorithm>
#include <map>
#include <set>

namespace capstan::kube {
namespace {

const Json& Get(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string GetString(const Json& obj, const char* key) {
  const Json& v = Get(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

bool StartsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? sep : "") + v[i];
  return out;
}

const std::string kRequestsPrefix = "requests.";
const std::string kStorageClassSuffix = ".storageclass.storage.k8s.io/";

// helper.IsNativeResource / IsExtendedResourceName.
bool IsNativeResource(const std::string& n) {
  return n.find('/') == std::string::npos || n.find("kubernetes.io/") != std::string::npos;
}
bool IsExtendedResource(const std::string& n) {
  return !IsNativeResource(n) && !StartsWith(n, kRequestsPrefix);
}

// ----- Usage evaluators -----

enum class Kind { kPods, kServices, kPvcs, kGeneric };

Kind EvaluatorFor(const std::string& group, const std::string& resource) {
  if (group.empty() && resource == "pods") return Kind::kPods;
  if (group.empty() && resource == "services") return Kind::kServices;
  if (group.empty() && resource == "persistentvolumeclaims") return Kind::kPvcs;
  return Kind::kGeneric;
}

std::string CountName(const std::string& group, const std::string& resource) {
  return group.empty() ? "count/" + resource : "count/" + resource + "." + group;
}

// The pre-count/ names of a few core object counts.
std::string LegacyCountName(const std::string& group, const std::string& resource) {
  if (!group.empty()) return "";
  if (resource == "configmaps" || resource == "secrets" || resource == "resourcequotas" ||
      resource == "replicationcontrollers") {
    return resource;
  }
  return "";
}

const std::set<std::string>& PodResources() {
  static const std::set<std::string> s = {"count/pods",
                                          "cpu",
                                          "memory",
                                          "ephemeral-storage",
                                          "requests.cpu",
                                          "requests.memory",
                                          "requests.ephemeral-storage",
                                          "limits.cpu",
                                          "limits.memory",
                                          "limits.ephemeral-storage",
                                          "pods"};
  return s;
}

// Evaluator.MatchingResources: whether a quota resource name is tracked by the
// evaluator of this group/resource.
bool Tracks(Kind kind, const std::string& group, const std::string& resource,
            const std::string& name) {
  switch (kind) {
    case Kind::kPods:
      return PodResources().count(name) || StartsWith(name, "hugepages-") ||
             StartsWith(name, "requests.hugepages-") ||
             (StartsWith(name, kRequestsPrefix) &&
              IsExtendedResource(name.substr(kRequestsPrefix.size())));
    case Kind::kServices:
      return name == "services" || name == "count/services" || name == "services.loadbalancers" ||
             name == "services.nodeports";
    case Kind::kPvcs:
      if (name == "persistentvolumeclaims" || name == "count/persistentvolumeclaims" ||
          name == "requests.storage") {
        return true;
      }
      {
        size_t p = name.find(kStorageClassSuffix);
        if (p == std::string::npos || p == 0) return false;
        std::string rest = name.substr(p + kStorageClassSuffix.size());
        return rest == "requests.storage" || rest == "persistentvolumeclaims";
      }
    case Kind::kGeneric:
      return name == CountName(group, resource) || (!LegacyCountName(group, resource).empty() &&
                                                    name == LegacyCountName(group, resource));
  }
  return false;
}

ResourceList ContainerList(const Json& c, const char* which) {
  return ParseResourceList(Get(Get(c, "resources"), which));
}

// quota.Add / quota.Max over resource lists.
void AddInto(ResourceList* a, const ResourceList& b) {
  for (const auto& [k, v] : b) (*a)[k].Add(v);
}
void MaxInto(ResourceList* a, const ResourceList& b) {
  for (const auto& [k, v] : b) {
    auto it = a->find(k);
    if (it == a->end() || v.Compare(it->second) > 0) (*a)[k] = v;
  }
}

// podComputeUsageHelper.
ResourceList PodComputeUsage(const ResourceList& requests, const ResourceList& limits) {
  ResourceList r;
  r["pods"] = Quantity::FromValue(1);
  for (const char* k : {"cpu", "memory", "ephemeral-storage"}) {
    auto req = requests.find(k);
    if (req != requests.end()) {
      r[k] = req->second;
      r[kRequestsPrefix + k] = req->second;
    }
    auto lim = limits.find(k);
    if (lim != limits.end()) r[std::string("limits.") + k] = lim->second;
  }
  for (const auto& [k, v] : requests) {
    if (StartsWith(k, "hugepages-")) {
      r[k] = v;
      r[kRequestsPrefix + k] = v;
    }
    if (IsExtendedResource(k)) r[kRequestsPrefix + k] = v;
  }
  return r;
}

std::vector<const Json*> Containers(const Json& pod, const char* list) {
  std::vector<const Json*> out;
  for (const auto& c : Get(Get(pod, "spec"), list)) {
    if (c.is_object()) out.push_back(&c);
  }
  return out;
}

bool IsTerminalPod(const Json& pod) {
  std::string phase = GetString(Get(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

ResourceList PodUsage(const Json& pod) {
  ResourceList result;
  result["count/pods"] = Quantity::FromValue(1);
  if (IsTerminalPod(pod)) return result;  // only count/pods tracks finished pods
  ResourceList requests, limits;
  for (const Json* c : Containers(pod, "containers")) {
    AddInto(&requests, ContainerList(*c, "requests"));
    AddInto(&limits, ContainerList(*c, "limits"));
  }
  for (const Json* c : Containers(pod, "initContainers")) {
    MaxInto(&requests, ContainerList(*c, "requests"));
    MaxInto(&limits, ContainerList(*c, "limits"));
  }
  AddInto(&result, PodComputeUsage(requests, limits));
  return result;
}

ResourceList ServiceUsage(const Json& svc) {
  ResourceList r;
  r["count/services"] = Quantity::FromValue(1);
  r["services"] = Quantity::FromValue(1);
  r["services.loadbalancers"] = Quantity();
  r["services.nodeports"] = Quantity();
  const Json& spec = Get(svc, "spec");
  const Json& ports = Get(spec, "ports");
  int64_t n = ports.is_array() ? static_cast<int64_t>(ports.size()) : 0;
  std::string type = GetString(spec, "type");
  if (type == "NodePort") {
    r["services.nodeports"] = Quantity::FromValue(n);
  } else if (type == "LoadBalancer") {
    r["services.nodeports"] = Quantity::FromValue(n);
    r["services.loadbalancers"] = Quantity::FromValue(1);
  }
  return r;
}

ResourceList PvcUsage(const Json& pvc) {
  ResourceList r;
  r["persistentvolumeclaims"] = Quantity::FromValue(1);
  r["count/persistentvolumeclaims"] = Quantity::FromValue(1);
  // The beta annotation wins over spec.storageClassName (GetPersistentVolumeClaimClass).
  std::string sc = GetString(Get(Get(pvc, "metadata"), "annotations"),
                             "volume.beta.kubernetes.io/storage-class");
  if (sc.empty()) sc = GetString(Get(pvc, "spec"), "storageClassName");
  if (!sc.empty()) r[sc + kStorageClassSuffix + "persistentvolumeclaims"] = Quantity::FromValue(1);
  ResourceList requests = ParseResourceList(Get(Get(Get(pvc, "spec"), "resources"), "requests"));
  auto it = requests.find("storage");
  if (it != requests.end()) {
    Quantity q = it->second;
    q.RoundUpToUnits();
    r["requests.storage"] = q;
    if (!sc.empty()) r[sc + kStorageClassSuffix + "requests.storage"] = q;
  }
  return r;
}

ResourceList Usage(Kind kind, const std::string& group, const std::string& resource,
                   const Json& obj) {
  switch (kind) {
    case Kind::kPods:
      return PodUsage(obj);
    case Kind::kServices:
      return ServiceUsage(obj);
    case Kind::kPvcs:
      return PvcUsage(obj);
    case Kind::kGeneric:
      break;
  }
  ResourceList r;
  r[CountName(group, resource)] = Quantity::FromValue(1);
  std::string legacy = LegacyCountName(group, resource);
  if (!legacy.empty()) r[legacy] = Quantity::FromValue(1);
  return r;
}

// ----- Scopes -----

struct ScopeRequirement {
  std::string scope;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

// GetScopeSelectorsFromQuota: spec.scopes as Exists, then scopeSelector expressions.
std::vector<ScopeRequirement> ScopeRequirements(const Json& quota) {
  std::vector<ScopeRequirement> out;
  const Json& spec = Get(quota, "spec");
  for (const auto& s : Get(spec, "scopes")) {
    if (s.is_string()) out.push_back({s.get<std::string>(), "Exists", {}});
  }
  for (const auto& e : Get(Get(spec, "scopeSelector"), "matchExpressions")) {
    ScopeRequirement r{GetString(e, "scopeName"), GetString(e, "operator"), {}};
    for (const auto& v : Get(e, "values")) {
      if (v.is_string()) r.values.push_back(v.get<std::string>());
    }
    out.push_back(std::move(r));
  }
  return out;
}

// QoS BestEffort: no container or init container has a positive cpu/memory
// request or limit.
bool IsBestEffort(const Json& pod) {
  for (const char* list : {"containers", "initContainers"}) {
    for (const Json* c : Containers(pod, list)) {
      for (const char* which : {"requests", "limits"}) {
        for (const auto& [k, v] : ContainerList(*c, which)) {
          if ((k == "cpu" || k == "memory") && v.Sign() > 0) return false;
        }
      }
    }
  }
  return true;
}

bool IsTerminating(const Json& pod) {
  const Json& ads = Get(Get(pod, "spec"), "activeDeadlineSeconds");
  return ads.is_number() && ads.get<double>() >= 0;
}

bool PodMatchesScope(const ScopeRequirement& r, const Json& pod) {
  if (r.scope == "Terminating") return IsTerminating(pod);
  if (r.scope == "NotTerminating") return !IsTerminating(pod);
  if (r.scope == "BestEffort") return IsBestEffort(pod);
  if (r.scope == "NotBestEffort") return !IsBestEffort(pod);
  if (r.scope == "PriorityClass") {
    // A label selector over {PriorityClass: spec.priorityClassName}.
    std::string pc = GetString(Get(pod, "spec"), "priorityClassName");
    bool has = !pc.empty();
    bool in = has && std::find(r.values.begin(), r.values.end(), pc) != r.values.end();
    if (r.op == "In") return in;
    if (r.op == "NotIn") return !in;
    if (r.op == "Exists") return has;
    if (r.op == "DoesNotExist") return !has;
    return false;
  }
  return false;
}

// The hard limits admission works from: status.hard (as Kubernetes), falling
// back to spec.hard while status is missing so such a quota reports
// "status unknown" rather than being silently ignored (SPEC §0.7).
ResourceList HardForAdmission(const Json& quota) {
  const Json& status_hard = Get(Get(quota, "status"), "hard");
  if (status_hard.is_object()) return ParseResourceList(status_hard);
  return ParseResourceList(Get(Get(quota, "spec"), "hard"));
}

// Evaluator.Matches: tracks at least one hard name and matches every scope.
bool QuotaMatches(Kind kind, const std::string& group, const std::string& resource,
                  const ResourceList& hard, const Json& quota, const Json& obj) {
  bool tracks = false;
  for (const auto& [k, v] : hard) tracks = tracks || Tracks(kind, group, resource, k);
  if (!tracks) return false;
  for (const auto& r : ScopeRequirements(quota)) {
    // Only pods have scopes; any scope excludes other kinds.
    if (kind != Kind::kPods || !PodMatchesScope(r, obj)) return false;
  }
  return true;
}

std::vector<std::string> TrackedNames(Kind kind, const std::string& group,
                                      const std::string& resource, const ResourceList& hard) {
  std::vector<std::string> out;
  for (const auto& [k, v] : hard) {
    if (Tracks(kind, group, resource, k)) out.push_back(k);
  }
  return out;  // sorted (std::map order)
}

// The pod evaluator's Constraints: with cpu/memory quota'd, every container must
// state each of them. Returns the sorted missing names.
std::vector<std::string> PodMissingConstraints(const std::vector<std::string>& tracked,
                                               const Json& pod) {
  static const std::set<std::string> kValidation = {
      "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"};
  std::set<std::string> required, missing;
  for (const auto& k : tracked) {
    if (kValidation.count(k)) required.insert(k);
  }
  if (required.empty()) return {};
  for (const char* list : {"containers", "initContainers"}) {
    for (const Json* c : Containers(pod, list)) {
      ResourceList usage =
          PodComputeUsage(ContainerList(*c, "requests"), ContainerList(*c, "limits"));
      for (const auto& k : required) {
        if (!usage.count(k)) missing.insert(k);
      }
    }
  }
  return std::vector<std::string>(missing.begin(), missing.end());
}

std::string PrettyPrint(const ResourceList& list) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : list) parts.push_back(k + "=" + v.String());
  return Join(parts, ",");
}

ResourceList Mask(const ResourceList& list, const ResourceList& keys) {
  ResourceList out;
  for (const auto& [k, v] : list) {
    if (keys.count(k)) out[k] = v;
  }
  return out;
}

// Whether the quota has a used value for every tracked hard name (hasUsageStats).
bool HasUsageStats(const Json& quota, const std::vector<std::string>& tracked) {
  const Json& status = Get(quota, "status");
  const Json& hard = Get(status, "hard");
  const Json& used = Get(status, "used");
  if (!hard.is_object()) return tracked.empty();
  for (const auto& k : tracked) {
    if (hard.contains(k) && !(used.is_object() && used.contains(k))) return false;
  }
  return true;
}

void WriteUsed(Json* quota, const ResourceList& used) {
  Json& status = (*quota)["status"];
  if (!status.is_object()) status = Json::object();
  status["used"] = ResourceListToJson(used);
}

// The quota name text used in messages.
std::string QuotaName(const Json& quota) { return GetString(Get(quota, "metadata"), "name"); }

// Hard quota names understood by the standard validation (IsStandardQuotaResourceName).
bool IsStandardQuotaResource(const std::string& k) {
  static const std::set<std::string> s = {"pods",
                                          "services",
                                          "replicationcontrollers",
                                          "resourcequotas",
                                          "secrets",
                                          "configmaps",
                                          "persistentvolumeclaims",
                                          "services.nodeports",
                                          "services.loadbalancers",
                                          "cpu",
                                          "memory",
                                          "requests.cpu",
                                          "requests.memory",
                                          "requests.storage",
                                          "requests.ephemeral-storage",
                                          "limits.cpu",
                                          "limits.memory",
                                          "limits.ephemeral-storage",
                                          "ephemeral-storage"};
  return s.count(k) || StartsWith(k, "hugepages-") || StartsWith(k, "requests.hugepages-");
}

bool IsIntegerQuotaResource(const std::string& k) {
  static const std::set<std::string> s = {"pods",
                                          "resourcequotas",
                                          "services",
                                          "replicationcontrollers",
                                          "services.nodeports",
                                          "services.loadbalancers",
                                          "secrets",
                                          "configmaps",
                                          "persistentvolumeclaims"};
  return s.count(k) || IsExtendedResource(k);
}

bool IsStandardScope(const std::string& s) {
  return s == "Terminating" || s == "NotTerminating" || s == "BestEffort" || s == "NotBestEffort" ||
         s == "PriorityClass";
}

bool ScopeValidForResource(const std::string& scope, const std::string& k) {
  static const std::set<std::string> kCompute = {
      "cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"};
  if (scope == "Terminating" || scope == "NotTerminating" || scope == "NotBestEffort" ||
      scope == "PriorityClass") {
    return k == "pods" || kCompute.count(k);
  }
  if (scope == "BestEffort") return k == "pods";
  return true;
}

// Go's %#v of a []core.ResourceQuotaScope, which Kubernetes prints as the bad value.
std::string GoScopeSlice(const Json& scopes) {
  std::vector<std::string> parts;
  for (const auto& s : scopes) parts.push_back(s.dump());
  return "[]core.ResourceQuotaScope{" + Join(parts, ", ") + "}";
}

FieldCause InvalidRaw(const std::string& field, const std::string& shown, const std::string& d) {
  return {"FieldValueInvalid", "Invalid value: " + shown + ": " + d, field};
}

}  // namespace

ResourceList ObjectQuotaUsage(const std::string& group, const std::string& resource,
                              const Json& obj) {
  return Usage(EvaluatorFor(group, resource), group, resource, obj);
}

std::vector<FieldCause> ValidateResourceQuota(const Json& quota) {
  std::vector<FieldCause> errs;
  const Json& spec = Get(quota, "spec");
  const Json& hard = Get(spec, "hard");
  std::vector<std::string> hard_names;
  if (hard.is_object()) {
    for (auto it = hard.begin(); it != hard.end(); ++it) {
      const std::string& k = it.key();
      const std::string path = "spec.hard[" + k + "]";
      hard_names.push_back(k);
      if (k.find('/') == std::string::npos && !IsStandardQuotaResource(k)) {
        errs.push_back(FieldInvalid(path, k, "must be a standard resource for quota"));
      }
      Quantity q;
      std::string err;
      if (!Quantity::FromJson(it.value(), &q, &err)) {
        errs.push_back(FieldInvalid(path, it.value(), err));
        continue;
      }
      if (q.Sign() < 0) {
        errs.push_back(FieldInvalid(path, q.String(), "must be greater than or equal to 0"));
      }
      if (IsIntegerQuotaResource(k) && q.MilliValue() % 1000 != 0) {
        errs.push_back(FieldInvalid(path, q.String(), "must be an integer"));
      }
    }
  } else if (!hard.is_null()) {
    errs.push_back(FieldInvalid("spec.hard", hard, "must be a map of resource quantities"));
  }
  std::sort(hard_names.begin(), hard_names.end());

  const Json& scopes = Get(spec, "scopes");
  if (scopes.is_array() && !scopes.empty()) {
    std::set<std::string> seen;
    for (const auto& s : scopes) {
      std::string scope = s.is_string() ? s.get<std::string>() : "";
      if (!IsStandardScope(scope)) {
        errs.push_back(InvalidRaw("spec.scopes", GoScopeSlice(scopes), "unsupported scope"));
      }
      for (const auto& k : hard_names) {
        if (IsStandardQuotaResource(k) && !ScopeValidForResource(scope, k)) {
          errs.push_back(InvalidRaw("spec.scopes", GoScopeSlice(scopes),
                                    "unsupported scope applied to resource"));
        }
      }
      seen.insert(scope);
    }
    if ((seen.count("BestEffort") && seen.count("NotBestEffort")) ||
        (seen.count("Terminating") && seen.count("NotTerminating"))) {
      errs.push_back(InvalidRaw("spec.scopes", GoScopeSlice(scopes), "conflicting scopes"));
    }
  }

  const Json& selector = Get(spec, "scopeSelector");
  if (selector.is_object()) {
    const std::string path = "spec.scopeSelector.matchExpressions";
    std::set<std::string> seen;
    for (const auto& e : Get(selector, "matchExpressions")) {
      std::string scope = GetString(e, "scopeName");
      std::string op = GetString(e, "operator");
      const Json& values = Get(e, "values");
      size_t nvalues = values.is_array() ? values.size() : 0;
      if (!IsStandardScope(scope)) {
        errs.push_back(FieldInvalid(path + ".scopeName", scope, "unsupported scope"));
      }
      for (const auto& k : hard_names) {
        if (IsStandardQuotaResource(k) && !ScopeValidForResource(scope, k)) {
          errs.push_back(FieldInvalid(path, selector, "unsupported scope applied to resource"));
        }
      }
      if (scope == "BestEffort" || scope == "NotBestEffort" || scope == "Terminating" ||
          scope == "NotTerminating") {
        if (op != "Exists") {
          errs.push_back(FieldInvalid(
              path + ".operator", op,
              "must be 'Exist' only operator when scope is any of ResourceQuotaScopeTerminating, "
              "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort or "
              "ResourceQuotaScopeNotBestEffort"));
        }
      }
      if (op == "In" || op == "NotIn") {
        if (nvalues == 0) {
          errs.push_back(FieldRequired(
              path + ".values",
              "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"));
        }
      } else if (op == "Exists" || op == "DoesNotExist") {
        if (nvalues != 0) {
          errs.push_back(FieldInvalid(
              path + ".values", values,
              "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"));
        }
      } else {
        errs.push_back(FieldInvalid(path + ".operator", op, "not a valid selector operator"));
      }
      seen.insert(scope);
    }
    if ((seen.count("BestEffort") && seen.count("NotBestEffort")) ||
        (seen.count("Terminating") && seen.count("NotTerminating"))) {
      errs.push_back(FieldInvalid(path, selector, "conflicting scopes"));
    }
  }
  return errs;
}

void RecomputeQuotaStatus(Json* quota, const ObjectLister& list) {
  if (!quota->is_object()) return;
  const Json spec_hard = Get(Get(*quota, "spec"), "hard");
  ResourceList hard = ParseResourceList(spec_hard);

  // Which (group, resource) each hard name is counted from.
  std::set<std::pair<std::string, std::string>> sources;
  for (const auto& [k, v] : hard) {
    if (Tracks(Kind::kPods, "", "pods", k)) sources.insert({"", "pods"});
    if (Tracks(Kind::kServices, "", "services", k)) sources.insert({"", "services"});
    if (Tracks(Kind::kPvcs, "", "persistentvolumeclaims", k)) {
      sources.insert({"", "persistentvolumeclaims"});
    }
    for (const char* legacy :
         {"configmaps", "secrets", "resourcequotas", "replicationcontrollers"}) {
      if (k == legacy) sources.insert({"", legacy});
    }
    if (StartsWith(k, "count/")) {
      std::string gr = k.substr(6);
      size_t dot = gr.find('.');
      if (dot == std::string::npos) {
        sources.insert({"", gr});
      } else {
        sources.insert({gr.substr(dot + 1), gr.substr(0, dot)});
      }
    }
  }

  ResourceList used;
  for (const auto& [group, resource] : sources) {
    Kind kind = EvaluatorFor(group, resource);
    if (!list) break;
    for (const Json& obj : list(group, resource)) {
      if (!QuotaMatches(kind, group, resource, hard, *quota, obj)) continue;
      ResourceList usage = Mask(Usage(kind, group, resource, obj), hard);
      for (const auto& [k, v] : usage) {
        if (Tracks(kind, group, resource, k)) used[k].Add(v);
      }
    }
  }
  for (const auto& [k, v] : hard) {
    if (!used.count(k)) used[k] = Quantity();
  }
  Json& status = (*quota)["status"];
  if (!status.is_object()) status = Json::object();
  status["hard"] = spec_hard.is_object() ? spec_hard : Json::object();
  // Canonical hard values, as Kubernetes serializes them.
  for (auto it = status["hard"].begin(); it != status["hard"].end(); ++it) {
    auto h = hard.find(it.key());
    if (h != hard.end()) *it = h->second.String();
  }
  status["used"] = ResourceListToJson(used);
}

std::optional<std::string> ChargeQuotas(std::vector<Json>* quotas, const std::string& group,
                                        const std::string& resource, const Json* old_obj,
                                        const Json* new_obj, bool* changed) {
  const size_t n = quotas->size();
  if (changed) std::fill(changed, changed + n, false);
  if (!old_obj && !new_obj) return std::nullopt;
  const Kind kind = EvaluatorFor(group, resource);
  const ResourceList new_usage = new_obj ? Usage(kind, group, resource, *new_obj) : ResourceList();
  const ResourceList old_usage = old_obj ? Usage(kind, group, resource, *old_obj) : ResourceList();

  struct Plan {
    ResourceList hard;
    ResourceList delta;  // masked by hard: new share minus old share
    bool check_all;      // create-like: check every requested name, not only increases
  };
  std::vector<std::optional<Plan>> plans(n);

  // Pass 1: matching, constraints and status (Kubernetes checks these for every
  // quota before any limit).
  for (size_t i = 0; i < n; i++) {
    const Json& quota = (*quotas)[i];
    ResourceList hard = HardForAdmission(quota);
    bool new_matches = new_obj && QuotaMatches(kind, group, resource, hard, quota, *new_obj);
    bool old_matches = old_obj && QuotaMatches(kind, group, resource, hard, quota, *old_obj);
    if (!new_matches && !old_matches) continue;
    std::vector<std::string> tracked = TrackedNames(kind, group, resource, hard);
    const bool entering = new_matches && !old_matches;
    if (entering && kind == Kind::kPods) {
      std::vector<std::string> missing = PodMissingConstraints(tracked, *new_obj);
      if (!missing.empty()) {
        return "failed quota: " + QuotaName(quota) + ": must specify " + Join(missing, ",");
      }
    }
    Plan plan{hard, {}, entering};
    if (new_matches) plan.delta = Mask(new_usage, hard);
    if (old_matches) {
      for (const auto& [k, v] : Mask(old_usage, hard)) plan.delta[k].Sub(v);
    }
    if (!HasUsageStats(quota, tracked)) {
      bool grows = entering;
      for (const auto& [k, d] : plan.delta) grows = grows || d.Sign() > 0;
      // Refuse only what would consume; a delete or a shrink has nothing to check.
      if (!grows) continue;
      return "status unknown for quota: " + QuotaName(quota) + ", resources: " + Join(tracked, ",");
    }
    plans[i] = std::move(plan);
  }

  if (new_obj) {
    std::vector<std::string> negative;
    for (const auto& [k, v] : new_usage) {
      if (v.Sign() < 0) negative.push_back(k);
    }
    if (!negative.empty()) {
      return "quota usage is negative for resource(s): " + Join(negative, ",");
    }
  }

  // Pass 2: limits, then the new usage.
  std::vector<std::optional<ResourceList>> new_used(n);
  for (size_t i = 0; i < n; i++) {
    if (!plans[i]) continue;
    const Plan& plan = *plans[i];
    const Json& quota = (*quotas)[i];
    ResourceList used = ParseResourceList(Get(Get(quota, "status"), "used"));
    ResourceList requested, exceeded_keys;
    for (const auto& [k, d] : plan.delta) {
      if (plan.check_all || d.Sign() > 0) requested[k] = d;
    }
    for (const auto& [k, d] : requested) {
      Quantity after = used.count(k) ? used[k] : Quantity();
      after.Add(d);
      auto h = plan.hard.find(k);
      if (h != plan.hard.end() && after.Compare(h->second) > 0) exceeded_keys[k] = d;
    }
    if (!exceeded_keys.empty()) {
      return "exceeded quota: " + QuotaName(quota) +
             ", requested: " + PrettyPrint(Mask(requested, exceeded_keys)) +
             ", used: " + PrettyPrint(Mask(used, exceeded_keys)) +
             ", limited: " + PrettyPrint(Mask(plan.hard, exceeded_keys));
    }
    bool differs = false;
    for (const auto& [k, d] : plan.delta) {
      if (d.IsZero()) continue;
      Quantity& u = used[k];
      u.Add(d);
      if (u.Sign() < 0) u = Quantity();  // never below zero
      differs = true;
    }
    if (differs) new_used[i] = std::move(used);
  }
  for (size_t i = 0; i < n; i++) {
    if (!new_used[i]) continue;
    WriteUsed(&(*quotas)[i], *new_used[i]);
    if (changed) changed[i] = true;
  }
  return std::nullopt;
}

}  // namespace capstan::kube
