// KubeCredentials: the files a kube-apiserver is bootstrapped with, made on
// first start in <data-dir>/kube: a self-signed CA, a serving certificate
// signed by it (SANs IP:127.0.0.1, DNS:localhost, DNS:kubernetes and the
// serving host), the admin bearer token, the service-account signing key and
// admin.kubeconfig. Private files are created 0600 (never wider, not even
// briefly) in a 0700 directory.
#pragma once

#include <string>

#include "kube-adapter/api_error.h"

namespace capstan::kube {

struct KubeCredentials {
  std::string ca_pem;     // the CA certificate clients trust
  std::string cert_file;  // serving certificate (PEM)
  std::string key_file;   // its private key (PEM)
  std::string admin_token;
  std::string sa_key_pem;  // RSA key signing bound ServiceAccount tokens (sa.key)

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
