// EncodeKeyValue must write exactly what protobuf's serializer writes: the
// bytes are stored, hashed by HashKV and compared with etcd's.
#include "storage/key_value_encoding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "kv.pb.h"

namespace capstan {
namespace {

std::string Protobuf(const KeyValueFields& f) {
  mvccpb::KeyValue kv;
  kv.set_key(std::string(f.key));
  kv.set_create_revision(f.create_revision);
  kv.set_mod_revision(f.mod_revision);
  kv.set_version(f.version);
  kv.set_value(std::string(f.value));
  kv.set_lease(f.lease);
  return kv.SerializeAsString();
}

TEST(KeyValueEncodingTest, SameBytesAsProtobuf) {
  const std::string long_value(300, 'v');   // a two-byte length
  const std::string big_value(70000, 'w');  // a three-byte length
  const int64_t ints[] = {0,
                          1,
                          127,
                          128,
                          16383,
                          16384,
                          int64_t{1} << 35,
                          -1,
                          std::numeric_limits<int64_t>::max(),
                          std::numeric_limits<int64_t>::min()};
  std::string out = "stale bytes from an earlier, longer record";
  for (std::string_view key :
       {std::string_view(), std::string_view("k"), std::string_view("/registry/pods/default/x")}) {
    for (std::string_view value : {std::string_view(), std::string_view("v"),
                                   std::string_view(long_value), std::string_view(big_value)}) {
      for (int64_t n : ints) {
        const KeyValueFields f[] = {
            {key, n, 2, 3, value, 0},
            {key, 2, n, 1, value, 0},
            {key, 2, 3, n, value, 0},
            {key, 2, 3, 1, value, n},
        };
        for (const KeyValueFields& kv : f) {
          EncodeKeyValue(kv, &out);
          ASSERT_EQ(out, Protobuf(kv)) << "key=" << kv.key << " n=" << n;
        }
      }
    }
  }
}

TEST(KeyValueEncodingTest, TombstoneIsKeyAlone) {
  std::string out;
  EncodeKeyValue(KeyValueFields{.key = "foo"}, &out);
  mvccpb::KeyValue kv;
  kv.set_key("foo");
  EXPECT_EQ(out, kv.SerializeAsString());
  mvccpb::KeyValue back;
  ASSERT_TRUE(back.ParseFromString(out));
  EXPECT_EQ(back.key(), "foo");
  EXPECT_EQ(back.mod_revision(), 0);
}

}  // namespace
}  // namespace capstan
