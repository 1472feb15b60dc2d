#include "kube-adapter/rbac_escalation.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "kube-adapter/api_error.h"
#include "kube-adapter/rbac_authorizer.h"
#include "kube-adapter/request_attributes.h"

namespace capstan::kube {
namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool HasAll(const std::vector<std::string>& set, const std::vector<std::string>& want) {
  for (const auto& w : want) {
    if (!Has(set, w)) return false;
  }
  return true;
}

// One sub-rule per (group, resource, verb[, name]) and per (url, verb).
std::vector<PolicyRule> Breakdown(const PolicyRule& r) {
  std::vector<PolicyRule> out;
  for (const auto& g : r.api_groups) {
    for (const auto& res : r.resources) {
      for (const auto& v : r.verbs) {
        if (r.resource_names.empty()) {
          out.push_back(PolicyRule{{v}, {g}, {res}, {}, {}});
        } else {
          for (const auto& n : r.resource_names)
            out.push_back(PolicyRule{{v}, {g}, {res}, {n}, {}});
        }
      }
    }
  }
  for (const auto& u : r.non_resource_urls) {
    for (const auto& v : r.verbs) out.push_back(PolicyRule{{v}, {}, {}, {}, {u}});
  }
  return out;
}

bool ResourcesCover(const std::vector<std::string>& owner, const std::vector<std::string>& want) {
  if (Has(owner, "*") || HasAll(owner, want)) return true;
  for (const auto& path : want) {
    if (Has(owner, path)) continue;
    size_t slash = path.find('/');
    if (slash == std::string::npos) return false;
    if (!Has(owner, "*/" + path.substr(slash + 1))) return false;
  }
  return true;
}

bool UrlCovers(const std::string& owner, const std::string& sub) {
  if (owner == sub) return true;
  if (owner.empty() || owner.back() != '*') return false;
  size_t end = owner.find_last_not_of('*');
  std::string prefix = end == std::string::npos ? "" : owner.substr(0, end + 1);
  return sub.compare(0, prefix.size(), prefix) == 0;
}

bool UrlsCover(const std::vector<std::string>& owner, const std::vector<std::string>& want) {
  for (const auto& path : want) {
    bool covered = false;
    for (const auto& o : owner) {
      if (UrlCovers(o, path)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

bool RuleCovers(const PolicyRule& owner, const PolicyRule& sub) {
  bool verbs = Has(owner.verbs, "*") || HasAll(owner.verbs, sub.verbs);
  bool groups = Has(owner.api_groups, "*") || HasAll(owner.api_groups, sub.api_groups);
  bool resources = ResourcesCover(owner.resources, sub.resources);
  bool urls = UrlsCover(owner.non_resource_urls, sub.non_resource_urls);
  bool names = sub.resource_names.empty() ? owner.resource_names.empty()
                                          : owner.resource_names.empty() ||
                                                HasAll(owner.resource_names, sub.resource_names);
  return verbs && groups && resources && names && urls;
}

// compact_rules.go: merges the verbs of "simple" rules (one group, one
// resource, at most one name, no URLs) that share group/resource/name.
std::vector<PolicyRule> CompactRules(const std::vector<PolicyRule>& rules) {
  std::vector<PolicyRule> out;
  using Key = std::tuple<std::string, std::string, bool, std::string>;
  std::map<Key, PolicyRule> simple;
  std::vector<Key> order;
  for (const auto& r : rules) {
    bool is_simple = r.resource_names.size() <= 1 && r.non_resource_urls.empty() &&
                     r.api_groups.size() == 1 && r.resources.size() == 1;
    if (!is_simple) {
      out.push_back(r);
      continue;
    }
    Key k{r.api_groups[0], r.resources[0], !r.resource_names.empty(),
          r.resource_names.empty() ? "" : r.resource_names[0]};
    auto it = simple.find(k);
    if (it == simple.end()) {
      simple.emplace(k, r);
      order.push_back(k);
    } else {
      it->second.verbs.insert(it->second.verbs.end(), r.verbs.begin(), r.verbs.end());
    }
  }
  for (const auto& k : order) out.push_back(simple[k]);
  return out;
}

std::string DescribeUser(const UserInfo& user) {
  return "user " + GoQuote(user.name) + " (groups=" + GoQuoteList(user.groups) + ")";
}

// rule.go ConfirmNoEscalation: nullopt when the user's rules in `ns` cover
// `rules`, else the denial text.
std::optional<std::string> ConfirmNoEscalation(const RbacPolicy& p, const UserInfo& user,
                                               const std::string& ns,
                                               const std::vector<PolicyRule>& rules) {
  ResolvedRules owner = RulesFor(p, user, ns, RoleErrorStyle::kRegistry);
  std::vector<PolicyRule> missing;
  if (RulesCover(owner.rules, rules, &missing)) return std::nullopt;
  std::set<std::string> descriptions;  // sorted, de-duplicated like sets.String
  for (const auto& r : CompactRules(missing)) descriptions.insert(CompactRuleString(r));
  std::string msg =
      DescribeUser(user) + " is attempting to grant RBAC permissions not currently held:";
  for (const auto& d : descriptions) msg += "\n" + d;
  if (!owner.errors.empty()) {
    msg += "; resolution errors: [" + AggregateErrors(owner.errors) + "]";
  }
  return msg;
}

bool Authorized(const RbacPolicy& p, const UserInfo& user, const std::string& verb,
                const std::string& ns, const std::string& group, const std::string& resource,
                const std::string& name) {
  RequestAttributes a;
  a.user = user;
  a.verb = verb;
  a.resource_request = true;
  a.namespace_ = ns;
  a.api_group = group;
  a.api_version = "v1";
  a.resource = resource;
  a.name = name;
  return Authorize(p, a).allowed;
}

// clusterrole/policybased hasAggregationRule: a rule with selectors.
bool HasAggregationRule(const Json* role) {
  if (role == nullptr || !role->is_object()) return false;
  auto it = role->find("aggregationRule");
  if (it == role->end() || !it->is_object()) return false;
  auto sels = it->find("clusterRoleSelectors");
  return sels != it->end() && sels->is_array() && !sels->empty();
}

// Key order does not matter to Kubernetes' semantic equality.
nlohmann::json Unordered(const Json& j) {
  return nlohmann::json::parse(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// rbac.IsOnlyMutatingGCFields: an update that only touches ownerReferences,
// finalizers (or selfLink, managedFields) skips escalation checks, so the
// garbage collector can always finish a delete.
bool IsOnlyMutatingGCFields(const Json& obj, const Json* old) {
  if (old == nullptr || !obj.is_object() || !old->is_object()) return false;
  Json copy = obj;
  Json& meta = copy["metadata"];
  if (!meta.is_object()) return false;
  const Json* old_meta = nullptr;
  auto it = old->find("metadata");
  if (it != old->end() && it->is_object()) old_meta = &*it;
  for (const char* key : {"ownerReferences", "finalizers", "selfLink", "managedFields"}) {
    meta.erase(key);
    if (old_meta != nullptr && old_meta->contains(key)) meta[key] = (*old_meta)[key];
  }
  return Unordered(copy) == Unordered(*old);
}

}  // namespace

bool RulesCover(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& servant,
                std::vector<PolicyRule>* missing) {
  bool all = true;
  for (const auto& s : servant) {
    for (const auto& sub : Breakdown(s)) {
      bool covered = false;
      for (const auto& o : owner) {
        if (RuleCovers(o, sub)) {
          covered = true;
          break;
        }
      }
      if (!covered) {
        all = false;
        if (missing != nullptr) missing->push_back(sub);
      }
    }
  }
  return all;
}

std::string CompactRuleString(const PolicyRule& r) {
  std::vector<std::string> parts;
  if (!r.api_groups.empty()) parts.push_back("APIGroups:" + GoQuoteList(r.api_groups));
  if (!r.resources.empty()) parts.push_back("Resources:" + GoQuoteList(r.resources));
  if (!r.non_resource_urls.empty()) {
    parts.push_back("NonResourceURLs:" + GoQuoteList(r.non_resource_urls));
  }
  if (!r.resource_names.empty()) parts.push_back("ResourceNames:" + GoQuoteList(r.resource_names));
  if (!r.verbs.empty()) parts.push_back("Verbs:" + GoQuoteList(r.verbs));
  std::string out = "{";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += ", ";
    out += parts[i];
  }
  return out + "}";
}

std::optional<std::string> CheckRoleEscalation(const RbacPolicy& p, const UserInfo& user,
                                               const std::string& ns,
                                               const std::string& role_kind_resource,
                                               const Json& role, const Json* old_role) {
  try {
    if (user.InGroup("system:masters")) return std::nullopt;
    // The escalate check uses the request's name, which create lacks.
    std::string request_name = old_role != nullptr ? ObjectName(role) : "";
    if ((role_kind_resource == "roles" || role_kind_resource == "clusterroles") &&
        Authorized(p, user, "escalate", ns, kRbacGroup, role_kind_resource, request_name)) {
      return std::nullopt;
    }
    if (IsOnlyMutatingGCFields(role, old_role)) return std::nullopt;
    if (auto denied = ConfirmNoEscalation(p, user, ns, ParseRules(role))) return denied;
    // An aggregationRule can gather anything (and, on the old object, keeps
    // the role from being tightened), so it takes * on everything.
    if (role_kind_resource == "clusterroles" &&
        (HasAggregationRule(&role) || HasAggregationRule(old_role))) {
      static const std::vector<PolicyRule> kFullAuthority = {
          PolicyRule{{"*"}, {"*"}, {"*"}, {}, {}},
          PolicyRule{{"*"}, {}, {}, {}, {"*"}},
      };
      if (ConfirmNoEscalation(p, user, ns, kFullAuthority)) {
        return std::string("must have cluster-admin privileges to use the aggregationRule");
      }
    }
    return std::nullopt;
  } catch (...) {
    return std::string("internal error checking RBAC escalation");  // fail closed
  }
}

std::optional<std::string> CheckBindingEscalation(const RbacPolicy& p, const UserInfo& user,
                                                  const std::string& ns, const Json& binding,
                                                  const Json* old_binding) {
  try {
    if (user.InGroup("system:masters")) return std::nullopt;
    if (IsOnlyMutatingGCFields(binding, old_binding)) return std::nullopt;
    Json ref = binding.is_object() && binding.contains("roleRef") ? binding["roleRef"] : Json();
    std::string kind = JsonString(ref, "kind");
    std::string resource = kind == "ClusterRole" ? "clusterroles" : kind == "Role" ? "roles" : "";
    if (!resource.empty() && Authorized(p, user, "bind", ns, JsonString(ref, "apiGroup"), resource,
                                        JsonString(ref, "name"))) {
      return std::nullopt;
    }
    std::vector<PolicyRule> rules;
    std::string err;
    if (!RoleRefRules(p, ref, ns, &rules, &err, RoleErrorStyle::kRegistry)) return err;
    return ConfirmNoEscalation(p, user, ns, rules);
  } catch (...) {
    return std::string("internal error checking RBAC escalation");
  }
}

}  // namespace capstan::kube
