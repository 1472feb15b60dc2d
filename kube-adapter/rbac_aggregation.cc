#include "kube-adapter/rbac_aggregation.h"

#include <algorithm>
#include <string>

#include "kube-adapter/rbac_policy.h"

namespace capstan::kube {
namespace {

const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const Json* LabelValue(const Json& labels, const std::string& key) {
  if (!labels.is_object()) return nullptr;
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &*it;
}

const Json* Labels(const Json& obj) {
  const Json* meta = Member(obj, "metadata");
  return meta == nullptr ? nullptr : Member(*meta, "labels");
}

const Json* AggregationSelectors(const Json& role) {
  const Json* agg = Member(role, "aggregationRule");
  if (agg == nullptr) return nullptr;
  const Json* sels = Member(*agg, "clusterRoleSelectors");
  return sels != nullptr && sels->is_array() ? sels : nullptr;
}

// Rules compare like equality.Semantic: a missing list equals an empty one.
bool ContainsRule(const std::vector<PolicyRule>& rules, const PolicyRule& r) {
  return std::find(rules.begin(), rules.end(), r) != rules.end();
}

std::vector<PolicyRule> Aggregate(const std::vector<Json>& roles, const Json& target) {
  std::vector<PolicyRule> out;
  const Json* sels = AggregationSelectors(target);
  std::string self = ObjectName(target);
  std::vector<const Json*> sorted;
  for (const auto& r : roles) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Json* a, const Json* b) { return ObjectName(*a) < ObjectName(*b); });
  for (const auto& sel : *sels) {
    for (const Json* r : sorted) {
      if (ObjectName(*r) == self) continue;
      const Json* labels = Labels(*r);
      if (!LabelSelectorMatches(sel, labels == nullptr ? Json() : *labels)) continue;
      for (const auto& rule : ParseRules(*r)) {
        if (!ContainsRule(out, rule)) out.push_back(rule);
      }
    }
  }
  return out;
}

}  // namespace

bool LabelSelectorMatches(const Json& selector, const Json& labels) {
  if (!selector.is_object()) return false;
  if (const Json* ml = Member(selector, "matchLabels")) {
    if (!ml->is_object()) return false;
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      const Json* v = LabelValue(labels, it.key());
      if (v == nullptr || *v != it.value()) return false;
    }
  }
  if (const Json* exprs = Member(selector, "matchExpressions")) {
    if (!exprs->is_array()) return false;
    for (const auto& e : *exprs) {
      std::string key = JsonString(e, "key");
      std::string op = JsonString(e, "operator");
      std::vector<std::string> values = JsonStringList(e, "values");
      const Json* v = LabelValue(labels, key);
      bool in = v != nullptr && v->is_string() &&
                std::find(values.begin(), values.end(), v->get<std::string>()) != values.end();
      if (op == "In") {
        // LabelSelectorAsSelector rejects In/NotIn without values.
        if (values.empty() || !in) return false;
      } else if (op == "NotIn") {
        if (values.empty() || in) return false;
      } else if (op == "Exists") {
        if (!values.empty() || v == nullptr) return false;
      } else if (op == "DoesNotExist") {
        if (!values.empty() || v != nullptr) return false;
      } else {
        return false;
      }
    }
  }
  return true;
}

std::vector<Json> AggregateClusterRoles(const std::vector<Json>& cluster_roles) {
  std::vector<Json> current = cluster_roles;
  std::vector<bool> changed(current.size(), false);
  try {
    // Each pass can only lengthen a chain's reach by one hop, so the number
    // of roles bounds the passes (and guards against oscillating cycles).
    for (size_t pass = 0; pass <= current.size(); ++pass) {
      bool any = false;
      for (size_t i = 0; i < current.size(); ++i) {
        if (AggregationSelectors(current[i]) == nullptr) continue;
        std::vector<PolicyRule> rules = Aggregate(current, current[i]);
        if (rules == ParseRules(current[i])) continue;
        Json arr = Json::array();
        for (const auto& r : rules) arr.push_back(PolicyRuleToJson(r));
        current[i]["rules"] = std::move(arr);
        changed[i] = true;
        any = true;
      }
      if (!any) break;
    }
  } catch (...) {
    // Keep whatever settled; a malformed object must not break the caller.
  }
  std::vector<Json> out;
  for (size_t i = 0; i < current.size(); ++i) {
    if (changed[i] && ParseRules(current[i]) != ParseRules(cluster_roles[i])) {
      out.push_back(current[i]);
    }
  }
  return out;
}

}  // namespace capstan::kube
