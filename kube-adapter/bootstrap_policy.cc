#include "kube-adapter/bootstrap_policy.h"

#include <algorithm>
#include <string>

#include "kube-adapter/rbac_aggregation.h"
#include "kube-adapter/rbac_policy.h"

namespace capstan::kube {
namespace {

using Strings = std::vector<std::string>;

const Strings kRead = {"get", "list", "watch"};
const Strings kWrite = {"create", "update", "patch", "delete", "deletecollection"};
const Strings kReadWrite = {"get",    "list",  "watch",  "create",
                            "update", "patch", "delete", "deletecollection"};

constexpr char kAggregateToAdmin[] = "rbac.authorization.k8s.io/aggregate-to-admin";
constexpr char kAggregateToEdit[] = "rbac.authorization.k8s.io/aggregate-to-edit";
constexpr char kAggregateToView[] = "rbac.authorization.k8s.io/aggregate-to-view";

Strings Sorted(Strings v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Kubernetes' PolicyRuleBuilder sorts every list, so served bootstrap roles
// list verbs, groups and resources alphabetically.
Json Rule(const Strings& verbs, const Strings& groups, const Strings& resources) {
  return PolicyRuleToJson(PolicyRule{Sorted(verbs), Sorted(groups), Sorted(resources), {}, {}});
}

Json UrlRule(const Strings& verbs, const Strings& urls) {
  return PolicyRuleToJson(PolicyRule{Sorted(verbs), {}, {}, {}, Sorted(urls)});
}

Json Metadata(const std::string& name, const char* aggregate_label) {
  Json labels = Json::object();
  labels["kubernetes.io/bootstrapping"] = "rbac-defaults";
  if (aggregate_label != nullptr) labels[aggregate_label] = "true";
  Json meta = Json::object();
  meta["name"] = name;
  meta["labels"] = std::move(labels);
  meta["annotations"] = Json{{"rbac.authorization.kubernetes.io/autoupdate", "true"}};
  return meta;
}

Json ClusterRole(const std::string& name, const char* label, Json rules,
                 const char* aggregate_from = nullptr) {
  Json r = Json::object();
  r["apiVersion"] = "rbac.authorization.k8s.io/v1";
  r["kind"] = "ClusterRole";
  r["metadata"] = Metadata(name, label);
  r["rules"] = std::move(rules);
  if (aggregate_from != nullptr) {
    Json sel = Json::object();
    sel["matchLabels"] = Json{{aggregate_from, "true"}};
    r["aggregationRule"] = Json{{"clusterRoleSelectors", Json::array({sel})}};
  }
  return r;
}

Json Binding(const std::string& name, const Strings& groups) {
  Json b = Json::object();
  b["apiVersion"] = "rbac.authorization.k8s.io/v1";
  b["kind"] = "ClusterRoleBinding";
  b["metadata"] = Metadata(name, nullptr);
  Json subjects = Json::array();
  for (const auto& g : groups) {
    Json s = Json::object();
    s["kind"] = "Group";
    s["apiGroup"] = "rbac.authorization.k8s.io";
    s["name"] = g;
    subjects.push_back(std::move(s));
  }
  b["subjects"] = std::move(subjects);
  Json ref = Json::object();
  ref["apiGroup"] = "rbac.authorization.k8s.io";
  ref["kind"] = "ClusterRole";
  ref["name"] = name;
  b["roleRef"] = std::move(ref);
  return b;
}

std::vector<Json> UnaggregatedRoles() {
  std::vector<Json> roles;
  roles.push_back(ClusterRole("cluster-admin", nullptr,
                              Json::array({Rule({"*"}, {"*"}, {"*"}), UrlRule({"*"}, {"*"})})));
  roles.push_back(ClusterRole(
      "system:discovery", nullptr,
      Json::array(
          {UrlRule({"get"}, {"/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi",
                             "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"})})));
  roles.push_back(ClusterRole(
      "system:basic-user", nullptr,
      Json::array({Rule({"create"}, {"authorization.k8s.io"},
                        {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
                   Rule({"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"})})));
  roles.push_back(ClusterRole(
      "system:public-info-viewer", nullptr,
      Json::array({UrlRule({"get"}, {"/livez", "/readyz", "/healthz", "/version", "/version/"})})));
  roles.push_back(ClusterRole("admin", nullptr, Json::array(), kAggregateToAdmin));
  roles.push_back(ClusterRole("edit", kAggregateToAdmin, Json::array(), kAggregateToEdit));
  roles.push_back(ClusterRole("view", kAggregateToEdit, Json::array(), kAggregateToView));
  roles.push_back(ClusterRole(
      "system:aggregate-to-admin", kAggregateToAdmin,
      Json::array({Rule({"create"}, {"authorization.k8s.io"}, {"localsubjectaccessreviews"}),
                   Rule(kReadWrite, {"rbac.authorization.k8s.io"}, {"roles", "rolebindings"})})));
  roles.push_back(ClusterRole(
      "system:aggregate-to-edit", kAggregateToEdit,
      Json::array({
          // Read on escalating resources (secrets, exec, proxies) lives here, not in view.
          Rule(kRead, {""},
               {"pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                "services/proxy"}),
          Rule({"impersonate"}, {""}, {"serviceaccounts"}),
          Rule(kWrite, {""},
               {"pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"}),
          Rule(kWrite, {""},
               {"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                "services", "services/proxy", "endpoints", "persistentvolumeclaims", "configmaps",
                "secrets"}),
          Rule(kWrite, {"apps"},
               {"statefulsets", "statefulsets/scale", "daemonsets", "deployments",
                "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"}),
          Rule(kWrite, {"autoscaling"}, {"horizontalpodautoscalers"}),
          Rule(kWrite, {"batch"}, {"jobs", "cronjobs"}),
          Rule(kWrite, {"extensions"},
               {"daemonsets", "deployments", "deployments/scale", "deployments/rollback",
                "ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale",
                "networkpolicies"}),
          Rule(kWrite, {"policy"}, {"poddisruptionbudgets"}),
          Rule(kWrite, {"networking.k8s.io"}, {"networkpolicies", "ingresses"}),
      })));
  roles.push_back(ClusterRole(
      "system:aggregate-to-view", kAggregateToView,
      Json::array({
          Rule(kRead, {""},
               {"pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                "services", "services/status", "endpoints", "persistentvolumeclaims",
                "persistentvolumeclaims/status", "configmaps"}),
          Rule(kRead, {""},
               {"limitranges", "resourcequotas", "bindings", "events", "pods/status",
                "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
                "pods/log"}),
          // Reading namespaces at namespace scope means reading *this* namespace.
          Rule(kRead, {""}, {"namespaces"}),
          Rule(kRead, {"apps"},
               {"controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
                "daemonsets", "daemonsets/status", "deployments", "deployments/status",
                "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"}),
          Rule(kRead, {"autoscaling"},
               {"horizontalpodautoscalers", "horizontalpodautoscalers/status"}),
          Rule(kRead, {"batch"}, {"jobs", "cronjobs", "cronjobs/status", "jobs/status"}),
          Rule(kRead, {"extensions"},
               {"daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                "deployments/status", "ingresses", "ingresses/status", "replicasets",
                "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
                "networkpolicies"}),
          Rule(kRead, {"policy"}, {"poddisruptionbudgets", "poddisruptionbudgets/status"}),
          Rule(kRead, {"networking.k8s.io"}, {"networkpolicies", "ingresses", "ingresses/status"}),
      })));
  return roles;
}

}  // namespace

std::vector<Json> BootstrapClusterRoles() {
  std::vector<Json> roles;
  try {
    roles = UnaggregatedRoles();
    for (const auto& updated : AggregateClusterRoles(roles)) {
      for (auto& r : roles) {
        if (ObjectName(r) == ObjectName(updated)) {
          r = updated;
          break;
        }
      }
    }
  } catch (...) {
  }
  return roles;
}

std::vector<Json> BootstrapClusterRoleBindings() {
  std::vector<Json> out;
  try {
    out.push_back(Binding("cluster-admin", {"system:masters"}));
    out.push_back(Binding("system:discovery", {"system:authenticated"}));
    out.push_back(Binding("system:basic-user", {"system:authenticated"}));
    out.push_back(
        Binding("system:public-info-viewer", {"system:authenticated", "system:unauthenticated"}));
  } catch (...) {
  }
  return out;
}

}  // namespace capstan::kube
