// ResourceCatalog: every resource the API serves (built-in kinds plus the
// custom resources of established CRDs), with what discovery publishes about
// it and where its objects live in the store.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/json.h"

namespace capstan::kube {

struct ResourceInfo {
  std::string group;  // "" for core
  std::string version;
  std::string resource;  // plural
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;  // "status", "scale", "log"
  // Where objects live: <prefix>/<ns>/<name> or <prefix>/<name>.
  std::string storage_prefix;
  bool custom = false;                   // served for a CRD
  Json printer_columns = Json::array();  // a CRD version's additionalPrinterColumns
  Json schema;                           // its openAPIV3Schema (null when none)
  // Name rule of object validation: dns1123-subdomain, dns1123-label, path-segment.
  std::string name_rule = "dns1123-subdomain";

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string ListKind() const { return kind + "List"; }
  // The store key of one object, or of the prefix of a namespace (name empty).
  std::string Key(const std::string& ns, const std::string& name) const;
  // Prefix of every object of the resource (all namespaces).
  std::string Prefix() const { return storage_prefix + "/"; }
};

class ResourceCatalog {
 public:
  ResourceCatalog();

  // Looks a resource up by group, version and plural (or a short name never;
  // kubectl resolves those itself from discovery).
  std::optional<ResourceInfo> Find(const std::string& group, const std::string& version,
                                   const std::string& resource) const;
  // Any served version of group/resource (storage does not depend on it).
  std::optional<ResourceInfo> FindResource(const std::string& group,
                                           const std::string& resource) const;
  std::optional<ResourceInfo> FindByKind(const std::string& group, const std::string& kind) const;
  // Every resource of every version (built-ins first).
  std::vector<ResourceInfo> All() const;

  // Replaces the set of custom resources (from the established CRDs).
  void SetCustomResources(std::vector<ResourceInfo> custom);
  // The ResourceInfos a CRD object serves (one per served version).
  static std::vector<ResourceInfo> FromCrd(const Json& crd);

  // Discovery documents.
  Json ApiVersions(const std::string& server_address) const;  // /api
  Json ApiGroupList() const;                                  // /apis
  // /api/v1 or /apis/<g>/<v>; nullopt if the group version is not served.
  std::optional<Json> ResourceList(const std::string& group, const std::string& version) const;

 private:
  mutable std::mutex mu_;
  std::vector<ResourceInfo> builtin_;
  std::vector<ResourceInfo> custom_;
};

}  // namespace capstan::kube
