#include "kube-adapter/rbac_validation.h"

#include <string>

#include "kube-adapter/rbac_policy.h"

namespace capstan::kube {
namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

const Json& Field(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

size_t ListSize(const Json& obj, const char* key) {
  const Json& v = Field(obj, key);
  return v.is_array() ? v.size() : 0;
}

// Go's %#v of a []string, which field.Invalid prints for list values.
std::string GoSliceLiteral(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ", ";
    out += GoQuote(v[i]);
  }
  return out + "}";
}

FieldCause InvalidRaw(const std::string& field, const std::string& value_text,
                      const std::string& detail) {
  return {"FieldValueInvalid", "Invalid value: " + value_text + ": " + detail, field};
}

// path.IsValidPathSegmentName, the only name rule RBAC objects have.
void ValidatePathSegmentName(const std::string& name, const std::string& field,
                             std::vector<FieldCause>* errs) {
  if (name == "." || name == "..") {
    errs->push_back(FieldInvalid(field, name, "may not be '" + name + "'"));
    return;
  }
  if (name.find('/') != std::string::npos) {
    errs->push_back(FieldInvalid(field, name, "may not contain '/'"));
  }
  if (name.find('%') != std::string::npos) {
    errs->push_back(FieldInvalid(field, name, "may not contain '%'"));
  }
}

// The parts of ValidateObjectMeta RBAC objects can trip over.
void ValidateMeta(const Json& obj, bool namespaced, std::vector<FieldCause>* errs) {
  const Json& meta = Field(obj, "metadata");
  std::string name = JsonString(meta, "name");
  std::string generate = JsonString(meta, "generateName");
  if (name.empty() && generate.empty()) {
    errs->push_back(FieldRequired("metadata.name", "name or generateName is required"));
  } else if (!name.empty()) {
    ValidatePathSegmentName(name, "metadata.name", errs);
  }
  std::string ns = JsonString(meta, "namespace");
  if (namespaced && ns.empty()) {
    errs->push_back(FieldRequired("metadata.namespace", ""));
  } else if (!namespaced && !ns.empty()) {
    errs->push_back(FieldForbidden("metadata.namespace", "not allowed on this type"));
  }
}

void ValidateRule(const Json& rule, bool namespaced, const std::string& path,
                  std::vector<FieldCause>* errs) {
  if (ListSize(rule, "verbs") == 0) {
    errs->push_back(FieldRequired(path + ".verbs", "verbs must contain at least one value"));
  }
  if (ListSize(rule, "nonResourceURLs") > 0) {
    std::string urls = GoSliceLiteral(JsonStringList(rule, "nonResourceURLs"));
    if (namespaced) {
      errs->push_back(InvalidRaw(path + ".nonResourceURLs", urls,
                                 "namespaced rules cannot apply to non-resource URLs"));
    }
    if (ListSize(rule, "apiGroups") > 0 || ListSize(rule, "resources") > 0 ||
        ListSize(rule, "resourceNames") > 0) {
      errs->push_back(InvalidRaw(path + ".nonResourceURLs", urls,
                                 "rules cannot apply to both regular resources and non-resource "
                                 "URLs"));
    }
    return;
  }
  if (ListSize(rule, "apiGroups") == 0) {
    errs->push_back(
        FieldRequired(path + ".apiGroups", "resource rules must supply at least one api group"));
  }
  if (ListSize(rule, "resources") == 0) {
    errs->push_back(
        FieldRequired(path + ".resources", "resource rules must supply at least one resource"));
  }
}

void ValidateRules(const Json& role, bool namespaced, std::vector<FieldCause>* errs) {
  const Json& rules = Field(role, "rules");
  if (!rules.is_array()) return;
  for (size_t i = 0; i < rules.size(); ++i) {
    ValidateRule(rules[i], namespaced, "rules[" + std::to_string(i) + "]", errs);
  }
}

void ValidateSelector(const Json& sel, const std::string& path, std::vector<FieldCause>* errs) {
  const Json& exprs = Field(sel, "matchExpressions");
  if (!exprs.is_array()) return;
  for (size_t i = 0; i < exprs.size(); ++i) {
    std::string p = path + ".matchExpressions[" + std::to_string(i) + "]";
    std::string op = JsonString(exprs[i], "operator");
    size_t nvalues = ListSize(exprs[i], "values");
    if (op == "In" || op == "NotIn") {
      if (nvalues == 0) {
        errs->push_back(
            FieldRequired(p + ".values", "must be specified when `operator` is 'In' or 'NotIn'"));
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (nvalues > 0) {
        errs->push_back(FieldForbidden(
            p + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      }
    } else {
      errs->push_back(FieldInvalid(p + ".operator", op, "not a valid selector operator"));
    }
  }
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// validation.IsDNS1123Subdomain, which ServiceAccount names must pass.
void ValidateDns1123Subdomain(const std::string& name, const std::string& field,
                              std::vector<FieldCause>* errs) {
  if (name.size() > 253) {
    errs->push_back(FieldInvalid(field, name, "must be no more than 253 characters"));
  }
  bool ok = true;
  size_t start = 0;
  while (ok) {
    size_t dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? dot : dot - start);
    ok = !label.empty() && IsAlnum(label.front()) && IsAlnum(label.back());
    for (char c : label) ok = ok && (IsAlnum(c) || c == '-');
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!ok) {
    errs->push_back(FieldInvalid(
        field, name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
  }
}

void ValidateSubject(const Json& s, bool namespaced, const std::string& path,
                     std::vector<FieldCause>* errs) {
  std::string name = JsonString(s, "name");
  std::string kind = JsonString(s, "kind");
  std::string group = JsonString(s, "apiGroup");
  if (name.empty()) errs->push_back(FieldRequired(path + ".name", ""));
  if (kind == "ServiceAccount") {
    if (!name.empty()) ValidateDns1123Subdomain(name, path + ".name", errs);
    if (!group.empty()) errs->push_back(FieldNotSupported(path + ".apiGroup", group, {""}));
    if (!namespaced && JsonString(s, "namespace").empty()) {
      errs->push_back(FieldRequired(path + ".namespace", ""));
    }
  } else if (kind == "User" || kind == "Group") {
    if (group != kRbacGroup) {
      errs->push_back(FieldNotSupported(path + ".apiGroup", group, {kRbacGroup}));
    }
  } else {
    errs->push_back(FieldNotSupported(path + ".kind", kind, {"ServiceAccount", "User", "Group"}));
  }
}

// Go's %#v of the internal rbac.RoleRef, as `cannot change roleRef` shows it.
std::string RoleRefLiteral(const Json& ref) {
  return "rbac.RoleRef{APIGroup:" + GoQuote(JsonString(ref, "apiGroup")) +
         ", Kind:" + GoQuote(JsonString(ref, "kind")) +
         ", Name:" + GoQuote(JsonString(ref, "name")) + "}";
}

std::vector<FieldCause> ValidateBinding(const Json& obj, const Json* old, bool namespaced) {
  std::vector<FieldCause> errs;
  try {
    ValidateMeta(obj, namespaced, &errs);
    const Json& ref = Field(obj, "roleRef");
    std::string group = JsonString(ref, "apiGroup");
    std::string kind = JsonString(ref, "kind");
    std::string name = JsonString(ref, "name");
    if (group != kRbacGroup) {
      errs.push_back(FieldNotSupported("roleRef.apiGroup", group, {kRbacGroup}));
    }
    if (namespaced) {
      if (kind != "Role" && kind != "ClusterRole") {
        errs.push_back(FieldNotSupported("roleRef.kind", kind, {"Role", "ClusterRole"}));
      }
    } else if (kind != "ClusterRole") {
      errs.push_back(FieldNotSupported("roleRef.kind", kind, {"ClusterRole"}));
    }
    if (name.empty()) {
      errs.push_back(FieldRequired("roleRef.name", ""));
    } else {
      ValidatePathSegmentName(name, "roleRef.name", &errs);
    }
    const Json& subjects = Field(obj, "subjects");
    if (subjects.is_array()) {
      for (size_t i = 0; i < subjects.size(); ++i) {
        ValidateSubject(subjects[i], namespaced, "subjects[" + std::to_string(i) + "]", &errs);
      }
    }
    if (old != nullptr) {
      const Json& old_ref = Field(*old, "roleRef");
      if (JsonString(old_ref, "apiGroup") != group || JsonString(old_ref, "kind") != kind ||
          JsonString(old_ref, "name") != name) {
        errs.push_back(InvalidRaw("roleRef", RoleRefLiteral(ref), "cannot change roleRef"));
      }
    }
  } catch (...) {
    errs.push_back(FieldInvalid("", "", "malformed object"));
  }
  return errs;
}

}  // namespace

void DefaultRbacBinding(Json* binding) {
  try {
    if (binding == nullptr || !binding->is_object()) return;
    auto ref = binding->find("roleRef");
    if (ref != binding->end() && ref->is_object() && JsonString(*ref, "apiGroup").empty()) {
      (*ref)["apiGroup"] = kRbacGroup;
    }
    auto subjects = binding->find("subjects");
    if (subjects == binding->end() || !subjects->is_array()) return;
    for (auto& s : *subjects) {
      if (!s.is_object() || !JsonString(s, "apiGroup").empty()) continue;
      std::string kind = JsonString(s, "kind");
      if (kind == "User" || kind == "Group") s["apiGroup"] = kRbacGroup;
    }
  } catch (...) {
  }
}

std::vector<FieldCause> ValidateRole(const Json& role) {
  std::vector<FieldCause> errs;
  try {
    ValidateMeta(role, true, &errs);
    ValidateRules(role, true, &errs);
  } catch (...) {
    errs.push_back(FieldInvalid("", "", "malformed object"));
  }
  return errs;
}

std::vector<FieldCause> ValidateClusterRole(const Json& role) {
  std::vector<FieldCause> errs;
  try {
    ValidateMeta(role, false, &errs);
    ValidateRules(role, false, &errs);
    const Json& agg = Field(role, "aggregationRule");
    if (agg.is_object()) {
      const Json& sels = Field(agg, "clusterRoleSelectors");
      if (!sels.is_array() || sels.empty()) {
        errs.push_back(
            FieldRequired("aggregationRule.clusterRoleSelectors",
                          "at least one clusterRoleSelector required if aggregationRule is "
                          "non-nil"));
      } else {
        for (size_t i = 0; i < sels.size(); ++i) {
          ValidateSelector(
              sels[i], "aggregationRule.clusterRoleSelectors[" + std::to_string(i) + "]", &errs);
        }
      }
    }
  } catch (...) {
    errs.push_back(FieldInvalid("", "", "malformed object"));
  }
  return errs;
}

std::vector<FieldCause> ValidateRoleBinding(const Json& obj, const Json* old) {
  return ValidateBinding(obj, old, true);
}

std::vector<FieldCause> ValidateClusterRoleBinding(const Json& obj, const Json* old) {
  return ValidateBinding(obj, old, false);
}

}  // namespace capstan::kube
