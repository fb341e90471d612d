#include <gtest/gtest.h>

#include "config/JsonSchema.h"

namespace sb {
namespace {

using nlohmann::json;

TEST(JsonSchema, ViolationsCarryTheirJsonPointer) {
  JsonSchema schema(json::parse(R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}}})"));
  auto v = schema.validate(json{{"a", {1, "two", 3}}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/a/1");
  EXPECT_TRUE(schema.validate(json{{"a", {1, 2}}}).empty());
}

// std::regex recurses per character: a long string against a pattern used to
// overflow the stack (a segfault at 100 KB). It must be a violation instead.
TEST(JsonSchema, LongStringAgainstAPatternIsAViolationNotACrash) {
  JsonSchema schema(json::parse(R"({"type":"object","properties":{"x":{"type":"string","pattern":"^[a-z]+$"}}})"));
  auto v = schema.validate(json{{"x", std::string(1 << 20, 'a')}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/x");
  EXPECT_NE(v[0].message.find("too long to check against this schema's patterns"), std::string::npos) << v[0].message;
  EXPECT_TRUE(schema.validate(json{{"x", std::string(JsonSchema::kMaxPatternInput, 'a')}}).empty());
}

TEST(JsonSchema, KeyPatternsLeaveLongValuesAlone) {
  JsonSchema schema(json::parse(R"({"type":"object","propertyNames":{"pattern":"^[a-z]+$"}})"));
  EXPECT_TRUE(schema.validate(json{{"body", std::string(1 << 20, 'x')}}).empty());
  auto v = schema.validate(json{{std::string(1 << 20, 'k'), 1}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].message.find("a key of"), std::string::npos) << v[0].message;
}

TEST(JsonSchema, SchemaWithoutPatternsAcceptsLongStrings) {
  JsonSchema schema(json::parse(R"({"type":"object","properties":{"x":{"type":"string"}}})"));
  EXPECT_TRUE(schema.validate(json{{"x", std::string(1 << 20, 'a')}}).empty());
}

TEST(JsonSchema, RejectsWhatIsNotASchema) {
  EXPECT_THROW(JsonSchema(json::parse(R"({"type": 5})")), std::invalid_argument);
  EXPECT_THROW(JsonSchema(json::array()), std::invalid_argument);
}

}  // namespace
}  // namespace sb
