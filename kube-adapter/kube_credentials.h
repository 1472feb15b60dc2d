// KubeCredentials: the files a kube-apiserver is bootstrapped with, made on
// first start in <data-dir>/kube: a self-signed CA, a serving certificate
// signed by it (SANs IP:127.0.0.1, DNS:localhost, DNS:kubernetes and the
// serving host), the admin bearer token, and admin.kubeconfig.
#pragma once

#include <string>

#include "kube-adapter/api_error.h"

namespace capstan::kube {

struct KubeCredentials {
  std::string ca_pem;     // the CA certificate clients trust
  std::string cert_file;  // serving certificate (PEM)
  std::string key_file;   // its private key (PEM)
  std::string admin_token;

  // Creates (or reuses) everything under `dir`. `cert_file`/`key_file`, when
  // given, are used instead of a generated serving pair (the CA in the
  // kubeconfig is then the certificate itself). `host` is added as a SAN.
  static bool Ensure(const std::string& dir, const std::string& cert_file,
                     const std::string& key_file, const std::string& host, KubeCredentials* out,
                     std::string* error);

  // Writes the admin kubeconfig: cluster "kubernetes", user "kubernetes-admin"
  // (group system:masters), context "kubernetes-admin@kubernetes".
  bool WriteAdminKubeconfig(const std::string& path, const std::string& server_url,
                            std::string* error) const;
};

// 32 random bytes as lower-case hex (tokens, uids).
std::string RandomHex(size_t bytes);

}  // namespace capstan::kube
