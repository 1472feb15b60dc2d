#include "kube-adapter/kube_credentials.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "kube-adapter/service_account_token.h"

namespace capstan::kube {
namespace {

namespace fs = std::filesystem;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// Replaces `path` with `data`: written to a fresh temporary beside it,
// synced, renamed over it, the directory synced. A secret is created 0600 by
// the open itself (O_CREAT|O_EXCL), so no copy of it is ever readable by
// others, not even for a moment; O_EXCL after unlinking any leftover means
// the bytes always go to a new inode, never to a file (or hard link) someone
// planted under the temporary name.
bool WriteFile(const std::string& path, const std::string& data, bool secret) {
  const std::string tmp = path + ".tmp";
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return false;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                        secret ? 0600 : 0644);
  if (fd < 0) return false;
  size_t done = 0;
  bool ok = true;
  while (ok && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  const std::string dir = fs::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

std::string KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, n);
}

std::string CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* data;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, n);
}

Key ParseKey(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Key(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
}

Cert ParseCert(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

// A certificate for `key`, signed by issuer_key (self-signed when issuer is null).
Cert MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
              const std::string& sans) {
  Cert c(X509_new());
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : c.get();
  if (ca) {
    AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign");
    AddExt(c.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    AddExt(c.get(), iss, NID_ext_key_usage, "serverAuth");
    AddExt(c.get(), iss, NID_subject_alt_name, sans);
  }
  X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return c;
}

}  // namespace

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool KubeCredentials::Ensure(const std::string& dir, const std::string& cert_file,
                             const std::string& key_file, const std::string& host,
                             KubeCredentials* out, std::string* error) {
  std::error_code ec;
  // The directory holds private keys and the admin token: 0700 from the start.
  if (!fs::exists(dir, ec)) {
    const fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = "cannot create " + dir + ": " + std::strerror(errno);
      return false;
    }
  }
  const std::string ca_crt = dir + "/ca.crt", ca_key = dir + "/ca.key";
  const std::string srv_crt = dir + "/apiserver.crt", srv_key = dir + "/apiserver.key";
  const std::string token_file = dir + "/admin.token";

  if (!cert_file.empty() || !key_file.empty()) {
    if (cert_file.empty() || key_file.empty()) {
      *error = "--kube-cert-file and --kube-key-file must be given together";
      return false;
    }
    if (!ReadFile(cert_file, &out->ca_pem)) {
      *error = "cannot read " + cert_file;
      return false;
    }
    out->cert_file = cert_file;
    out->key_file = key_file;
  } else {
    std::string ca_pem, ca_key_pem;
    Key cakey;
    Cert cacert;
    if (ReadFile(ca_crt, &ca_pem) && ReadFile(ca_key, &ca_key_pem)) {
      cakey = ParseKey(ca_key_pem);
      cacert = ParseCert(ca_pem);
    }
    if (!cakey || !cacert) {
      cakey = Key(EVP_EC_gen("P-256"));
      if (!cakey) {
        *error = "cannot generate a key";
        return false;
      }
      cacert = MakeCert(cakey.get(), "kubernetes", nullptr, nullptr, true, "");
      ca_pem = CertPem(cacert.get());
      if (!WriteFile(ca_key, KeyPem(cakey.get()), true) || !WriteFile(ca_crt, ca_pem, false)) {
        *error = "cannot write the CA into " + dir;
        return false;
      }
      fs::remove(srv_crt, ec);  // re-issue under the new CA
    }
    std::string existing;
    if (!ReadFile(srv_crt, &existing) || !fs::exists(srv_key)) {
      Key k(EVP_EC_gen("P-256"));
      std::string sans = "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default";
      if (!host.empty() && host != "127.0.0.1" && host != "localhost") {
        bool ip = host.find_first_not_of("0123456789.") == std::string::npos ||
                  host.find(':') != std::string::npos;
        sans += (ip ? ",IP:" : ",DNS:") + host;
      }
      Cert c = MakeCert(k.get(), "kube-apiserver", cacert.get(), cakey.get(), false, sans);
      if (!WriteFile(srv_key, KeyPem(k.get()), true) ||
          !WriteFile(srv_crt, CertPem(c.get()), false)) {
        *error = "cannot write the serving certificate into " + dir;
        return false;
      }
    }
    out->ca_pem = ca_pem;
    out->cert_file = srv_crt;
    out->key_file = srv_key;
  }
  if (!ReadFile(token_file, &out->admin_token) || out->admin_token.size() < 32) {
    out->admin_token = RandomHex(32);
    if (!WriteFile(token_file, out->admin_token, true)) {
      *error = "cannot write " + token_file;
      return false;
    }
  }
  // The service-account token signing key (kube-apiserver's
  // --service-account-key-file / --service-account-signing-key-file).
  const std::string sa_key = dir + "/sa.key";
  if (!ReadFile(sa_key, &out->sa_key_pem) || out->sa_key_pem.empty()) {
    out->sa_key_pem = ServiceAccountTokenSigner::GenerateKeyPem();
    if (out->sa_key_pem.empty() || !WriteFile(sa_key, out->sa_key_pem, true)) {
      *error = "cannot write " + sa_key;
      return false;
    }
  }
  while (!out->admin_token.empty() &&
         (out->admin_token.back() == '\n' || out->admin_token.back() == '\r')) {
    out->admin_token.pop_back();
  }
  return true;
}

bool KubeCredentials::WriteAdminKubeconfig(const std::string& path, const std::string& server_url,
                                           std::string* error) const {
  // base64 of the CA for certificate-authority-data.
  std::string b64(4 * ((ca_pem.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                          reinterpret_cast<const unsigned char*>(ca_pem.data()),
                          static_cast<int>(ca_pem.size()));
  b64.resize(n);
  std::string y;
  y += "apiVersion: v1\n";
  y += "kind: Config\n";
  y += "clusters:\n";
  y += "- cluster:\n";
  y += "    certificate-authority-data: " + b64 + "\n";
  y += "    server: " + server_url + "\n";
  y += "  name: kubernetes\n";
  y += "contexts:\n";
  y += "- context:\n";
  y += "    cluster: kubernetes\n";
  y += "    user: kubernetes-admin\n";
  y += "  name: kubernetes-admin@kubernetes\n";
  y += "current-context: kubernetes-admin@kubernetes\n";
  y += "preferences: {}\n";
  y += "users:\n";
  y += "- name: kubernetes-admin\n";
  y += "  user:\n";
  y += "    token: " + admin_token + "\n";
  if (!WriteFile(path, y, true)) {
    *error = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace capstan::kube
