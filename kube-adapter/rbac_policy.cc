#include "kube-adapter/rbac_policy.h"

#include <set>

namespace capstan::kube {
namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

const Json& Field(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// Go's "%s %q" subject description (rule.go describeSubject).
std::string DescribeSubject(const Json& subject, const std::string& binding_ns) {
  std::string kind = JsonString(subject, "kind");
  std::string name = JsonString(subject, "name");
  if (kind == "ServiceAccount") {
    std::string ns = JsonString(subject, "namespace");
    return kind + " " + GoQuote(name + "/" + (ns.empty() ? binding_ns : ns));
  }
  return kind + " " + GoQuote(name);
}

// Visits the rules of one binding; false when the visitor asked to stop.
bool VisitBinding(const RbacPolicy& policy, const UserInfo& user, const Json& binding,
                  const std::string& ns, bool cluster, const RuleVisitor& visit,
                  RoleErrorStyle style) {
  const Json& subjects = Field(binding, "subjects");
  if (!subjects.is_array()) return true;
  const Json* subject = nullptr;
  for (const auto& s : subjects) {
    if (SubjectMatches(user, s, ns)) {
      subject = &s;
      break;
    }
  }
  if (subject == nullptr) return true;
  const Json& ref = Field(binding, "roleRef");
  std::vector<PolicyRule> rules;
  std::string err;
  if (!RoleRefRules(policy, ref, ns, &rules, &err, style)) return visit("", nullptr, err);
  std::string source;
  if (cluster) {
    source = "ClusterRoleBinding " + GoQuote(ObjectName(binding));
  } else {
    source = "RoleBinding " + GoQuote(ObjectName(binding) + "/" + ns);
  }
  source += " of " + JsonString(ref, "kind") + " " + GoQuote(JsonString(ref, "name")) + " to " +
            DescribeSubject(*subject, ns);
  for (const auto& r : rules) {
    if (!visit(source, &r, "")) return false;
  }
  return true;
}

}  // namespace

std::string JsonString(const Json& obj, const char* key) {
  const Json& v = Field(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::vector<std::string> JsonStringList(const Json& obj, const char* key) {
  std::vector<std::string> out;
  const Json& v = Field(obj, key);
  if (!v.is_array()) return out;
  for (const auto& e : v) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

std::string ObjectName(const Json& obj) { return JsonString(Field(obj, "metadata"), "name"); }

std::string ObjectNamespace(const Json& obj) {
  return JsonString(Field(obj, "metadata"), "namespace");
}

PolicyRule ParsePolicyRule(const Json& rule) {
  PolicyRule r;
  r.verbs = JsonStringList(rule, "verbs");
  r.api_groups = JsonStringList(rule, "apiGroups");
  r.resources = JsonStringList(rule, "resources");
  r.resource_names = JsonStringList(rule, "resourceNames");
  r.non_resource_urls = JsonStringList(rule, "nonResourceURLs");
  return r;
}

std::vector<PolicyRule> ParseRules(const Json& role) {
  std::vector<PolicyRule> out;
  const Json& rules = Field(role, "rules");
  if (!rules.is_array()) return out;
  for (const auto& r : rules) out.push_back(ParsePolicyRule(r));
  return out;
}

Json PolicyRuleToJson(const PolicyRule& rule) {
  Json j = Json::object();
  j["verbs"] = rule.verbs;
  if (!rule.api_groups.empty()) j["apiGroups"] = rule.api_groups;
  if (!rule.resources.empty()) j["resources"] = rule.resources;
  if (!rule.resource_names.empty()) j["resourceNames"] = rule.resource_names;
  if (!rule.non_resource_urls.empty()) j["nonResourceURLs"] = rule.non_resource_urls;
  return j;
}

const Json* FindClusterRole(const RbacPolicy& policy, const std::string& name) {
  for (const auto& r : policy.cluster_roles) {
    if (ObjectName(r) == name) return &r;
  }
  return nullptr;
}

const Json* FindRole(const RbacPolicy& policy, const std::string& ns, const std::string& name) {
  for (const auto& r : policy.roles) {
    if (ObjectNamespace(r) == ns && ObjectName(r) == name) return &r;
  }
  return nullptr;
}

std::string GoQuoteList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += " ";
    out += GoQuote(v[i]);
  }
  return out + "]";
}

bool SubjectMatches(const UserInfo& user, const Json& subject, const std::string& ns) {
  std::string kind = JsonString(subject, "kind");
  std::string name = JsonString(subject, "name");
  if (kind == "User") return user.name == name;
  if (kind == "Group") return user.InGroup(name);
  if (kind == "ServiceAccount") {
    std::string sa_ns = JsonString(subject, "namespace");
    if (sa_ns.empty()) sa_ns = ns;
    if (sa_ns.empty()) return false;
    return user.name == "system:serviceaccount:" + sa_ns + ":" + name;
  }
  return false;
}

bool RoleRefRules(const RbacPolicy& policy, const Json& role_ref, const std::string& binding_ns,
                  std::vector<PolicyRule>* rules, std::string* error, RoleErrorStyle style) {
  std::string kind = JsonString(role_ref, "kind");
  std::string name = JsonString(role_ref, "name");
  const char* plural = style == RoleErrorStyle::kRegistry ? "s." : ".";
  const Json* role = nullptr;
  if (kind == "Role") {
    role = FindRole(policy, binding_ns, name);
    // Listers report NotFound with the singular resource name.
    if (role == nullptr) {
      *error = std::string("role") + plural + kRbacGroup + " " + GoQuote(name) + " not found";
    }
  } else if (kind == "ClusterRole") {
    role = FindClusterRole(policy, name);
    if (role == nullptr) {
      *error =
          std::string("clusterrole") + plural + kRbacGroup + " " + GoQuote(name) + " not found";
    }
  } else {
    *error = "unsupported role reference kind: " + GoQuote(kind);
  }
  if (role == nullptr) return false;
  *rules = ParseRules(*role);
  return true;
}

void VisitRulesFor(const RbacPolicy& policy, const UserInfo& user, const std::string& ns,
                   const RuleVisitor& visit, RoleErrorStyle style) {
  for (const auto& b : policy.cluster_role_bindings) {
    if (!VisitBinding(policy, user, b, "", true, visit, style)) return;
  }
  if (ns.empty()) return;
  for (const auto& b : policy.role_bindings) {
    if (ObjectNamespace(b) != ns) continue;
    if (!VisitBinding(policy, user, b, ns, false, visit, style)) return;
  }
}

ResolvedRules RulesFor(const RbacPolicy& policy, const UserInfo& user, const std::string& ns,
                       RoleErrorStyle style) {
  ResolvedRules out;
  VisitRulesFor(
      policy, user, ns,
      [&](const std::string&, const PolicyRule* rule, const std::string& err) {
        if (rule != nullptr) out.rules.push_back(*rule);
        if (!err.empty()) out.errors.push_back(err);
        return true;
      },
      style);
  return out;
}

}  // namespace capstan::kube
