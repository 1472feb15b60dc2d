// Bound ServiceAccount tokens: what the TokenRequest API
// (serviceaccounts/<name>/token, `kubectl create token`) issues, as
// Kubernetes' pkg/serviceaccount (jwt.go, claims.go) and
// pkg/registry/core/serviceaccount/storage/token.go do: a JWT signed RS256
// with the service-account key, carrying iss, sub, aud, iat, nbf, exp and the
// private `kubernetes.io` claim (namespace, serviceaccount name/uid, and the
// pod or secret the token is bound to).
//
// Pure: signing and checking take the time as an argument (unix seconds), so
// tests drive the clock. Whether the account and the bound object still exist
// is the registry's check, made with the claims Verify returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// The issuer, and the API server's own audience (kubeadm's
// --service-account-issuer; --api-audiences defaults to it).
inline constexpr char kServiceAccountIssuer[] = "https://kubernetes.default.svc.cluster.local";

// TokenRequest limits (pkg/apis/authentication/validation).
inline constexpr int64_t kMinTokenExpirationSeconds = 10 * 60;
inline constexpr int64_t kMaxTokenExpirationSeconds = int64_t{1} << 32;
inline constexpr int64_t kDefaultTokenExpirationSeconds = 60 * 60;

struct BoundTokenClaims {
  std::string issuer;
  std::string subject;  // system:serviceaccount:<ns>:<name>
  std::vector<std::string> audiences;
  int64_t issued_at = 0;
  int64_t not_before = 0;
  int64_t expiry = 0;
  std::string ns;
  std::string sa_name;
  std::string sa_uid;
  std::string bound_kind;  // "", "Pod" or "Secret"
  std::string bound_name;
  std::string bound_uid;
};

// 422 causes of a TokenRequest spec whose expirationSeconds (already
// defaulted) is out of range: below 10 minutes (negative included) or above
// 2^32 seconds.
std::vector<FieldCause> ValidateTokenExpiration(int64_t expiration_seconds);

// Whether a bearer token has the shape of a JWT (three base64url parts), as
// opposed to a legacy opaque token.
bool LooksLikeJwt(const std::string& token);

class ServiceAccountTokenSigner {
 public:
  // From a PEM RSA private key; null when it does not parse.
  static std::unique_ptr<ServiceAccountTokenSigner> FromPem(const std::string& private_key_pem);
  // A fresh RSA-2048 private key, PEM.
  static std::string GenerateKeyPem();

  ~ServiceAccountTokenSigner();
  ServiceAccountTokenSigner(const ServiceAccountTokenSigner&) = delete;
  ServiceAccountTokenSigner& operator=(const ServiceAccountTokenSigner&) = delete;

  // The compact JWS of `claims` (header {"alg":"RS256","kid":...}).
  std::string Sign(const BoundTokenClaims& claims) const;

  // Checks signature, algorithm, issuer, the time window at `now` (one minute
  // of leeway, as go-jose allows) and that the token's audiences include one
  // of `audiences`. nullopt and *claims filled when valid; else why not (for
  // logs; the client only ever sees 401 Unauthorized).
  std::optional<std::string> Verify(const std::string& token, int64_t now,
                                    const std::vector<std::string>& audiences,
                                    BoundTokenClaims* claims) const;

 private:
  struct Key;
  explicit ServiceAccountTokenSigner(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

}  // namespace capstan::kube
