#include "kube-adapter/object_validation.h"

#include <algorithm>
#include <cctype>

#include "kube-adapter/quantity.h"

namespace capstan::kube {
namespace {

constexpr char kDNS1123LabelFmt[] = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr char kDNS1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

// apimachinery validation.RegexError.
std::string RegexError(const std::string& msg, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  std::string out = msg;
  if (examples.empty()) return out + " (regex used for validation is '" + fmt + "')";
  out += " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += " or ";
    out += "'" + examples[i] + "', ";
  }
  return out + "regex used for validation is '" + fmt + "')";
}

std::string MaxLenError(size_t n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesLabel(const std::string& s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool MatchesSubdomain(const std::string& s) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!MatchesLabel(
            s.substr(start, dot == std::string::npos ? std::string::npos : dot - start))) {
      return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesQualifiedPart(const std::string& s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string GetString(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : "";
}

// A generateName is validated with a trailing '-' masked, since a random
// suffix follows it.
std::string MaskTrailingDash(const std::string& s) {
  if (s.size() > 1 && s.back() == '-') return s.substr(0, s.size() - 1) + "a";
  return s;
}

std::vector<std::string> ValidateName(const std::string& name, const std::string& rule,
                                      bool prefix) {
  if (rule == "path-segment") {
    std::vector<std::string> errs;
    if (!prefix && (name == "." || name == "..")) return {"may not be '" + name + "'"};
    for (const char* bad : {"/", "%"}) {
      if (name.find(bad) != std::string::npos)
        errs.push_back(std::string("may not contain '") + bad + "'");
    }
    return errs;
  }
  std::string n = prefix ? MaskTrailingDash(name) : name;
  if (rule == "dns1123-label") return IsDNS1123Label(n);
  return IsDNS1123Subdomain(n);
}

bool IsNativeResource(const std::string& name) {
  return name.find('/') == std::string::npos || name.find("kubernetes.io/") != std::string::npos;
}

bool IsOvercommitAllowed(const std::string& name) {
  return IsNativeResource(name) && name.rfind("hugepages-", 0) != 0;
}

void ValidateResources(const Json& resources, const std::string& path,
                       std::vector<FieldCause>* errs) {
  if (!resources.is_object()) return;
  const std::string lim_path = path + ".limits";
  const std::string req_path = path + ".requests";
  static const Json kEmpty = Json::object();
  auto lim_it = resources.find("limits");
  auto req_it = resources.find("requests");
  const Json& limits = (lim_it != resources.end() && lim_it->is_object()) ? *lim_it : kEmpty;
  const Json& requests = (req_it != resources.end() && req_it->is_object()) ? *req_it : kEmpty;
  // Parses one entry, reporting an unparsable or negative quantity.
  auto parse = [errs](const std::string& fld, const Json& v, Quantity* q) {
    std::string error;
    if (!Quantity::FromJson(v, q, &error)) {
      errs->push_back(FieldInvalid(fld, v, error));
      return false;
    }
    if (q->Sign() < 0) {
      errs->push_back(FieldInvalid(fld, q->String(), "must be greater than or equal to 0"));
    }
    return true;
  };
  for (const auto& [name, v] : limits.items()) {
    Quantity q;
    parse(lim_path + "[" + name + "]", v, &q);
  }
  for (const auto& [name, v] : requests.items()) {
    Quantity q;
    if (!parse(req_path + "[" + name + "]", v, &q)) continue;
    auto lim = limits.find(name);
    if (lim != limits.end()) {
      Quantity l;
      std::string error;
      if (!Quantity::FromJson(*lim, &l, &error)) continue;
      int cmp = q.Compare(l);
      if (cmp != 0 && !IsOvercommitAllowed(name)) {
        errs->push_back(FieldInvalid(req_path, q.String(), "must be equal to " + name + " limit"));
      } else if (cmp > 0) {
        errs->push_back(
            FieldInvalid(req_path, q.String(), "must be less than or equal to " + name + " limit"));
      }
    } else if (!IsOvercommitAllowed(name)) {
      errs->push_back(
          FieldRequired(lim_path, "Limit must be set for non overcommitable resources"));
    }
  }
}

void CheckImmutable(const Json& old_meta, const Json& new_meta, const char* key, bool absent_ok,
                    std::vector<FieldCause>* errs) {
  static const Json kNull;
  auto o = old_meta.find(key);
  auto n = new_meta.find(key);
  const Json& ov = o == old_meta.end() ? kNull : *o;
  const Json& nv = n == new_meta.end() ? kNull : *n;
  if (absent_ok && nv.is_null()) return;
  // An absent string field and "" are the same Go value.
  bool same = ov == nv || ((ov.is_null() || ov == "") && (nv.is_null() || nv == ""));
  if (!same) {
    errs->push_back(FieldInvalid(std::string("metadata.") + key, nv.is_null() ? Json("") : nv,
                                 "field is immutable"));
  }
}

// An object's spec as nlohmann::json, whose std::map objects compare without
// regard to key order (Kubernetes compares decoded structs).
nlohmann::json SpecOf(const Json& obj) {
  if (obj.is_object() && obj.contains("spec") && obj["spec"].is_object()) {
    return nlohmann::json::parse(obj["spec"].dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return nlohmann::json::object();
}

}  // namespace

std::vector<std::string> IsDNS1123Label(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesLabel(value)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character",
        kDNS1123LabelFmt, {"my-name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchesSubdomain(value)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character",
        kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(const std::string& value) {
  std::vector<std::string> errs;
  std::string name;
  size_t slash = value.find('/');
  if (slash == std::string::npos) {
    name = value;
  } else if (value.find('/', slash + 1) == std::string::npos) {
    std::string prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const auto& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  } else {
    errs.push_back(
        "a qualified name " +
        RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchesQualifiedPart(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!value.empty() && !MatchesQualifiedPart(value)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character",
        std::string("(") + kQualifiedNameFmt + ")?", {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<FieldCause> ValidateObjectMeta(const Json& obj, bool namespaced,
                                           const std::string& name_rule) {
  std::vector<FieldCause> errs;
  static const Json kEmpty = Json::object();
  const Json& meta = (obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object())
                         ? obj["metadata"]
                         : kEmpty;
  const std::string name = GetString(meta, "name");
  const std::string generate_name = GetString(meta, "generateName");
  if (!generate_name.empty()) {
    for (const auto& m : ValidateName(generate_name, name_rule, true)) {
      errs.push_back(FieldInvalid("metadata.generateName", generate_name, m));
    }
  }
  if (name.empty()) {
    if (generate_name.empty()) {
      errs.push_back(FieldRequired("metadata.name", "name or generateName is required"));
    }
  } else {
    for (const auto& m : ValidateName(name, name_rule, false)) {
      errs.push_back(FieldInvalid("metadata.name", name, m));
    }
  }
  const std::string ns = GetString(meta, "namespace");
  if (namespaced) {
    if (ns.empty()) {
      errs.push_back(FieldRequired("metadata.namespace", ""));
    } else {
      for (const auto& m : IsDNS1123Label(ns))
        errs.push_back(FieldInvalid("metadata.namespace", ns, m));
    }
  } else if (!ns.empty()) {
    errs.push_back(FieldForbidden("metadata.namespace", "not allowed on this type"));
  }
  if (auto g = meta.find("generation"); g != meta.end() && g->is_number() && g->get<double>() < 0) {
    errs.push_back(FieldInvalid("metadata.generation", *g, "must be greater than or equal to 0"));
  }
  if (auto labels = meta.find("labels"); labels != meta.end() && labels->is_object()) {
    for (const auto& [k, v] : labels->items()) {
      for (const auto& m : IsQualifiedName(k))
        errs.push_back(FieldInvalid("metadata.labels", k, m));
      if (v.is_string()) {
        for (const auto& m : IsValidLabelValue(v.get<std::string>())) {
          errs.push_back(FieldInvalid("metadata.labels", v, m));
        }
      }
    }
  }
  if (auto ann = meta.find("annotations"); ann != meta.end() && ann->is_object()) {
    size_t total = 0;
    for (const auto& [k, v] : ann->items()) {
      std::string lower = k;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const auto& m : IsQualifiedName(lower))
        errs.push_back(FieldInvalid("metadata.annotations", k, m));
      total += k.size() + (v.is_string() ? v.get<std::string>().size() : 0);
    }
    if (total > kTotalAnnotationSizeLimit) {
      errs.push_back(
          {"FieldValueTooLong",
           "Too long: must have at most " + std::to_string(kTotalAnnotationSizeLimit) + " bytes",
           "metadata.annotations"});
    }
  }
  return errs;
}

std::vector<FieldCause> ValidatePodSpecResources(const Json& pod_spec, const std::string& path) {
  std::vector<FieldCause> errs;
  if (!pod_spec.is_object()) return errs;
  for (const char* list : {"initContainers", "containers"}) {
    auto it = pod_spec.find(list);
    if (it == pod_spec.end() || !it->is_array()) continue;
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& c = (*it)[i];
      if (!c.is_object() || !c.contains("resources")) continue;
      ValidateResources(c["resources"], path + "." + list + "[" + std::to_string(i) + "].resources",
                        &errs);
    }
  }
  return errs;
}

std::vector<FieldCause> ValidateUpdateMeta(const Json& old_obj, const Json& new_obj) {
  std::vector<FieldCause> errs;
  static const Json kEmpty = Json::object();
  auto meta = [](const Json& o) -> const Json& {
    if (o.is_object()) {
      auto it = o.find("metadata");
      if (it != o.end() && it->is_object()) return *it;
    }
    return kEmpty;
  };
  const Json& om = meta(old_obj);
  const Json& nm = meta(new_obj);
  CheckImmutable(om, nm, "name", false, &errs);
  CheckImmutable(om, nm, "namespace", false, &errs);
  CheckImmutable(om, nm, "uid", true, &errs);
  CheckImmutable(om, nm, "creationTimestamp", true, &errs);
  return errs;
}

std::vector<FieldCause> ValidatePodSpecUpdate(const Json& old_pod, const Json& new_pod) {
  std::vector<FieldCause> errs;
  const nlohmann::json old_spec = SpecOf(old_pod);
  nlohmann::json munged = SpecOf(new_pod);
  auto list = [](const nlohmann::json& spec, const char* key) {
    auto it = spec.find(key);
    return it != spec.end() && it->is_array() ? *it : nlohmann::json::array();
  };
  for (const char* key : {"containers", "initContainers"}) {
    const nlohmann::json olds = list(old_spec, key);
    nlohmann::json news = list(munged, key);
    if (olds.size() != news.size()) {
      errs.push_back(FieldForbidden(std::string("spec.") + key,
                                    "pod updates may not add or remove containers"));
      return errs;
    }
    for (size_t i = 0; i < news.size(); ++i) {
      if (!news[i].is_object() || !olds[i].is_object()) continue;
      auto img = olds[i].find("image");
      if (img != olds[i].end()) {
        news[i]["image"] = *img;
      } else {
        news[i].erase("image");
      }
    }
    if (munged.contains(key)) munged[key] = news;
  }
  // activeDeadlineSeconds: set from nil, or lowered; never unset or raised.
  auto deadline = [](const nlohmann::json& spec) -> const nlohmann::json* {
    auto it = spec.find("activeDeadlineSeconds");
    return it != spec.end() && it->is_number_integer() ? &*it : nullptr;
  };
  const nlohmann::json* old_deadline = deadline(old_spec);
  const nlohmann::json* new_deadline = deadline(munged);
  if (new_deadline && old_deadline && old_deadline->get<int64_t>() < new_deadline->get<int64_t>()) {
    errs.push_back(FieldInvalid("spec.activeDeadlineSeconds", Json::parse(new_deadline->dump()),
                                "must be less than or equal to previous value"));
    return errs;
  }
  if (!new_deadline && old_deadline) {
    errs.push_back(FieldInvalid("spec.activeDeadlineSeconds", Json(),
                                "must not update from a positive integer to nil value"));
  }
  if (old_deadline) {
    munged["activeDeadlineSeconds"] = *old_deadline;
  } else {
    munged.erase("activeDeadlineSeconds");
  }
  // tolerations: existing ones stay, new ones may be added.
  const nlohmann::json old_tols = list(old_spec, "tolerations");
  const nlohmann::json new_tols = list(munged, "tolerations");
  for (const auto& t : old_tols) {
    if (std::find(new_tols.begin(), new_tols.end(), t) == new_tols.end()) {
      errs.push_back(FieldForbidden("spec.tolerations",
                                    "existing toleration can not be modified except its "
                                    "tolerationSeconds"));
      break;
    }
  }
  if (old_spec.contains("tolerations")) {
    munged["tolerations"] = old_spec["tolerations"];
  } else {
    munged.erase("tolerations");
  }
  if (munged != old_spec) {
    errs.push_back(FieldForbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`, "
        "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` "
        "(only additions to existing tolerations)"));
  }
  return errs;
}

std::vector<FieldCause> ValidatePvcSpecUpdate(const Json& old_pvc, const Json& new_pvc) {
  std::vector<FieldCause> errs;
  auto storage = [](const nlohmann::json& spec, Quantity* q) {
    const auto p = nlohmann::json::json_pointer("/resources/requests/storage");
    if (!spec.contains(p)) return false;
    std::string err;
    return Quantity::FromJson(Json::parse(spec[p].dump()), q, &err);
  };
  nlohmann::json old_spec = SpecOf(old_pvc);
  nlohmann::json new_spec = SpecOf(new_pvc);
  // The volume binder sets volumeName once.
  if (!old_spec.contains("volumeName") || old_spec["volumeName"] == "") {
    if (new_spec.contains("volumeName")) {
      old_spec["volumeName"] = new_spec["volumeName"];
    } else {
      old_spec.erase("volumeName");
    }
  }
  const bool bound = new_pvc.is_object() && new_pvc.contains("status") &&
                     new_pvc["status"].is_object() &&
                     new_pvc["status"].value("phase", "") == "Bound";
  const auto storage_ptr = nlohmann::json::json_pointer("/resources/requests/storage");
  if (bound && new_spec.contains(storage_ptr)) {
    if (old_spec.contains(storage_ptr)) {
      new_spec[storage_ptr] = old_spec[storage_ptr];
    } else {
      new_spec[storage_ptr.parent_pointer()].erase("storage");
    }
  }
  if (new_spec != old_spec) {
    errs.push_back(FieldForbidden(
        "spec", "is immutable after creation except resources.requests for bound claims"));
  }
  Quantity old_size, new_size;
  if (storage(SpecOf(old_pvc), &old_size) && storage(SpecOf(new_pvc), &new_size) &&
      new_size < old_size) {
    errs.push_back(FieldForbidden("spec.resources.requests.storage",
                                  "field can not be less than previous value"));
  }
  return errs;
}

}  // namespace capstan::kube
