#include "kube-adapter/crd_schema.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

const Json kSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "required": ["cronSpec"],
      "properties": {
        "cronSpec": {"type": "string"},
        "image": {"type": "string"},
        "replicas": {"type": "integer", "minimum": 1},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "port": {"x-kubernetes-int-or-string": true},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "tags": {"type": "array", "items": {"type": "string"}}
      }
    }
  }
})");

TEST(CrdSchemaTest, ValidObjectIsPrunedOfUndeclaredFields) {
  Json cr = Json::parse(R"({"apiVersion":"stable.example.com/v1","kind":"CronTab",
    "metadata":{"name":"x","labels":{"a":"b"}},
    "spec":{"cronSpec":"* * * * */5","replicas":2,"unknown":1,"port":"http",
            "extra":{"free":{"form":true}},"tags":["a"]},
    "status":{"x":1}})");
  EXPECT_TRUE(ValidateAndPruneCustomResource(kSchema, &cr).empty());
  EXPECT_FALSE(cr["spec"].contains("unknown"));
  EXPECT_FALSE(cr.contains("status"));  // not declared by this schema
  EXPECT_TRUE(cr["spec"]["extra"]["free"]["form"].get<bool>());
  EXPECT_EQ(cr["metadata"]["labels"]["a"], "b");
}

TEST(CrdSchemaTest, TypeErrorsUseKubernetesWording) {
  Json cr = Json::parse(R"({"spec":{"cronSpec":"c","replicas":"abc"}})");
  auto causes = ValidateAndPruneCustomResource(kSchema, &cr);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].field, "spec.replicas");
  EXPECT_EQ(causes[0].message,
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
}

TEST(CrdSchemaTest, RequiredEnumAndMinimum) {
  Json cr = Json::parse(R"({"spec":{"replicas":0,"mode":"medium","tags":[1]}})");
  auto causes = ValidateAndPruneCustomResource(kSchema, &cr);
  std::vector<std::string> fields;
  for (const auto& c : causes) fields.push_back(c.field + ": " + c.message);
  ASSERT_EQ(causes.size(), 4u) << ::testing::PrintToString(fields);
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.cronSpec: Required value"), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(),
                      "spec.mode: Unsupported value: \"medium\": supported values: \"fast\", "
                      "\"slow\""),
            fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(),
                      "spec.tags[0]: Invalid value: \"integer\": spec.tags[0] in body must be "
                      "of type string: \"integer\""),
            fields.end())
      << ::testing::PrintToString(fields);
}

}  // namespace
}  // namespace capstan::kube
