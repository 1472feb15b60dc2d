#include "kube-adapter/priority_admission.h"

#include <cstdint>

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

std::string Name(const Json& obj) { return GetString(Get(obj, "metadata"), "name"); }

// A class's value; false when it is not an int32.
bool ClassValue(const Json& pc, int64_t* out) {
  const Json& v = Get(pc, "value");
  if (v.is_null()) {
    *out = 0;
    return true;
  }
  if (!v.is_number_integer()) return false;
  int64_t x = v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX) return false;
  if (x < INT32_MIN || x > INT32_MAX) return false;
  *out = x;
  return true;
}

bool IsGlobalDefault(const Json& pc) {
  const Json& g = Get(pc, "globalDefault");
  return g.is_boolean() && g.get<bool>();
}

std::string PreemptionPolicy(const Json& pc) {
  std::string p = GetString(pc, "preemptionPolicy");
  return p.empty() ? "PreemptLowerPriority" : p;  // the v1 default
}

Json BuiltIn(const std::string& name, int32_t value) {
  Json pc = {{"apiVersion", "scheduling.k8s.io/v1"}, {"kind", "PriorityClass"}};
  pc["metadata"]["name"] = name;
  pc["value"] = value;
  return pc;
}

const std::vector<Json>& SystemClasses() {
  static const std::vector<Json> v = {
      BuiltIn("system-node-critical", kSystemNodeCriticalPriority),
      BuiltIn("system-cluster-critical", kSystemClusterCriticalPriority)};
  return v;
}

const Json* FindClass(const std::vector<Json>& classes, const std::string& name) {
  for (const auto& pc : classes) {
    if (Name(pc) == name) return &pc;
  }
  for (const auto& pc : SystemClasses()) {
    if (Name(pc) == name) return &pc;
  }
  return nullptr;
}

// The globalDefault class with the lowest value (several can exist after a race).
const Json* DefaultClass(const std::vector<Json>& classes) {
  const Json* best = nullptr;
  int64_t best_value = 0;
  for (const auto& pc : classes) {
    int64_t v;
    if (!IsGlobalDefault(pc) || !ClassValue(pc, &v)) continue;
    if (!best || v < best_value) best = &pc, best_value = v;
  }
  return best;
}

}  // namespace

std::optional<std::string> AdmitPodPriority(const std::vector<Json>& priority_classes, Json* pod) {
  if (!pod->is_object()) return std::nullopt;
  Json& spec = (*pod)["spec"];
  if (!spec.is_object()) spec = Json::object();
  std::string name = GetString(spec, "priorityClassName");
  int64_t priority = 0;
  std::string policy = "PreemptLowerPriority";
  if (name.empty()) {
    if (const Json* dpc = DefaultClass(priority_classes)) {
      ClassValue(*dpc, &priority);
      policy = PreemptionPolicy(*dpc);
      spec["priorityClassName"] = Name(*dpc);
    }
  } else {
    const Json* pc = FindClass(priority_classes, name);
    if (!pc) return "no PriorityClass with name " + name + " was found";
    ClassValue(*pc, &priority);
    policy = PreemptionPolicy(*pc);
  }
  const Json& given = Get(spec, "priority");
  if (given.is_number_integer() && given.get<int64_t>() != priority) {
    return "the integer value of priority (" + std::to_string(given.get<int64_t>()) +
           ") must not be provided in pod spec; priority admission controller computed " +
           std::to_string(priority) + " from the given PriorityClass name";
  }
  std::string given_policy = GetString(spec, "preemptionPolicy");
  if (!given_policy.empty() && given_policy != policy) {
    return "the string value of PreemptionPolicy (" + given_policy +
           ") must not be provided in pod spec; priority admission controller computed " + policy +
           " from the given PriorityClass name";
  }
  spec["priority"] = priority;
  spec["preemptionPolicy"] = policy;
  return std::nullopt;
}

std::optional<std::string> AdmitPriorityClass(const std::vector<Json>& existing, const Json& pc,
                                              bool is_update) {
  if (!IsGlobalDefault(pc)) return std::nullopt;
  const Json* dpc = DefaultClass(existing);
  if (!dpc) return std::nullopt;
  if (!is_update || Name(*dpc) != Name(pc)) {
    return "PriorityClass " + Name(*dpc) + " is marked as default. Only one default can exist";
  }
  return std::nullopt;
}

std::vector<FieldCause> ValidatePriorityClass(const Json& pc) {
  std::vector<FieldCause> errs;
  const std::string name = Name(pc);
  int64_t value = 0;
  bool value_ok = ClassValue(pc, &value);
  if (!value_ok) {
    errs.push_back(FieldInvalid("value", Get(pc, "value"), "must be a 32-bit integer"));
  }
  if (name.rfind("system-", 0) == 0) {
    std::string why;
    const Json* builtin = nullptr;
    for (const auto& s : SystemClasses()) {
      if (Name(s) == name) builtin = &s;
    }
    if (!builtin) {
      why = name + " is not a known system priority class";
    } else if (Get(*builtin, "value").get<int64_t>() != value) {
      why = "value of " + name + " PriorityClass must be " + Get(*builtin, "value").dump();
    } else if (IsGlobalDefault(pc)) {
      why = "globalDefault of " + name + " PriorityClass must be false";
    }
    if (!why.empty()) {
      errs.push_back(FieldForbidden(
          "metadata.name",
          "priority class names with 'system-' prefix are reserved for system use only. error: " +
              why));
    }
  } else if (value_ok && value > kHighestUserDefinablePriority) {
    errs.push_back(FieldForbidden("value", "maximum allowed value of a user defined priority is " +
                                               std::to_string(kHighestUserDefinablePriority)));
  }
  const Json& policy = Get(pc, "preemptionPolicy");
  if (!policy.is_null()) {
    std::string p = policy.is_string() ? policy.get<std::string>() : "";
    if (p != "PreemptLowerPriority" && p != "Never") {
      errs.push_back(
          FieldNotSupported("preemptionPolicy", policy, {"Never", "PreemptLowerPriority"}));
    }
  }
  return errs;
}

std::vector<FieldCause> ValidatePriorityClassUpdate(const Json& old_pc, const Json& new_pc) {
  std::vector<FieldCause> errs;
  if (PreemptionPolicy(old_pc) != PreemptionPolicy(new_pc)) {
    errs.push_back(
        FieldInvalid("preemptionPolicy", PreemptionPolicy(new_pc), "field is immutable"));
  }
  if (Get(old_pc, "value") != Get(new_pc, "value")) {
    errs.push_back(FieldForbidden("value", "may not be changed in an update."));
  }
  return errs;
}

}  // namespace capstan::kube
