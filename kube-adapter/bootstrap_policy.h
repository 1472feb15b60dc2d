// The default RBAC objects kube-apiserver reconciles at start (Kubernetes'
// plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, the subset
// Capstan serves). Create them idempotently; they carry the autoupdate
// annotation and the kubernetes.io/bootstrapping: rbac-defaults label.
#pragma once

#include <vector>

#include "kube-adapter/json.h"

namespace capstan::kube {

// cluster-admin, admin, edit, view, system:aggregate-to-{admin,edit,view},
// system:discovery, system:basic-user, system:public-info-viewer, as full
// rbac.authorization.k8s.io/v1 objects. admin/edit/view already carry
// their aggregated rules.
std::vector<Json> BootstrapClusterRoles();

// cluster-admin -> Group system:masters; system:discovery and
// system:basic-user -> system:authenticated; system:public-info-viewer ->
// system:authenticated and system:unauthenticated.
std::vector<Json> BootstrapClusterRoleBindings();

}  // namespace capstan::kube
