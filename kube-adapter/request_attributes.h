// RequestAttributes: what authorization sees of a request (Kubernetes'
// authorizer.Attributes, from its RequestInfo).
#pragma once

#include <string>

#include "kube-adapter/user_info.h"

namespace capstan::kube {

struct RequestAttributes {
  UserInfo user;
  // get list watch create update patch delete deletecollection (resource
  // requests), or the lower-case HTTP method for non-resource paths.
  std::string verb;
  bool resource_request = true;
  std::string namespace_;  // empty for cluster-scoped resources and cluster-wide lists
  std::string api_group;   // "" for core
  std::string api_version;
  std::string resource;     // plural, e.g. "pods"
  std::string subresource;  // e.g. "log", "status", "scale"
  std::string name;         // empty for create and collection requests
  std::string path;         // for non-resource requests, e.g. "/healthz"
};

}  // namespace capstan::kube
