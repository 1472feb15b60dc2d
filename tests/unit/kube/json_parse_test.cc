// Depth-limited JSON parsing (json_parse.h) and the recursive operations a
// kube handler thread (stack_thread.h) runs on the deepest accepted document.
#include "kube-adapter/json_parse.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <string>

#include "kube-adapter/crd_schema.h"
#include "kube-adapter/object_defaults.h"
#include "kube-adapter/object_patch.h"
#include "kube-adapter/stack_thread.h"

namespace capstan::kube {
namespace {

std::string NestedArrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// {"a":{"a":...{"a":1}...}} with `depth` objects.
std::string NestedObjects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += R"({"a":)";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

TEST(JsonParse, AcceptsTheApiserversMaximumDepth) {
  Json j;
  JsonParseError e;
  ASSERT_TRUE(ParseJsonBounded(NestedArrays(kMaxJsonDepth), &j, &e)) << e.message;
  EXPECT_TRUE(j.is_array());
  ASSERT_TRUE(ParseJsonBounded(NestedObjects(kMaxJsonDepth), &j, &e)) << e.message;
  EXPECT_TRUE(j.is_object());
}

TEST(JsonParse, RefusesOneLevelMoreWithGosMessage) {
  Json j = 5;
  JsonParseError e;
  EXPECT_FALSE(ParseJsonBounded(NestedArrays(kMaxJsonDepth + 1), &j, &e));
  EXPECT_TRUE(e.too_deep);
  EXPECT_EQ(e.message, "invalid character '[' exceeded max depth");
  EXPECT_TRUE(j.is_null());
  EXPECT_FALSE(ParseJsonBounded(NestedObjects(kMaxJsonDepth + 1), &j, &e));
  EXPECT_TRUE(e.too_deep);
  EXPECT_EQ(e.message, "invalid character '{' exceeded max depth");
}

TEST(JsonParse, HundredThousandLevelsInsideAnObjectAreRefusedQuickly) {
  // The issue's crash: an ordinary object with a 100k-deep value.
  std::string body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"d":)" +
                     NestedArrays(100000) + "}";
  Json j;
  JsonParseError e;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ParseJsonBounded(body, &j, &e));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(e.too_deep);
  EXPECT_EQ(e.message, "invalid character '[' exceeded max depth");
  // An unclosed 1M-deep prefix too: refused at the limit, not at the end.
  EXPECT_FALSE(ParseJsonBounded(std::string(1000000, '{'), &j, &e));
  EXPECT_FALSE(e.too_deep);  // '{' then '{' is a syntax error first (a key is expected)
  EXPECT_FALSE(ParseJsonBounded(std::string(1000000, '['), &j, &e));
  EXPECT_TRUE(e.too_deep);
}

TEST(JsonParse, SyntaxErrorsAreNotDepthErrorsAndNeverThrow) {
  const char* bad[] = {"", "{", "[1,", R"({"a":})", "nul", "\xff", "{\"a\":1}x", "1e999999"};
  for (const char* text : bad) {
    Json j;
    JsonParseError e;
    EXPECT_NO_THROW(EXPECT_FALSE(ParseJsonBounded(text, &j, &e)) << text);
    EXPECT_FALSE(e.too_deep) << text;
    EXPECT_FALSE(e.message.empty()) << text;
  }
  Json j;
  EXPECT_TRUE(ParseJsonBounded(R"({"b":2,"a":[1,{"c":null}]})", &j));
  EXPECT_EQ(j.dump(), R"({"b":2,"a":[1,{"c":null}]})");  // order kept
  EXPECT_TRUE(ParseJsonBounded("[[1]]", &j, nullptr, 2));
  EXPECT_FALSE(ParseJsonBounded("[[[1]]]", &j, nullptr, 2));
}

TEST(JsonParse, WideObjectsParseInLinearTime) {
  // 300k keys (~3 MiB): quadratic insertion would take minutes.
  std::string body = "{";
  for (int i = 0; i < 300000; ++i) body += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  body += ",\"k7\":\"again\",\"k299999\":1}";
  Json j;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(ParseJsonBounded(body, &j));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(j.size(), 300000u);
  EXPECT_EQ(j["k7"], "again");  // last value, first place
  EXPECT_EQ(j.begin().key(), "k0");
  EXPECT_EQ(std::next(j.begin(), 7).key(), "k7");
  EXPECT_EQ(j["k299999"], 1);
  // Small objects too: a repeated key keeps its place and takes the last value.
  ASSERT_TRUE(ParseJsonBounded(R"({"a":1,"b":2,"a":3})", &j));
  EXPECT_EQ(j.dump(), R"({"a":3,"b":2})");
}

TEST(JsonParse, SummarizesBodiesAsTheApiserverDoes) {
  EXPECT_EQ(SummarizeBody(""), "<empty>");
  EXPECT_EQ(SummarizeBody(R"({"a":1})"), R"({"a":1})");
  EXPECT_EQ(SummarizeBody(std::string(R"({"apiVersion":"v1","kind":"ConfigMap"})")),
            R"({"apiVersion":"v1","kind":"Con ...)");
  EXPECT_EQ(SummarizeBody("[1]"), "5b315d");
}

// Everything the handlers do recursively to a document must fit the handler
// thread's stack at the deepest accepted nesting.
TEST(JsonParse, DeepestAcceptedDocumentSurvivesTheRecursiveOperationsOnAHandlerStack) {
  bool done = false;
  StackThread t(kHandlerStackBytes, [&] {
    Json doc;
    ASSERT_TRUE(ParseJsonBounded(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},)"
                                 R"("data":)" +
                                     NestedObjects(kMaxJsonDepth - 1) + "}",
                                 &doc));
    Json copy = doc;
    EXPECT_EQ(copy, doc);
    EXPECT_FALSE(copy.dump().empty());
    Json patch;
    ASSERT_TRUE(ParseJsonBounded(R"({"data":)" + NestedObjects(kMaxJsonDepth - 1) + "}", &patch));
    EXPECT_FALSE(ApplyMergePatch(&copy, patch));
    EXPECT_FALSE(ApplyStrategicMergePatch(&copy, patch, "ConfigMap"));
    Json ops = Json::array({Json{{"op", "add"}, {"path", "/deep"}, {"value", patch}}});
    EXPECT_FALSE(ApplyJsonPatch(&copy, ops));
    ApplyDefaults("", "ConfigMap", &copy);
    Json schema = Json::parse(R"({"type":"object","x-kubernetes-preserve-unknown-fields":true})");
    ValidateAndPruneCustomResource(schema, &copy);
    // A CRD schema nested as deep as the parser allows, walked with an object.
    Json deep_schema;
    std::string s;
    for (int i = 0; i < 3000; ++i) s += R"({"type":"object","properties":{"a":)";
    s += R"({"type":"integer"})";
    for (int i = 0; i < 3000; ++i) s += "}}";
    ASSERT_TRUE(ParseJsonBounded(s, &deep_schema));
    Json cr;
    ASSERT_TRUE(ParseJsonBounded(NestedObjects(2999), &cr));
    ValidateAndPruneCustomResource(deep_schema, &cr);
    done = true;
  });
  ASSERT_TRUE(t.joinable());
  t.join();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace capstan::kube
