#include "kube-adapter/resource_catalog.h"

#include <map>
#include <set>

namespace capstan::kube {
namespace {

ResourceInfo R(std::string group, std::string version, std::string resource, std::string singular,
               std::string kind, bool namespaced, std::vector<std::string> short_names = {},
               std::vector<std::string> categories = {}, std::vector<std::string> sub = {},
               std::string prefix = "") {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.singular = std::move(singular);
  r.kind = std::move(kind);
  r.namespaced = namespaced;
  r.short_names = std::move(short_names);
  r.categories = std::move(categories);
  r.subresources = std::move(sub);
  r.storage_prefix = prefix.empty() ? "/registry/" + r.resource : "/registry/" + prefix;
  return r;
}

const std::vector<std::string>& Verbs() {
  static const std::vector<std::string> v = {"create", "delete", "deletecollection", "get",
                                             "list",   "patch",  "update",           "watch"};
  return v;
}

std::vector<ResourceInfo> Builtins() {
  const std::vector<std::string> all = {"all"};
  std::vector<ResourceInfo> r = {
      R("", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {},
        {"status", "finalize"}),
      R("", "v1", "pods", "pod", "Pod", true, {"po"}, all,
        {"status", "log", "binding", "eviction"}),
      R("", "v1", "services", "service", "Service", true, {"svc"}, all, {"status"},
        "services/specs"),
      R("", "v1", "endpoints", "endpoints", "Endpoints", true, {"ep"}, {}, {},
        "services/endpoints"),
      R("", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}),
      R("", "v1", "secrets", "secret", "Secret", true),
      R("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"}, {},
        {"token"}),
      R("", "v1", "events", "event", "Event", true, {"ev"}),
      R("", "v1", "limitranges", "limitrange", "LimitRange", true, {"limits"}),
      R("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, {"quota"}, {},
        {"status"}),
      R("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true,
        {"pvc"}, {}, {"status"}),
      R("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, {"pv"}, {},
        {"status"}),
      R("", "v1", "nodes", "node", "Node", false, {"no"}, {}, {"status"}, "minions"),
      R("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", true,
        {"rc"}, all, {"status", "scale"}, "controllers"),
      R("apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"}, all,
        {"status", "scale"}),
      R("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}, all,
        {"status", "scale"}),
      R("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, {"sts"}, all,
        {"status", "scale"}),
      R("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, {"ds"}, all, {"status"}),
      R("batch", "v1", "jobs", "job", "Job", true, {}, all, {"status"}),
      R("batch", "v1beta1", "cronjobs", "cronjob", "CronJob", true, {"cj"}, all, {"status"}),
      R("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
        "HorizontalPodAutoscaler", true, {"hpa"}, all, {"status"}),
      R("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, {"ing"}, {}, {"status"},
        "ingress"),
      R("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true,
        {"netpol"}),
      R("policy", "v1beta1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
        true, {"pdb"}, {}, {"status"}),
      R("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true),
      R("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true),
      R("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false),
      R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
        "ClusterRoleBinding", false),
      R("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false,
        {"pc"}),
      R("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, {"sc"}),
      R("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
        "CustomResourceDefinition", false, {"crd", "crds"}, {}, {"status"},
        "apiextensions.k8s.io/customresourcedefinitions"),
      R("coordination.k8s.io", "v1", "leases", "lease", "Lease", true),
  };
  for (auto& x : r) {
    if (x.resource == "namespaces") x.name_rule = "dns1123-label";
    if (x.group == "rbac.authorization.k8s.io") x.name_rule = "path-segment";
  }
  // authorization.k8s.io reviews: create-only, never stored.
  for (const char* res : {"selfsubjectaccessreviews", "selfsubjectrulesreviews",
                          "subjectaccessreviews", "localsubjectaccessreviews"}) {
    std::string kind;
    if (std::string(res) == "selfsubjectaccessreviews") kind = "SelfSubjectAccessReview";
    if (std::string(res) == "selfsubjectrulesreviews") kind = "SelfSubjectRulesReview";
    if (std::string(res) == "subjectaccessreviews") kind = "SubjectAccessReview";
    if (std::string(res) == "localsubjectaccessreviews") kind = "LocalSubjectAccessReview";
    auto x = R("authorization.k8s.io", "v1", res, "", kind,
               std::string(res) == "localsubjectaccessreviews");
    x.storage_prefix.clear();
    r.push_back(std::move(x));
  }
  auto whoami =
      R("authentication.k8s.io", "v1", "selfsubjectreviews", "", "SelfSubjectReview", false);
  whoami.storage_prefix.clear();
  r.push_back(std::move(whoami));
  return r;
}

bool IsReview(const ResourceInfo& r) {
  return r.group == "authorization.k8s.io" || r.group == "authentication.k8s.io";
}

Json ResourceEntry(const ResourceInfo& r) {
  Json j = Json::object();
  j["name"] = r.resource;
  j["singularName"] = "";
  j["namespaced"] = r.namespaced;
  j["kind"] = r.kind;
  if (IsReview(r)) {
    j["verbs"] = Json::array({"create"});
  } else {
    j["verbs"] = Verbs();
  }
  if (!r.short_names.empty()) j["shortNames"] = r.short_names;
  if (!r.categories.empty()) j["categories"] = r.categories;
  return j;
}

}  // namespace

std::string ResourceInfo::Key(const std::string& ns, const std::string& name) const {
  std::string k = storage_prefix + "/";
  if (namespaced && !ns.empty()) k += ns + "/";
  return k + name;
}

ResourceCatalog::ResourceCatalog() : builtin_(Builtins()) {}

std::optional<ResourceInfo> ResourceCatalog::Find(const std::string& group,
                                                  const std::string& version,
                                                  const std::string& resource) const {
  std::lock_guard l(mu_);
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& r : *list) {
      if (r.group == group && r.version == version && r.resource == resource) return r;
    }
  }
  return std::nullopt;
}

std::optional<ResourceInfo> ResourceCatalog::FindResource(const std::string& group,
                                                          const std::string& resource) const {
  std::lock_guard l(mu_);
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& r : *list) {
      if (r.group == group && r.resource == resource) return r;
    }
  }
  return std::nullopt;
}

std::optional<ResourceInfo> ResourceCatalog::FindByKind(const std::string& group,
                                                        const std::string& kind) const {
  std::lock_guard l(mu_);
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& r : *list) {
      if (r.group == group && r.kind == kind) return r;
    }
  }
  return std::nullopt;
}

std::vector<ResourceInfo> ResourceCatalog::All() const {
  std::lock_guard l(mu_);
  std::vector<ResourceInfo> all = builtin_;
  all.insert(all.end(), custom_.begin(), custom_.end());
  return all;
}

void ResourceCatalog::SetCustomResources(std::vector<ResourceInfo> custom) {
  std::lock_guard l(mu_);
  custom_ = std::move(custom);
}

std::vector<ResourceInfo> ResourceCatalog::FromCrd(const Json& crd) {
  std::vector<ResourceInfo> out;
  if (!crd.is_object() || !crd.contains("spec") || !crd["spec"].is_object()) return out;
  const Json& spec = crd["spec"];
  const Json names = spec.value("names", Json::object());
  const std::string group = spec.value("group", "");
  if (!spec.contains("versions") || !spec["versions"].is_array()) return out;
  for (const Json& v : spec["versions"]) {
    if (!v.is_object() || !v.value("served", true)) continue;
    ResourceInfo r;
    r.group = group;
    r.version = v.value("name", "");
    r.resource = names.value("plural", "");
    r.singular = names.value("singular", "");
    r.kind = names.value("kind", "");
    r.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
    if (names.contains("shortNames") && names["shortNames"].is_array()) {
      for (const auto& s : names["shortNames"]) {
        if (s.is_string()) r.short_names.push_back(s.get<std::string>());
      }
    }
    if (names.contains("categories") && names["categories"].is_array()) {
      for (const auto& s : names["categories"]) {
        if (s.is_string()) r.categories.push_back(s.get<std::string>());
      }
    }
    if (v.contains("subresources") && v["subresources"].is_object()) {
      for (const auto& [k, _] : v["subresources"].items()) r.subresources.push_back(k);
    }
    r.storage_prefix = "/registry/" + group + "/" + r.resource;
    r.custom = true;
    if (v.contains("schema") && v["schema"].is_object() &&
        v["schema"].contains("openAPIV3Schema")) {
      r.schema = v["schema"]["openAPIV3Schema"];
    }
    if (v.contains("additionalPrinterColumns") && v["additionalPrinterColumns"].is_array()) {
      r.printer_columns = v["additionalPrinterColumns"];
    }
    if (!r.version.empty() && !r.resource.empty() && !r.kind.empty()) out.push_back(std::move(r));
  }
  return out;
}

Json ResourceCatalog::ApiVersions(const std::string& server_address) const {
  Json j = Json::object();
  j["kind"] = "APIVersions";
  j["versions"] = Json::array({"v1"});
  j["serverAddressByClientCIDRs"] =
      Json::array({Json{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}});
  return j;
}

Json ResourceCatalog::ApiGroupList() const {
  std::vector<ResourceInfo> all = All();
  // Groups in first-seen order, versions in first-seen order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> versions;
  for (const auto& r : all) {
    if (r.group.empty()) continue;
    auto& vs = versions[r.group];
    if (vs.empty()) order.push_back(r.group);
    if (std::find(vs.begin(), vs.end(), r.version) == vs.end()) vs.push_back(r.version);
  }
  Json groups = Json::array();
  for (const auto& g : order) {
    Json group = Json::object();
    group["name"] = g;
    Json vs = Json::array();
    for (const auto& v : versions[g]) {
      vs.push_back(Json{{"groupVersion", g + "/" + v}, {"version", v}});
    }
    group["versions"] = vs;
    group["preferredVersion"] = vs[0];
    groups.push_back(std::move(group));
  }
  Json j = Json::object();
  j["kind"] = "APIGroupList";
  j["apiVersion"] = "v1";
  j["groups"] = std::move(groups);
  return j;
}

std::optional<Json> ResourceCatalog::ResourceList(const std::string& group,
                                                  const std::string& version) const {
  Json resources = Json::array();
  bool any = false;
  for (const auto& r : All()) {
    if (r.group != group || r.version != version) continue;
    any = true;
    resources.push_back(ResourceEntry(r));
    for (const auto& sub : r.subresources) {
      Json s = Json::object();
      s["name"] = r.resource + "/" + sub;
      s["singularName"] = "";
      s["namespaced"] = r.namespaced;
      if (sub == "scale") {
        s["group"] = "autoscaling";
        s["version"] = "v1";
        s["kind"] = "Scale";
        s["verbs"] = Json::array({"get", "patch", "update"});
      } else if (sub == "log") {
        s["kind"] = "Pod";
        s["verbs"] = Json::array({"get"});
      } else if (sub == "status") {
        s["kind"] = r.kind;
        s["verbs"] = Json::array({"get", "patch", "update"});
      } else {
        s["kind"] = sub == "token" ? "TokenRequest" : r.kind;
        s["verbs"] = Json::array({"create"});
      }
      resources.push_back(std::move(s));
    }
  }
  if (!any) return std::nullopt;
  Json j = Json::object();
  j["kind"] = "APIResourceList";
  j["apiVersion"] = "v1";
  j["groupVersion"] = group.empty() ? version : group + "/" + version;
  j["resources"] = std::move(resources);
  return j;
}

}  // namespace capstan::kube
