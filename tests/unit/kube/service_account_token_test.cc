// Bound ServiceAccount tokens (TokenRequest): the JWT's claims, expiry under
// an injected clock, audience and signature checks, and the apiserver's
// expirationSeconds range with its exact messages (issue 12 item 7).
#include "kube-adapter/service_account_token.h"

#include <gtest/gtest.h>

#include <memory>

#include "kube-adapter/registry.h"  // Base64Decode

namespace capstan::kube {
namespace {

std::string FromB64Url(std::string s) {
  for (auto& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return Base64Decode(s);
}

class ServiceAccountTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pem_ = new std::string(ServiceAccountTokenSigner::GenerateKeyPem());
  }
  static void TearDownTestSuite() { delete pem_; }

  void SetUp() override {
    signer_ = ServiceAccountTokenSigner::FromPem(*pem_);
    ASSERT_NE(signer_, nullptr);
  }

  static BoundTokenClaims Claims(int64_t now, int64_t seconds) {
    BoundTokenClaims c;
    c.issuer = kServiceAccountIssuer;
    c.subject = "system:serviceaccount:dev:robot";
    c.audiences = {kServiceAccountIssuer};
    c.issued_at = now;
    c.not_before = now;
    c.expiry = now + seconds;
    c.ns = "dev";
    c.sa_name = "robot";
    c.sa_uid = "sa-uid";
    return c;
  }

  static std::string* pem_;
  std::unique_ptr<ServiceAccountTokenSigner> signer_;
};
std::string* ServiceAccountTokenTest::pem_ = nullptr;

constexpr int64_t kNow = 1800000000;

TEST_F(ServiceAccountTokenTest, TokenCarriesTheApiserverClaims) {
  BoundTokenClaims c = Claims(kNow, 600);
  c.bound_kind = "Pod";
  c.bound_name = "web";
  c.bound_uid = "pod-uid";
  const std::string token = signer_->Sign(c);
  ASSERT_TRUE(LooksLikeJwt(token));
  const size_t a = token.find('.'), b = token.find('.', a + 1);
  const Json header = Json::parse(FromB64Url(token.substr(0, a)));
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_FALSE(header["kid"].get<std::string>().empty());
  const Json p = Json::parse(FromB64Url(token.substr(a + 1, b - a - 1)));
  EXPECT_EQ(p["iss"], kServiceAccountIssuer);
  EXPECT_EQ(p["sub"], "system:serviceaccount:dev:robot");
  EXPECT_EQ(p["aud"], kServiceAccountIssuer);  // one audience: a string, as go-jose writes it
  EXPECT_EQ(p["iat"], kNow);
  EXPECT_EQ(p["nbf"], kNow);
  EXPECT_EQ(p["exp"], kNow + 600);
  EXPECT_EQ(p["kubernetes.io"]["namespace"], "dev");
  EXPECT_EQ(p["kubernetes.io"]["serviceaccount"]["name"], "robot");
  EXPECT_EQ(p["kubernetes.io"]["serviceaccount"]["uid"], "sa-uid");
  EXPECT_EQ(p["kubernetes.io"]["pod"]["name"], "web");
  EXPECT_EQ(p["kubernetes.io"]["pod"]["uid"], "pod-uid");
  EXPECT_FALSE(p["kubernetes.io"].contains("secret"));

  BoundTokenClaims got;
  EXPECT_EQ(signer_->Verify(token, kNow, {kServiceAccountIssuer}, &got), std::nullopt);
  EXPECT_EQ(got.bound_kind, "Pod");
  EXPECT_EQ(got.bound_uid, "pod-uid");
  EXPECT_EQ(got.sa_uid, "sa-uid");
  EXPECT_EQ(got.expiry, kNow + 600);
}

TEST_F(ServiceAccountTokenTest, ExpiresWithTheInjectedClock) {
  const std::string token = signer_->Sign(Claims(kNow, 600));
  BoundTokenClaims got;
  EXPECT_EQ(signer_->Verify(token, kNow + 599, {kServiceAccountIssuer}, &got), std::nullopt);
  // go-jose's one minute of leeway, then expired.
  EXPECT_EQ(signer_->Verify(token, kNow + 660, {kServiceAccountIssuer}, &got), std::nullopt);
  EXPECT_EQ(signer_->Verify(token, kNow + 661, {kServiceAccountIssuer}, &got),
            std::optional<std::string>("Token has expired."));
  // Not valid before it was issued (beyond the leeway).
  EXPECT_NE(signer_->Verify(token, kNow - 120, {kServiceAccountIssuer}, &got), std::nullopt);
}

TEST_F(ServiceAccountTokenTest, RefusesOtherAudiencesForgeriesAndOtherKeys) {
  BoundTokenClaims c = Claims(kNow, 3600);
  c.audiences = {"vault"};
  BoundTokenClaims got;
  EXPECT_NE(signer_->Verify(signer_->Sign(c), kNow, {kServiceAccountIssuer}, &got), std::nullopt);
  EXPECT_EQ(signer_->Verify(signer_->Sign(c), kNow, {"vault"}, &got), std::nullopt);
  c.audiences = {"vault", kServiceAccountIssuer};
  EXPECT_EQ(signer_->Verify(signer_->Sign(c), kNow, {kServiceAccountIssuer}, &got), std::nullopt);

  const std::string token = signer_->Sign(Claims(kNow, 3600));
  // A payload swapped under the same signature (here: another account).
  const size_t a = token.find('.'), b = token.find('.', a + 1);
  const std::string other = signer_->Sign([] {
    BoundTokenClaims o = Claims(kNow, 3600);
    o.sa_name = "admin";
    o.subject = "system:serviceaccount:dev:admin";
    return o;
  }());
  const size_t oa = other.find('.'), ob = other.find('.', oa + 1);
  const std::string forged =
      token.substr(0, a + 1) + other.substr(oa + 1, ob - oa - 1) + token.substr(b);
  EXPECT_EQ(signer_->Verify(forged, kNow, {kServiceAccountIssuer}, &got),
            std::optional<std::string>("invalid signature"));
  // alg "none" with no signature.
  const std::string none = "eyJhbGciOiJub25lIn0." + token.substr(a + 1, b - a - 1) + ".";
  EXPECT_NE(signer_->Verify(none, kNow, {kServiceAccountIssuer}, &got), std::nullopt);
  // Signed by another key.
  auto stranger = ServiceAccountTokenSigner::FromPem(ServiceAccountTokenSigner::GenerateKeyPem());
  ASSERT_NE(stranger, nullptr);
  EXPECT_EQ(
      signer_->Verify(stranger->Sign(Claims(kNow, 3600)), kNow, {kServiceAccountIssuer}, &got),
      std::optional<std::string>("invalid signature"));
  EXPECT_NE(signer_->Verify("a.b.c", kNow, {kServiceAccountIssuer}, &got), std::nullopt);
  EXPECT_NE(signer_->Verify("..", kNow, {kServiceAccountIssuer}, &got), std::nullopt);
  EXPECT_FALSE(LooksLikeJwt("0123456789abcdef"));  // legacy tokens are hex
}

TEST(TokenRequestValidationTest, ExpirationRangeAndMessages) {
  EXPECT_TRUE(ValidateTokenExpiration(600).empty());
  EXPECT_TRUE(ValidateTokenExpiration(3600).empty());
  EXPECT_TRUE(ValidateTokenExpiration(int64_t{1} << 32).empty());
  for (int64_t bad : {int64_t{599}, int64_t{60}, int64_t{0}, int64_t{-600}}) {
    auto errs = ValidateTokenExpiration(bad);
    ASSERT_EQ(errs.size(), 1u) << bad;
    EXPECT_EQ(errs[0].field, "spec.expirationSeconds");
    EXPECT_EQ(errs[0].message, "Invalid value: " + std::to_string(bad) +
                                   ": may not specify a duration less than 10 minutes");
  }
  auto errs = ValidateTokenExpiration((int64_t{1} << 32) + 1);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message,
            "Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds");
  const ApiError e =
      ApiError::Invalid("authentication.k8s.io", "TokenRequest", "", ValidateTokenExpiration(60));
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.message,
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid "
            "value: 60: may not specify a duration less than 10 minutes");
}

}  // namespace
}  // namespace capstan::kube
