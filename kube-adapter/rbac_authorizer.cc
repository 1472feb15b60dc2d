#include "kube-adapter/rbac_authorizer.h"

#include <algorithm>

#include "kube-adapter/api_error.h"

namespace capstan::kube {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool VerbMatches(const PolicyRule& r, const std::string& verb) {
  return Has(r.verbs, "*") || Has(r.verbs, verb);
}

bool GroupMatches(const PolicyRule& r, const std::string& group) {
  return Has(r.api_groups, "*") || Has(r.api_groups, group);
}

// "pods" never matches "pods/log"; "*/log" matches any resource's log, and
// "pods/*" is only the literal string.
bool ResourceMatches(const PolicyRule& r, const std::string& combined, const std::string& sub) {
  for (const auto& res : r.resources) {
    if (res == "*" || res == combined) return true;
    if (!sub.empty() && res == "*/" + sub) return true;
  }
  return false;
}

bool NameMatches(const PolicyRule& r, const std::string& name) {
  return r.resource_names.empty() || Has(r.resource_names, name);
}

bool UrlMatches(const PolicyRule& r, const std::string& path) {
  for (const auto& u : r.non_resource_urls) {
    if (u == "*" || u == path) return true;
    if (!u.empty() && u.back() == '*') {
      std::string prefix = u.substr(0, u.find_last_not_of('*') + 1);
      if (u.find_last_not_of('*') == std::string::npos) prefix.clear();
      if (path.compare(0, prefix.size(), prefix) == 0) return true;
    }
  }
  return false;
}

// apiserver escapes these so a message can never read as HTML.
std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string WithErrors(std::string msg, const AuthorizationDecision& d) {
  std::string reason = ReviewReason(d);
  if (!reason.empty()) msg += ": " + reason;
  return msg;
}

}  // namespace

bool RuleAllows(const RequestAttributes& a, const PolicyRule& rule) {
  if (a.resource_request) {
    std::string combined = a.resource;
    if (!a.subresource.empty()) combined += "/" + a.subresource;
    return VerbMatches(rule, a.verb) && GroupMatches(rule, a.api_group) &&
           ResourceMatches(rule, combined, a.subresource) && NameMatches(rule, a.name);
  }
  return VerbMatches(rule, a.verb) && UrlMatches(rule, a.path);
}

AuthorizationDecision Authorize(const RbacPolicy& p, const RequestAttributes& a) {
  AuthorizationDecision d;
  try {
    // The privileged-group authorizer runs first and gives no reason.
    if (a.user.InGroup("system:masters")) {
      d.allowed = true;
      return d;
    }
    std::vector<std::string> errors;
    VisitRulesFor(p, a.user, a.namespace_,
                  [&](const std::string& source, const PolicyRule* rule, const std::string& err) {
                    if (rule != nullptr && RuleAllows(a, *rule)) {
                      d.allowed = true;
                      d.reason = "RBAC: allowed by " + source;
                      return false;
                    }
                    if (!err.empty()) errors.push_back(err);
                    return true;
                  });
    if (!d.allowed) d.errors = AggregateErrors(errors);
  } catch (...) {
    d = AuthorizationDecision{};  // fail closed
  }
  return d;
}

std::string ReviewReason(const AuthorizationDecision& d) {
  if (d.allowed) return d.reason;
  if (d.errors.empty()) return "";
  return "RBAC: " + d.errors;
}

std::string ForbiddenReason(const RequestAttributes& a, const AuthorizationDecision& d) {
  if (!a.resource_request) {
    return WithErrors(
        Sanitize("User " + GoQuote(a.user.name) + " cannot " + a.verb + " path " + GoQuote(a.path)),
        d);
  }
  std::string resource = a.resource;
  if (!a.subresource.empty()) resource += "/" + a.subresource;
  std::string msg = "User " + GoQuote(a.user.name) + " cannot " + a.verb + " resource " +
                    GoQuote(resource) + " in API group " + GoQuote(a.api_group);
  if (!a.namespace_.empty()) {
    msg += " in the namespace " + GoQuote(a.namespace_);
  } else {
    msg += " at the cluster scope";
  }
  return WithErrors(Sanitize(msg), d);
}

std::string NonResourceForbiddenMessage(const RequestAttributes& a,
                                        const AuthorizationDecision& d) {
  RequestAttributes copy = a;
  copy.resource_request = false;
  return "forbidden: " + ForbiddenReason(copy, d);
}

Json RulesReview(const RbacPolicy& p, const UserInfo& u, const std::string& ns) {
  Json status = Json::object();
  try {
    ResolvedRules resolved = RulesFor(p, u, ns);
    Json resource_rules = Json::array();
    Json non_resource_rules = Json::array();
    for (const auto& r : resolved.rules) {
      // A rule may feed both lists (validation forbids it, storage may not).
      if (!r.resources.empty()) {
        Json j = Json::object();
        j["verbs"] = r.verbs;
        if (!r.api_groups.empty()) j["apiGroups"] = r.api_groups;
        j["resources"] = r.resources;
        if (!r.resource_names.empty()) j["resourceNames"] = r.resource_names;
        resource_rules.push_back(std::move(j));
      }
      if (!r.non_resource_urls.empty()) {
        Json j = Json::object();
        j["verbs"] = r.verbs;
        j["nonResourceURLs"] = r.non_resource_urls;
        non_resource_rules.push_back(std::move(j));
      }
    }
    status["resourceRules"] = std::move(resource_rules);
    status["nonResourceRules"] = std::move(non_resource_rules);
    status["incomplete"] = false;
    std::string err = AggregateErrors(resolved.errors);
    if (!err.empty()) status["evaluationError"] = err;
  } catch (...) {
    status = Json::object();
    status["resourceRules"] = Json::array();
    status["nonResourceRules"] = Json::array();
    status["incomplete"] = true;
    status["evaluationError"] = "internal error evaluating rules";
  }
  return status;
}

}  // namespace capstan::kube
