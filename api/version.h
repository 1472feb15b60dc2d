// Version constants: Capstan's own release, and the etcd release it speaks as.
//
// Clients (etcdctl, client-go, kubeadm's checks) gate features on the server
// version etcd reports, so Capstan reports an etcd 3.5 version number wherever
// etcd would (Maintenance.Status, --version) and keeps its own version apart.
#pragma once

namespace capstan {

// Capstan's own release number.
inline constexpr char kCapstanVersion[] = "0.1.0";

// The etcd server release Capstan is compatible with; reported as the server
// version in Maintenance.Status and by --version.
inline constexpr char kEtcdCompatVersion[] = "3.5.17";

// The etcd API (cluster) version: major.minor of kEtcdCompatVersion.
inline constexpr char kEtcdApiVersion[] = "3.5";

}  // namespace capstan
