#include "kube-adapter/service_account_token.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

namespace capstan::kube {
namespace {

constexpr int64_t kLeewaySeconds = 60;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string Base64Url(const unsigned char* data, size_t n) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == n) {
    const uint32_t v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (i + 2 == n) {
    const uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string Base64Url(const std::string& s) {
  return Base64Url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// Unpadded base64url; false on any other character or a bad length.
bool FromBase64Url(const std::string& in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

// nlohmann::json (sorted keys, as Go's json.Marshal of a map writes them).
using Claims = nlohmann::json;

std::string StringAt(const Claims& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IntAt(const Claims& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return false;
  *out = it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
  return true;
}

}  // namespace

struct ServiceAccountTokenSigner::Key {
  Pkey pkey;
};

std::vector<FieldCause> ValidateTokenExpiration(int64_t seconds) {
  std::vector<FieldCause> errs;
  if (seconds < kMinTokenExpirationSeconds) {
    errs.push_back(FieldInvalid("spec.expirationSeconds", Json(seconds),
                                "may not specify a duration less than 10 minutes"));
  }
  if (seconds > kMaxTokenExpirationSeconds) {
    errs.push_back(FieldInvalid("spec.expirationSeconds", Json(seconds),
                                "may not specify a duration larger than 2^32 seconds"));
  }
  return errs;
}

bool LooksLikeJwt(const std::string& token) {
  return std::count(token.begin(), token.end(), '.') == 2;
}

std::string ServiceAccountTokenSigner::GenerateKeyPem() {
  Pkey k(EVP_RSA_gen(2048));
  if (!k) return "";
  Bio b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(b.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
    return "";
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::unique_ptr<ServiceAccountTokenSigner> ServiceAccountTokenSigner::FromPem(
    const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k || EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_RSA) return nullptr;
  auto key = std::make_unique<Key>();
  key->pkey = std::move(k);
  std::unique_ptr<ServiceAccountTokenSigner> s(new ServiceAccountTokenSigner(std::move(key)));
  return s;
}

ServiceAccountTokenSigner::ServiceAccountTokenSigner(std::unique_ptr<Key> key)
    : key_(std::move(key)) {
  // kube's key id: base64url(SHA-256(DER public key)).
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key_->pkey.get(), &der);
  if (n > 0) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(der, static_cast<size_t>(n), digest, &len, EVP_sha256(), nullptr);
    key_id_ = Base64Url(digest, len);
  }
  OPENSSL_free(der);
}

ServiceAccountTokenSigner::~ServiceAccountTokenSigner() = default;

std::string ServiceAccountTokenSigner::Sign(const BoundTokenClaims& c) const {
  Claims header = {{"alg", "RS256"}, {"kid", key_id_}};
  Claims k8s = Claims::object();
  k8s["namespace"] = c.ns;
  k8s["serviceaccount"] = {{"name", c.sa_name}, {"uid", c.sa_uid}};
  if (c.bound_kind == "Pod") k8s["pod"] = {{"name", c.bound_name}, {"uid", c.bound_uid}};
  if (c.bound_kind == "Secret") k8s["secret"] = {{"name", c.bound_name}, {"uid", c.bound_uid}};
  Claims payload = Claims::object();
  payload["iss"] = c.issuer;
  payload["sub"] = c.subject;
  // go-jose writes a single audience as a string.
  payload["aud"] = c.audiences.size() == 1 ? Claims(c.audiences[0]) : Claims(c.audiences);
  payload["iat"] = c.issued_at;
  payload["nbf"] = c.not_before;
  payload["exp"] = c.expiry;
  payload["kubernetes.io"] = k8s;
  const std::string signing_input = Base64Url(header.dump()) + "." + Base64Url(payload.dump());
  MdCtx ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return "";
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return "";
  }
  sig.resize(len);
  return signing_input + "." + Base64Url(sig);
}

std::optional<std::string> ServiceAccountTokenSigner::Verify(
    const std::string& token, int64_t now, const std::vector<std::string>& audiences,
    BoundTokenClaims* out) const {
  const size_t a = token.find('.');
  const size_t b = a == std::string::npos ? a : token.find('.', a + 1);
  if (b == std::string::npos || token.find('.', b + 1) != std::string::npos) {
    return "not a JWT";
  }
  std::string header_text, payload_text, sig;
  if (!FromBase64Url(token.substr(0, a), &header_text) ||
      !FromBase64Url(token.substr(a + 1, b - a - 1), &payload_text) ||
      !FromBase64Url(token.substr(b + 1), &sig)) {
    return "malformed base64url";
  }
  const Claims header = Claims::parse(header_text, nullptr, false);
  if (!header.is_object() || StringAt(header, "alg") != "RS256") return "unexpected algorithm";
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(token.data()), b) != 1) {
    return "invalid signature";
  }
  const Claims p = Claims::parse(payload_text, nullptr, false);
  if (!p.is_object()) return "malformed claims";
  BoundTokenClaims c;
  c.issuer = StringAt(p, "iss");
  c.subject = StringAt(p, "sub");
  if (c.issuer != kServiceAccountIssuer) return "unknown issuer";
  if (!IntAt(p, "exp", &c.expiry)) return "no expiry";
  IntAt(p, "iat", &c.issued_at);
  IntAt(p, "nbf", &c.not_before);
  if (now > c.expiry + kLeewaySeconds) return "Token has expired.";
  if (c.not_before != 0 && now + kLeewaySeconds < c.not_before) return "Token is not valid yet.";
  if (c.issued_at != 0 && now + kLeewaySeconds < c.issued_at) return "Token issued in the future.";
  auto aud = p.find("aud");
  if (aud != p.end() && aud->is_string()) c.audiences.push_back(aud->get<std::string>());
  if (aud != p.end() && aud->is_array()) {
    for (const auto& x : *aud) {
      if (x.is_string()) c.audiences.push_back(x.get<std::string>());
    }
  }
  bool audience_ok = false;
  for (const auto& want : audiences) {
    if (std::find(c.audiences.begin(), c.audiences.end(), want) != c.audiences.end()) {
      audience_ok = true;
    }
  }
  if (!audience_ok) return "token audiences are invalid for the target audiences";
  auto k8s = p.find("kubernetes.io");
  if (k8s == p.end() || !k8s->is_object()) return "no kubernetes.io claim";
  c.ns = StringAt(*k8s, "namespace");
  auto sa = k8s->find("serviceaccount");
  if (sa == k8s->end() || !sa->is_object()) return "no serviceaccount claim";
  c.sa_name = StringAt(*sa, "name");
  c.sa_uid = StringAt(*sa, "uid");
  if (c.ns.empty() || c.sa_name.empty() ||
      c.subject != "system:serviceaccount:" + c.ns + ":" + c.sa_name) {
    return "inconsistent serviceaccount claims";
  }
  for (const char* kind : {"pod", "secret"}) {
    auto ref = k8s->find(kind);
    if (ref == k8s->end() || !ref->is_object()) continue;
    c.bound_kind = std::string(kind) == "pod" ? "Pod" : "Secret";
    c.bound_name = StringAt(*ref, "name");
    c.bound_uid = StringAt(*ref, "uid");
  }
  *out = std::move(c);
  return std::nullopt;
}

}  // namespace capstan::kube
