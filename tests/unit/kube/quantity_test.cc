// Quantity parsing, canonical form and arithmetic, from Kubernetes'
// apimachinery quantity_test.go behaviour and the forms in SPEC §7.
#include "kube-adapter/quantity.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

struct CanonicalCase {
  const char* in;
  const char* out;
};

TEST(QuantityTest, CanonicalForms) {
  const CanonicalCase cases[] = {
      {"0", "0"},
      {"0.1", "100m"},
      {"1.5", "1500m"},
      {"1000", "1k"},
      {"2000M", "2G"},
      {"500M", "500M"},
      {"1.5Gi", "1536Mi"},
      {"1024Mi", "1Gi"},
      {"1536Ki", "1536Ki"},
      {"0.5Ki", "512"},
      {"1.1Ki", "1126400m"},
      {"100m", "100m"},
      {"1000m", "1"},
      {"1500m", "1500m"},
      {"0.1n", "1n"},
      {"1e3", "1e3"},
      {"1.5e3", "1500"},
      {"0.1e0", "100e-3"},
      {"1E", "1E"},
      {"-1", "-1"},
      {"-0.5Ki", "-512"},
      {"+5", "5"},
      {"00500m", "500m"},
      {"1Ki", "1Ki"},
      {"2048Ki", "2Mi"},
      {"1023", "1023"},
      {"128974848", "128974848"},
      {"129e6", "129e6"},
      {"129M", "129M"},
      {"123Mi", "123Mi"},
      {"5Gi", "5Gi"},
      {"0.0000001", "100n"},
      {"1u", "1u"},
      {"12345678n", "12345678n"},
      {"-0", "0"},
      {".", "0"},
      {"1e-3", "1e-3"},
      {"1.", "1"},
      {"7Ei", "7Ei"},
      {"8Ei", "9223372036854775807"},  // capped at MaxInt64 like Kubernetes
      {"1.5k", "1500"},
      {"3Ti", "3Ti"},
      {"0.25", "250m"},
  };
  for (const auto& c : cases) {
    Quantity q;
    std::string err;
    ASSERT_TRUE(Quantity::Parse(c.in, &q, &err)) << c.in << ": " << err;
    EXPECT_EQ(q.String(), c.out) << c.in;
  }
}

TEST(QuantityTest, ParseErrors) {
  const std::string kRegex =
      "quantities must match the regular expression "
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  const struct {
    const char* in;
    std::string err;
  } cases[] = {
      {"", kRegex},
      {"abc", kRegex},
      {"1 ", kRegex},
      {"1.5.5", kRegex},
      {"1Mx", kRegex},
      {"1Mi3", "unable to parse quantity's suffix"},
      {"1KB", kRegex},
      {"1e", "unable to parse quantity's suffix"},
      {"1mi", "unable to parse quantity's suffix"},
      {"100000000000E", "unable to parse numeric part of quantity"},
  };
  for (const auto& c : cases) {
    Quantity q;
    std::string err;
    EXPECT_FALSE(Quantity::Parse(c.in, &q, &err)) << c.in;
    EXPECT_EQ(err, c.err) << c.in;
  }
}

TEST(QuantityTest, JsonNumbers) {
  const struct {
    Json in;
    const char* out;
  } cases[] = {
      {Json(1), "1"},        {Json(0.1), "100m"},    {Json(3), "3"},       {Json(0.5), "500m"},
      {Json(2.25), "2250m"}, {Json("250m"), "250m"}, {Json(nullptr), "0"}, {Json(1e21), ""},
  };
  for (const auto& c : cases) {
    Quantity q;
    std::string err;
    bool ok = Quantity::FromJson(c.in, &q, &err);
    if (std::string(c.out).empty()) {
      EXPECT_FALSE(ok) << c.in.dump();
      continue;
    }
    ASSERT_TRUE(ok) << c.in.dump() << ": " << err;
    EXPECT_EQ(q.String(), c.out) << c.in.dump();
  }
  Quantity q;
  std::string err;
  EXPECT_FALSE(Quantity::FromJson(Json::array(), &q, &err));
}

TEST(QuantityTest, ValueAndMilliValueRoundAwayFromZero) {
  const struct {
    const char* in;
    int64_t value, milli;
  } cases[] = {
      {"1", 1, 1000},
      {"100m", 1, 100},
      {"1.5", 2, 1500},
      {"0.1m", 1, 1},
      {"1Ki", 1024, 1024000},
      {"-1.5", -2, -1500},
      {"1n", 1, 1},
      {"0", 0, 0},
      {"8Ei", INT64_MAX, INT64_MAX},
  };
  for (const auto& c : cases) {
    Quantity q = Quantity::MustParse(c.in);
    EXPECT_EQ(q.Value(), c.value) << c.in;
    EXPECT_EQ(q.MilliValue(), c.milli) << c.in;
  }
}

TEST(QuantityTest, CompareAddSub) {
  EXPECT_EQ(Quantity::MustParse("1").Compare(Quantity::MustParse("1000m")), 0);
  EXPECT_LT(Quantity::MustParse("999m").Compare(Quantity::MustParse("1")), 0);
  EXPECT_GT(Quantity::MustParse("1Gi").Compare(Quantity::MustParse("1G")), 0);
  EXPECT_TRUE(Quantity::MustParse("1Mi") == Quantity::MustParse("1048576"));

  Quantity a = Quantity::MustParse("1Gi");
  EXPECT_TRUE(a.Add(Quantity::MustParse("200Mi")));
  EXPECT_EQ(a.String(), "1224Mi");

  // A zero receiver takes the other operand's format.
  Quantity z;
  z.Add(Quantity::MustParse("512Mi"));
  EXPECT_EQ(z.String(), "512Mi");
  Quantity c = Quantity::MustParse("500m");
  c.Add(Quantity::MustParse("1500m"));
  EXPECT_EQ(c.String(), "2");
  c.Sub(Quantity::MustParse("2"));
  EXPECT_TRUE(c.IsZero());
  EXPECT_EQ(c.String(), "0");
  c.Sub(Quantity::MustParse("1"));
  EXPECT_EQ(c.Sign(), -1);
  EXPECT_EQ(c.String(), "-1");

  Quantity big = Quantity::MustParse("8Ei");
  EXPECT_FALSE(big.Add(Quantity::MustParse("8Ei")));  // saturates
}

TEST(QuantityTest, FormatsAndConstructors) {
  EXPECT_EQ(Quantity::FromMilli(1500).String(), "1500m");
  EXPECT_EQ(Quantity::FromValue(1258291200).String(), "1258291200");
  EXPECT_EQ(Quantity::FromValue(1258291200, Quantity::Format::kBinarySI).String(), "1200Mi");
  Quantity q = Quantity::MustParse("1Gi");
  q.set_format(Quantity::Format::kDecimalSI);
  EXPECT_EQ(q.String(), "1073741824");
  q.set_format(Quantity::Format::kDecimalExponent);
  EXPECT_EQ(q.String(), "1073741824");
  EXPECT_EQ(Quantity::MustParse("1e3").format(), Quantity::Format::kDecimalExponent);
  Quantity r = Quantity::MustParse("1.2");
  r.RoundUpToUnits();
  EXPECT_EQ(r.String(), "2");
}

TEST(QuantityTest, ResourceLists) {
  Json j = {{"memory", "1.5Gi"}, {"cpu", 0.5}, {"bad", "x"}};
  ResourceList l = ParseResourceList(j);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(ResourceListToJson(l).dump(), R"({"cpu":"500m","memory":"1536Mi"})");
  EXPECT_TRUE(ParseResourceList(Json("x")).empty());

  Json c = {{"cpu", 0.1}, {"memory", "1024Mi"}, {"pods", 3}, {"bad", "1KB"}};
  CanonicalizeQuantities(&c);
  EXPECT_EQ(c.dump(), R"({"cpu":"100m","memory":"1Gi","pods":"3","bad":"1KB"})");
}

}  // namespace
}  // namespace capstan::kube
