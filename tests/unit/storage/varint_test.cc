#include "storage/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace capstan {
namespace {

TEST(VarintTest, RoundTripsAndMatchesProtobufLengths) {
  const uint64_t values[] = {
      0, 1, 127, 128, 300, 16383, 16384, uint64_t{1} << 35, static_cast<uint64_t>(-1)};
  const size_t lengths[] = {1, 1, 1, 2, 2, 2, 3, 6, 10};
  for (size_t i = 0; i < std::size(values); ++i) {
    std::string s;
    AppendVarint(&s, values[i]);
    EXPECT_EQ(s.size(), lengths[i]) << values[i];
    s += "rest";
    std::string_view in(s);
    uint64_t v = 0;
    ASSERT_TRUE(GetVarint(&in, &v)) << values[i];
    EXPECT_EQ(v, values[i]);
    EXPECT_EQ(in, "rest");
  }
  std::string s;
  AppendVarint(&s, 300);
  EXPECT_EQ(s, std::string("\xac\x02"));
}

TEST(VarintTest, TruncatedOrOverlongInputIsRefused) {
  std::string_view cut("\x80\x80", 2);
  uint64_t v = 0;
  EXPECT_FALSE(GetVarint(&cut, &v));
  const std::string overlong(11, '\x80');
  std::string_view in(overlong);
  EXPECT_FALSE(GetVarint(&in, &v));
}

}  // namespace
}  // namespace capstan
