#include "kube-adapter/limit_ranger.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "kube-adapter/quantity.h"

namespace capstan::kube {
namespace {

constexpr char kLimitRangerAnnotation[] = "kubernetes.io/limit-ranger";
constexpr int64_t kMaxMilliValue = INT64_MAX / 1000;

// Member `key` of `obj` if obj is an object that has it, else a shared null.
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

// Pointers to every container then every init container of a pod spec, with
// whether each is an init container.
std::vector<std::pair<Json*, bool>> MutableContainers(Json* spec) {
  std::vector<std::pair<Json*, bool>> out;
  if (!spec->is_object()) return out;
  for (const char* list : {"containers", "initContainers"}) {
    auto it = spec->find(list);
    if (it == spec->end() || !it->is_array()) continue;
    for (auto& c : *it) {
      if (c.is_object()) out.push_back({&c, std::string(list) == "initContainers"});
    }
  }
  return out;
}

std::string FormatRatio(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%f", v);  // Go's %f
  return buf;
}

// Kubernetes' requestLimitEnforcedValues: milli-values unless they could overflow.
void EnforcedValues(const Quantity* req, const Quantity* lim, const Quantity& enforced, int64_t* r,
                    int64_t* l, int64_t* e) {
  Quantity zero;
  const Quantity& rq = req ? *req : zero;
  const Quantity& lq = lim ? *lim : zero;
  *r = rq.Value(), *l = lq.Value(), *e = enforced.Value();
  if (*r <= kMaxMilliValue && *l <= kMaxMilliValue && *e <= kMaxMilliValue) {
    *r = rq.MilliValue(), *l = lq.MilliValue(), *e = enforced.MilliValue();
  }
}

const Quantity* Find(const ResourceList& list, const std::string& k) {
  auto it = list.find(k);
  return it == list.end() ? nullptr : &it->second;
}

std::optional<std::string> MinConstraint(const std::string& type, const std::string& k,
                                         const Quantity& enforced, const ResourceList& requests,
                                         const ResourceList& limits) {
  const Quantity* req = Find(requests, k);
  const Quantity* lim = Find(limits, k);
  int64_t r, l, e;
  EnforcedValues(req, lim, enforced, &r, &l, &e);
  std::string head = "minimum " + k + " usage per " + type + " is " + enforced.String();
  if (!req) return head + ".  No request is specified";
  if (r < e) return head + ", but request is " + req->String();
  if (lim && l < e) return head + ", but limit is " + lim->String();
  return std::nullopt;
}

std::optional<std::string> MaxConstraint(const std::string& type, const std::string& k,
                                         const Quantity& enforced, const ResourceList& requests,
                                         const ResourceList& limits) {
  const Quantity* req = Find(requests, k);
  const Quantity* lim = Find(limits, k);
  int64_t r, l, e;
  EnforcedValues(req, lim, enforced, &r, &l, &e);
  std::string head = "maximum " + k + " usage per " + type + " is " + enforced.String();
  if (!lim) return head + ".  No limit is specified";
  if (l > e) return head + ", but limit is " + lim->String();
  if (req && r > e) return head + ", but request is " + req->String();
  return std::nullopt;
}

// PVCs: max is enforced against the request (there is no limit).
std::optional<std::string> MaxRequestConstraint(const std::string& type, const std::string& k,
                                                const Quantity& enforced,
                                                const ResourceList& requests) {
  const Quantity* req = Find(requests, k);
  int64_t r, l, e;
  EnforcedValues(req, nullptr, enforced, &r, &l, &e);
  std::string head = "maximum " + k + " usage per " + type + " is " + enforced.String();
  if (!req) return head + ".  No request is specified";
  if (r > e) return head + ", but request is " + req->String();
  return std::nullopt;
}

std::optional<std::string> RatioConstraint(const std::string& type, const std::string& k,
                                           const Quantity& enforced, const ResourceList& requests,
                                           const ResourceList& limits) {
  const Quantity* req = Find(requests, k);
  const Quantity* lim = Find(limits, k);
  int64_t r, l, e;
  EnforcedValues(req, lim, enforced, &r, &l, &e);
  std::string head =
      k + " max limit to request ratio per " + type + " is " + enforced.String() + ", but ";
  if (!req || r == 0) return head + "no request is specified or request is 0";
  if (!lim || l == 0) return head + "no limit is specified or limit is 0";
  double observed = static_cast<double>(l) / static_cast<double>(r);
  double display = observed;
  double max_ratio = static_cast<double>(enforced.Value());
  if (enforced.Value() <= kMaxMilliValue) {
    observed *= 1000;
    max_ratio = static_cast<double>(enforced.MilliValue());
  }
  if (observed > max_ratio) return head + "provided ratio is " + FormatRatio(display);
  return std::nullopt;
}

// min, max and maxLimitRequestRatio of one LimitRangeItem against requests/limits.
void CheckItem(const Json& item, const std::string& type, const ResourceList& requests,
               const ResourceList& limits, std::vector<std::string>* errs) {
  for (const auto& [k, v] : ParseResourceList(Get(item, "min"))) {
    if (auto e = MinConstraint(type, k, v, requests, limits)) errs->push_back(*e);
  }
  for (const auto& [k, v] : ParseResourceList(Get(item, "max"))) {
    if (auto e = MaxConstraint(type, k, v, requests, limits)) errs->push_back(*e);
  }
  for (const auto& [k, v] : ParseResourceList(Get(item, "maxLimitRequestRatio"))) {
    if (auto e = RatioConstraint(type, k, v, requests, limits)) errs->push_back(*e);
  }
}

// 1.20's sum(): a key is present only if every input sets it; cpu is summed in
// milli-units, everything else in whole units, and the result is DecimalSI.
ResourceList SumForPod(const std::vector<ResourceList>& inputs) {
  std::set<std::string> keys;
  for (const auto& in : inputs) {
    for (const auto& [k, v] : in) keys.insert(k);
  }
  ResourceList out;
  for (const auto& key : keys) {
    int64_t total = 0;
    bool set = true;
    for (const auto& in : inputs) {
      const Quantity* q = Find(in, key);
      if (!q) {
        set = false;
        continue;
      }
      total += key == "cpu" ? q->MilliValue() : q->Value();
    }
    if (set) out[key] = key == "cpu" ? Quantity::FromMilli(total) : Quantity::FromValue(total);
  }
  return out;
}

ResourceList ContainerList(const Json& container, const char* which) {
  return ParseResourceList(Get(Get(container, "resources"), which));
}

std::vector<std::string> ValidatePodAgainst(const Json& limit_range, const Json& pod) {
  std::vector<std::string> errs;
  const Json& spec = Get(pod, "spec");
  std::vector<const Json*> containers, inits;
  for (const auto& c : Get(spec, "containers")) {
    if (c.is_object()) containers.push_back(&c);
  }
  for (const auto& c : Get(spec, "initContainers")) {
    if (c.is_object()) inits.push_back(&c);
  }
  const Json& limits = Get(Get(limit_range, "spec"), "limits");
  if (!limits.is_array()) return errs;
  for (const auto& item : limits) {
    std::string type = GetString(item, "type");
    if (type == "Container") {
      for (const auto* group : {&containers, &inits}) {
        for (const Json* c : *group) {
          CheckItem(item, type, ContainerList(*c, "requests"), ContainerList(*c, "limits"), &errs);
        }
      }
    } else if (type == "Pod") {
      std::vector<ResourceList> reqs, lims;
      for (const Json* c : containers) {
        reqs.push_back(ContainerList(*c, "requests"));
        lims.push_back(ContainerList(*c, "limits"));
      }
      ResourceList pod_req = SumForPod(reqs), pod_lim = SumForPod(lims);
      // max(sum of containers, each init container)
      for (const Json* c : inits) {
        for (const auto& [k, v] : ContainerList(*c, "requests")) {
          auto it = pod_req.find(k);
          if (it == pod_req.end() || v.Compare(it->second) > 0) pod_req[k] = v;
        }
        for (const auto& [k, v] : ContainerList(*c, "limits")) {
          auto it = pod_lim.find(k);
          if (it == pod_lim.end() || v.Compare(it->second) > 0) pod_lim[k] = v;
        }
      }
      CheckItem(item, type, pod_req, pod_lim, &errs);
    }
  }
  return errs;
}

// Adds missing defaults to one container's resources; returns the annotation
// parts ("cpu, memory request for container x", then the limit part).
void MergeContainerDefaults(Json* container, bool init, const ResourceList& def_requests,
                            const ResourceList& def_limits, std::vector<std::string>* notes) {
  const std::string name = GetString(*container, "name");
  const std::string who = std::string(init ? "init container " : "container ") + name;
  if (def_requests.empty() && def_limits.empty()) return;
  Json& res = (*container)["resources"];
  if (!res.is_object()) res = Json::object();
  auto merge = [&](const char* which, const ResourceList& defaults) {
    std::vector<std::string> set;
    for (const auto& [k, v] : defaults) {
      Json& list = res[which];
      if (!list.is_object()) list = Json::object();
      if (!list.contains(k)) {
        list[k] = v.String();
        set.push_back(k);  // std::map order: already sorted
      }
    }
    if (res.contains(which) && res[which].is_object() && res[which].empty()) res.erase(which);
    return set;
  };
  std::vector<std::string> limits_set = merge("limits", def_limits);
  std::vector<std::string> requests_set = merge("requests", def_requests);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
    return s;
  };
  if (!requests_set.empty()) notes->push_back(join(requests_set) + " request for " + who);
  if (!limits_set.empty()) notes->push_back(join(limits_set) + " limit for " + who);
  if (res.empty()) container->erase("resources");
}

void MutatePod(const Json& limit_range, Json* pod) {
  ResourceList def_requests, def_limits;
  const Json& limits = Get(Get(limit_range, "spec"), "limits");
  if (!limits.is_array()) return;
  for (const auto& item : limits) {
    if (GetString(item, "type") != "Container") continue;
    for (const auto& [k, v] : ParseResourceList(Get(item, "defaultRequest"))) def_requests[k] = v;
    for (const auto& [k, v] : ParseResourceList(Get(item, "default"))) def_limits[k] = v;
  }
  if (!pod->is_object() || !pod->contains("spec")) return;
  std::vector<std::string> notes;
  for (auto [c, init] : MutableContainers(&(*pod)["spec"])) {
    MergeContainerDefaults(c, init, def_requests, def_limits, &notes);
  }
  if (notes.empty()) return;
  std::string val = "LimitRanger plugin set: ";
  for (size_t i = 0; i < notes.size(); i++) val += (i ? "; " : "") + notes[i];
  Json& meta = (*pod)["metadata"];
  if (!meta.is_object()) meta = Json::object();
  Json& ann = meta["annotations"];
  if (!ann.is_object()) ann = Json::object();
  ann[kLimitRangerAnnotation] = val;
}

bool IsStandardContainerResource(const std::string& k) {
  return k == "cpu" || k == "memory" || k == "ephemeral-storage" || k.rfind("hugepages-", 0) == 0;
}

}  // namespace

void DefaultContainerRequestsFromLimits(Json* pod_spec) {
  for (auto [c, init] : MutableContainers(pod_spec)) {
    auto res = c->find("resources");
    if (res == c->end() || !res->is_object()) continue;
    for (const char* which : {"limits", "requests"}) {
      auto list = res->find(which);
      if (list != res->end()) CanonicalizeQuantities(&*list);
    }
    auto found = res->find("limits");
    if (found == res->end() || !found->is_object() || found->empty()) continue;
    const Json lim = *found;  // copy: inserting "requests" may move the members
    Json& req = (*res)["requests"];
    if (!req.is_object()) req = Json::object();
    for (auto it = lim.begin(); it != lim.end(); ++it) {
      if (!req.contains(it.key())) req[it.key()] = it.value();
    }
  }
}

void DefaultLimitRange(Json* limit_range) {
  if (!limit_range->is_object()) return;
  auto spec = limit_range->find("spec");
  if (spec == limit_range->end() || !spec->is_object()) return;
  auto limits = spec->find("limits");
  if (limits == spec->end() || !limits->is_array()) return;
  for (auto& item : *limits) {
    if (!item.is_object()) continue;
    for (const char* field : {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"}) {
      auto m = item.find(field);
      if (m != item.end()) CanonicalizeQuantities(&*m);
    }
    if (GetString(item, "type") != "Container") continue;
    Json def =
        item.contains("default") && item["default"].is_object() ? item["default"] : Json::object();
    Json def_req = item.contains("defaultRequest") && item["defaultRequest"].is_object()
                       ? item["defaultRequest"]
                       : Json::object();
    auto fill = [](Json* dst, const Json& src) {
      if (!src.is_object()) return;
      for (auto it = src.begin(); it != src.end(); ++it) {
        if (!dst->contains(it.key())) (*dst)[it.key()] = it.value();
      }
    };
    fill(&def, Get(item, "max"));
    fill(&def_req, def);
    fill(&def_req, Get(item, "min"));
    if (!def.empty()) item["default"] = def;
    if (!def_req.empty()) item["defaultRequest"] = def_req;
  }
}

std::vector<FieldCause> ValidateLimitRange(const Json& limit_range) {
  std::vector<FieldCause> errs;
  const Json& limits = Get(Get(limit_range, "spec"), "limits");
  if (!limits.is_null() && !limits.is_array()) {
    errs.push_back(FieldInvalid("spec.limits", limits, "must be a list"));
    return errs;
  }
  if (limits.is_null()) return errs;
  std::set<std::string> types;
  for (size_t i = 0; i < limits.size(); i++) {
    const Json& item = limits[i];
    const std::string idx = "spec.limits[" + std::to_string(i) + "]";
    const std::string type = GetString(item, "type");
    if (type.empty()) {
      errs.push_back(FieldRequired(idx + ".type", ""));
    } else if (!types.insert(type).second) {
      errs.push_back(
          {"FieldValueDuplicate", "Duplicate value: " + Json(type).dump(), idx + ".type"});
    }
    const bool container_like = type == "Pod" || type == "Container";
    // Reads one map, validating names and quantity syntax.
    auto read = [&](const char* field, ResourceList* out) {
      const Json& m = Get(item, field);
      if (!m.is_object()) return;
      for (auto it = m.begin(); it != m.end(); ++it) {
        std::string path = idx + "." + field + "[" + it.key() + "]";
        if (container_like) {
          const std::string& k = it.key();
          if (k.find('/') == std::string::npos && !IsStandardContainerResource(k)) {
            errs.push_back(FieldInvalid(path, k, "must be a standard resource for containers"));
          }
        }
        Quantity q;
        std::string err;
        if (!Quantity::FromJson(it.value(), &q, &err)) {
          errs.push_back(FieldInvalid(path, it.value(), err));
          continue;
        }
        (*out)[it.key()] = q;
      }
    };
    ResourceList min, max, defaults, default_requests, ratios;
    read("max", &max);
    read("min", &min);
    if (type == "Pod") {
      if (Get(item, "default").is_object() && !Get(item, "default").empty()) {
        errs.push_back(
            FieldForbidden(idx + ".default", "may not be specified when `type` is 'Pod'"));
      }
      if (Get(item, "defaultRequest").is_object() && !Get(item, "defaultRequest").empty()) {
        errs.push_back(
            FieldForbidden(idx + ".defaultRequest", "may not be specified when `type` is 'Pod'"));
      }
    } else {
      read("default", &defaults);
      read("defaultRequest", &default_requests);
    }
    if (type == "PersistentVolumeClaim" && !min.count("storage") && !max.count("storage")) {
      errs.push_back(FieldRequired(
          idx + ".limits",
          "either minimum or maximum storage value is required, but neither was provided"));
    }
    read("maxLimitRequestRatio", &ratios);

    std::set<std::string> keys;
    for (const auto* l : {&min, &max, &defaults, &default_requests, &ratios}) {
      for (const auto& [k, v] : *l) keys.insert(k);
    }
    for (const auto& k : keys) {
      const Quantity* mn = Find(min, k);
      const Quantity* mx = Find(max, k);
      const Quantity* df = Find(defaults, k);
      const Quantity* dr = Find(default_requests, k);
      const Quantity* ratio = Find(ratios, k);
      auto path = [&](const char* f) { return idx + "." + f + "[" + k + "]"; };
      if (mn && mx && mn->Compare(*mx) > 0) {
        errs.push_back(FieldInvalid(
            path("min"), mn->String(),
            "min value " + mn->String() + " is greater than max value " + mx->String()));
      }
      if (dr && mn && mn->Compare(*dr) > 0) {
        errs.push_back(FieldInvalid(path("defaultRequest"), dr->String(),
                                    "min value " + mn->String() +
                                        " is greater than default request value " + dr->String()));
      }
      if (dr && mx && dr->Compare(*mx) > 0) {
        errs.push_back(FieldInvalid(path("defaultRequest"), dr->String(),
                                    "default request value " + dr->String() +
                                        " is greater than max value " + mx->String()));
      }
      if (dr && df && dr->Compare(*df) > 0) {
        errs.push_back(FieldInvalid(path("defaultRequest"), dr->String(),
                                    "default request value " + dr->String() +
                                        " is greater than default limit value " + df->String()));
      }
      if (df && mn && mn->Compare(*df) > 0) {
        errs.push_back(FieldInvalid(
            path("default"), mn->String(),
            "min value " + mn->String() + " is greater than default value " + df->String()));
      }
      if (df && mx && df->Compare(*mx) > 0) {
        errs.push_back(FieldInvalid(
            path("default"), mx->String(),
            "default value " + df->String() + " is greater than max value " + mx->String()));
      }
      if (ratio && ratio->Compare(Quantity::FromValue(1)) < 0) {
        errs.push_back(FieldInvalid(path("maxLimitRequestRatio"), ratio->String(),
                                    "ratio " + ratio->String() + " is less than 1"));
      }
      if (ratio && mn && mx) {
        double ratio_value = static_cast<double>(ratio->Value());
        int64_t min_value = mn->Value(), max_value = mx->Value();
        if (ratio->Value() < kMaxMilliValue && min_value < kMaxMilliValue &&
            max_value < kMaxMilliValue) {
          ratio_value = static_cast<double>(ratio->MilliValue()) / 1000;
          min_value = mn->MilliValue();
          max_value = mx->MilliValue();
        }
        double limit = static_cast<double>(max_value) / static_cast<double>(min_value);
        if (ratio_value > limit) {
          errs.push_back(FieldInvalid(
              path("maxLimitRequestRatio"), ratio->String(),
              "ratio " + ratio->String() + " is greater than max/min = " + FormatRatio(limit)));
        }
      }
      // Resources that cannot be overcommitted (hugepages, extended resources).
      bool native =
          k.find('/') == std::string::npos || k.find("kubernetes.io/") != std::string::npos;
      bool overcommit = native && k.rfind("hugepages-", 0) != 0;
      if (!overcommit && df && dr && df->Compare(*dr) != 0) {
        errs.push_back(FieldInvalid(path("defaultRequest"), dr->String(),
                                    "default value " + df->String() +
                                        " must equal to defaultRequest value " + dr->String() +
                                        " in " + k));
      }
    }
  }
  return errs;
}

std::optional<std::string> AdmitPodLimitRanges(const std::vector<Json>& limit_ranges, Json* pod) {
  for (const auto& lr : limit_ranges) MutatePod(lr, pod);
  for (const auto& lr : limit_ranges) {
    std::vector<std::string> errs = ValidatePodAgainst(lr, *pod);
    if (!errs.empty()) return AggregateErrors(errs);
  }
  return std::nullopt;
}

std::optional<std::string> AdmitPvcLimitRanges(const std::vector<Json>& limit_ranges,
                                               const Json& pvc) {
  ResourceList requests = ParseResourceList(Get(Get(Get(pvc, "spec"), "resources"), "requests"));
  for (const auto& lr : limit_ranges) {
    std::vector<std::string> errs;
    const Json& limits = Get(Get(lr, "spec"), "limits");
    if (!limits.is_array()) continue;
    for (const auto& item : limits) {
      const std::string type = GetString(item, "type");
      if (type != "PersistentVolumeClaim") continue;
      for (const auto& [k, v] : ParseResourceList(Get(item, "min"))) {
        if (auto e = MinConstraint(type, k, v, requests, ResourceList())) errs.push_back(*e);
      }
      for (const auto& [k, v] : ParseResourceList(Get(item, "max"))) {
        if (auto e = MaxRequestConstraint(type, k, v, requests)) errs.push_back(*e);
      }
    }
    if (!errs.empty()) return AggregateErrors(errs);
  }
  return std::nullopt;
}

}  // namespace capstan::kube
