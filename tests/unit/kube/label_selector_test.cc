#include "kube-adapter/label_selector.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

bool Sel(const std::string& s, const std::string& labels) {
  LabelSelector sel;
  auto err = LabelSelector::Parse(s, &sel);
  EXPECT_FALSE(err) << s << ": " << (err ? err->message : "");
  return sel.Matches(Json::parse(labels));
}

std::string ParseError(const std::string& s) {
  LabelSelector sel;
  auto err = LabelSelector::Parse(s, &sel);
  if (!err) return "";
  EXPECT_EQ(err->code, 400);
  EXPECT_EQ(err->reason, "BadRequest");
  return err->message;
}

TEST(LabelSelectorTest, EqualityForms) {
  EXPECT_TRUE(Sel("app=web", R"({"app":"web"})"));
  EXPECT_TRUE(Sel("app==web", R"({"app":"web","x":"y"})"));
  EXPECT_FALSE(Sel("app=web", R"({"app":"db"})"));
  EXPECT_FALSE(Sel("app=web", R"({})"));
  EXPECT_TRUE(Sel("app!=web", R"({"app":"db"})"));
  EXPECT_TRUE(Sel("app!=web", R"({})"));  // a missing key matches !=
  EXPECT_FALSE(Sel("app!=web", R"({"app":"web"})"));
  EXPECT_TRUE(Sel("app=", R"({"app":""})"));
}

TEST(LabelSelectorTest, SetFormsAndExistence) {
  EXPECT_TRUE(Sel("env in (prod, qa)", R"({"env":"qa"})"));
  EXPECT_FALSE(Sel("env in (prod,qa)", R"({"env":"dev"})"));
  EXPECT_FALSE(Sel("env in (prod,qa)", R"({})"));
  EXPECT_TRUE(Sel("env notin (prod,qa)", R"({"env":"dev"})"));
  EXPECT_TRUE(Sel("env notin (prod,qa)", R"({})"));
  EXPECT_TRUE(Sel("env", R"({"env":""})"));
  EXPECT_FALSE(Sel("env", R"({})"));
  EXPECT_TRUE(Sel("!env", R"({})"));
  EXPECT_FALSE(Sel("!env", R"({"env":"x"})"));
  EXPECT_TRUE(Sel("  app = web ,  !legacy,tier in (fe)", R"({"app":"web","tier":"fe"})"));
  EXPECT_FALSE(Sel("app=web,!legacy", R"({"app":"web","legacy":"1"})"));
  EXPECT_TRUE(Sel("in=notin", R"({"in":"notin"})"));  // keywords are identifiers as keys
  EXPECT_TRUE(Sel("n>3", R"({"n":"4"})"));
  EXPECT_FALSE(Sel("n<3", R"({"n":"4"})"));
  EXPECT_TRUE(Sel("example.com/role=db", R"({"example.com/role":"db"})"));
}

TEST(LabelSelectorTest, EmptySelectorMatchesAll) {
  LabelSelector sel;
  ASSERT_FALSE(LabelSelector::Parse("", &sel));
  EXPECT_TRUE(sel.Empty());
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"a":"b"})")));
  EXPECT_TRUE(sel.Matches(Json()));
  ASSERT_FALSE(LabelSelector::Parse("a=b", &sel));
  EXPECT_FALSE(sel.Empty());
  EXPECT_FALSE(sel.Matches(Json()));
}

TEST(LabelSelectorTest, SyntaxErrorsLikeKubernetes) {
  EXPECT_EQ(ParseError("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(ParseError("a=b c"), "found 'c', expected: ',' or 'end of string'");
  EXPECT_EQ(ParseError("a in b"), "unable to parse requirement: found 'b' expected: '('");
  EXPECT_EQ(ParseError("a in (b"), "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(ParseError("a=b,"), "found '', expected: identifier after ','");
  EXPECT_EQ(ParseError("=b"), "found '=', expected: !, identifier, or 'end of string'");
  EXPECT_NE(ParseError("a=b=c").find("expected"), std::string::npos);
  EXPECT_NE(ParseError("-bad=x").find("unable to parse requirement: invalid label key \"-bad\""),
            std::string::npos);
  EXPECT_NE(ParseError("a=-x").find("invalid label value: \"-x\": at key: \"a\""),
            std::string::npos);
  EXPECT_EQ(ParseError("n>x"),
            "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer");
}

TEST(LabelSelectorTest, InvalidUtf8DoesNotThrow) {
  LabelSelector sel;
  auto err = LabelSelector::Parse("\xff\xfe=x", &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

TEST(LabelSelectorTest, FromJson) {
  LabelSelector sel;
  ASSERT_FALSE(LabelSelector::FromJson(Json::parse(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"env","operator":"In","values":["prod","qa"]},
                          {"key":"legacy","operator":"DoesNotExist"}]})"),
                                       &sel));
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"app":"web","env":"prod"})")));
  EXPECT_FALSE(sel.Matches(Json::parse(R"({"app":"web","env":"dev"})")));
  EXPECT_FALSE(sel.Matches(Json::parse(R"({"app":"web","env":"prod","legacy":"y"})")));

  ASSERT_FALSE(LabelSelector::FromJson(Json::object(), &sel));
  EXPECT_TRUE(sel.Empty());
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"x":"y"})")));

  ASSERT_FALSE(LabelSelector::FromJson(Json(), &sel));  // null selects nothing
  EXPECT_FALSE(sel.Empty());
  EXPECT_FALSE(sel.Matches(Json::parse(R"({"x":"y"})")));

  ASSERT_FALSE(LabelSelector::FromJson(
      Json::parse(
          R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":["x"]},{"key":"b","operator":"Exists"}]})"),
      &sel));
  EXPECT_TRUE(sel.Matches(Json::parse(R"({"b":"1"})")));
  EXPECT_FALSE(sel.Matches(Json::parse(R"({"a":"x","b":"1"})")));

  auto err = LabelSelector::FromJson(
      Json::parse(R"({"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]})"), &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "\"Gt\" is not a valid pod selector operator");
  err = LabelSelector::FromJson(
      Json::parse(R"({"matchExpressions":[{"key":5,"operator":["In"]}]})"), &sel);  // no throw
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
  err = LabelSelector::FromJson(Json::parse(R"({"matchLabels":{"a":1}})"), &sel);
  ASSERT_TRUE(err);
  err = LabelSelector::FromJson(
      Json::parse(R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})"), &sel);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 400);
}

}  // namespace
}  // namespace capstan::kube
