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

// valijson's words for a wrong type, pattern or enum name nothing: the
// violation says what the schema expected there (through $ref and items).
TEST(JsonSchema, ViolationsSayWhatWasExpected) {
  JsonSchema schema(json::parse(R"({"type": "object", "definitions": {"day": {"enum": ["mon", "tue"]}},
      "properties": {"n": {"type": ["integer", "null"]}, "at": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
                     "days": {"type": "array", "items": {"$ref": "#/definitions/day"}}}})"));
  const auto message = [&](const json& doc) {
    const auto v = schema.validate(doc);
    return v.empty() ? std::string("valid") : v[0].path + ": " + v[0].message;
  };
  EXPECT_EQ(message({{"n", "five"}}), "/n: expected an integer or a null, found string");
  EXPECT_EQ(message({{"at", "9:00"}}), "/at: expected a string matching ^[0-9]{2}:[0-9]{2}$");
  // A pattern whose description lists its forms is said in them; the value
  // is not quoted (a plugin's config may hold a secret).
  JsonSchema described(json::parse(R"({"properties": {"at": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$",
      "description": "a time, \"09:00\"", "x-switchboard-forms": true}}})"));
  const auto said = described.validate(json{{"at", "s3cret"}});
  ASSERT_EQ(said.size(), 1u);
  EXPECT_EQ(said[0].message, "expected one of its forms: a time, \"09:00\"");
  EXPECT_EQ(message({{"days", {"mon", "monday"}}}), "/days/1: expected one of \"mon\", \"tue\"");
  // Lengths and repeats in the same words.
  JsonSchema bounded(json::parse(R"({"properties": {"s": {"type": "string", "minLength": 1, "maxLength": 3},
      "t": {"type": "string", "minLength": 2}, "tags": {"type": "array", "uniqueItems": true}}})"));
  const auto first = [&](const json& doc) {
    const auto v = bounded.validate(doc);
    return v.empty() ? std::string("valid") : v[0].path + ": " + v[0].message;
  };
  EXPECT_EQ(first({{"s", ""}}), "/s: expected a text that is not empty");
  EXPECT_EQ(first({{"s", "four"}}), "/s: expected at most 3 characters");
  EXPECT_EQ(first({{"t", "a"}}), "/t: expected at least 2 characters");
  EXPECT_EQ(first({{"tags", {"vip", "new", "vip"}}}), "/tags: items 0 and 2 are the same: expected each once");
  // Under oneOf, a type another branch takes is not said to be wrong.
  JsonSchema either(json::parse(R"({"properties": {"to": {"oneOf": [{"type": "string", "minLength": 1},
      {"type": "object", "required": ["pick"]}]}}})"));
  const auto v = either.validate(json{{"to", json::object()}});
  ASSERT_FALSE(v.empty());
  for (const auto& each : v) EXPECT_EQ(each.message.find("found object"), std::string::npos) << each.message;
}

// std::regex recurses per character: a long string against a pattern used to
// overflow the stack (a segfault at 100 KB). It must be a violation instead.
// A value one of several forms takes (oneOf) is told what the forms expect,
// once, without valijson's summaries or the type of a form it is not.
TEST(JsonSchema, AValueOfSeveralFormsIsToldWhatEachExpectsOnce) {
  JsonSchema schema(json::parse(R"({"type": "object", "properties": {
      "speed": {"oneOf": [{"type": "integer", "minimum": 50, "maximum": 200},
                          {"enum": ["slow", "fast"]}]},
      "to": {"oneOf": [{"type": "string"},
                       {"type": "object", "additionalProperties": false,
                        "properties": {"type": {"enum": ["work", "home"]}}}]},
      "file": {"oneOf": [
          {"type": "object", "additionalProperties": false, "required": ["file"], "properties": {"file": {"type": "string"}}},
          {"type": "object", "additionalProperties": false, "required": ["url"], "properties": {"url": {"type": "string"}}}]}}})"));
  const auto said = [&](const json& doc) {
    std::string out;
    for (const auto& v : schema.validate(doc)) out += v.path + ": " + v.message + "\n";
    return out;
  };
  EXPECT_EQ(said({{"speed", 300}}), "/speed: expected at most 200 or one of \"slow\", \"fast\"\n");
  EXPECT_EQ(said({{"speed", 120.5}}), "/speed: expected an integer or one of \"slow\", \"fast\", found number\n");
  EXPECT_EQ(said({{"to", {{"type", "fax"}}}}), "/to/type: expected one of \"work\", \"home\"\n");
  EXPECT_EQ(said({{"file", {{"file", "a"}, {"url", "b"}}}}),
            "/file/url: 'url' does not go with the other keys given here; expected one of the forms, with keys of: "
            "file, url\n"
            "/file/file: 'file' does not go with the other keys given here; expected one of the forms, with keys of: "
            "file, url\n");
  EXPECT_EQ(said({{"file", {{"link", "a"}}}}),
            "/file/link: unknown key 'link'; expected one of: file, url\n"
            "/file: Missing required property 'file' or 'url'.\n");
  EXPECT_EQ(said({{"speed", true}}), "/speed: expected an integer or one of \"slow\", \"fast\", found boolean\n");
}

TEST(JsonSchema, LongStringAgainstAPatternIsAViolationNotACrash) {
  JsonSchema schema(json::parse(R"({"type":"object","properties":{"x":{"type":"string","pattern":"^[a-z]+$"}}})"));
  auto v = schema.validate(json{{"x", std::string(1 << 20, 'a')}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/x");
  EXPECT_NE(v[0].message.find("too long to check against this schema's patterns"), std::string::npos) << v[0].message;
  EXPECT_TRUE(schema.validate(json{{"x", std::string(JsonSchema::kMaxPatternInput, 'a')}}).empty());
}

// Only where a pattern applies: a long text in a part of the document that
// no pattern reaches (an event's data, a message's body) is accepted.
TEST(JsonSchema, LongStringsWhereNoPatternAppliesAreAccepted) {
  JsonSchema schema(json::parse(R"({"type":"object","properties":{
      "id":{"type":"string","pattern":"^[a-z]+$"},
      "data":{"type":"object"},
      "notes":{"type":"array","items":{"type":"string"}}}})"));
  const std::string text(1 << 16, 'x');
  EXPECT_TRUE(schema.validate(json{{"id", "abc"}, {"data", {{"text", text}, {"deep", {{"er", {text}}}}}}}).empty());
  EXPECT_TRUE(schema.validate(json{{"id", "abc"}, {"notes", {"short", text}}, {"other", text}}).empty());
  auto v = schema.validate(json{{"id", text}, {"data", {{"text", text}}}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/id");
}

// A pattern reached through "$ref", "items", "allOf", "additionalProperties",
// "patternProperties", "if"/"then" or a schema dependency still bounds what
// it would be matched against.
TEST(JsonSchema, PatternsReachedThroughEveryApplicatorBoundTheStringsTheySee) {
  JsonSchema schema(json::parse(R"({"type":"object",
      "definitions":{"code":{"type":"string","pattern":"^x+$"}},
      "properties":{
        "list":{"type":"array","items":{"$ref":"#/definitions/code"}},
        "pair":{"type":"array","items":[{"type":"string"},{"$ref":"#/definitions/code"}],
                "additionalItems":{"$ref":"#/definitions/code"}},
        "any":{"allOf":[{"$ref":"#/definitions/code"}]},
        "extra":{"type":"object","additionalProperties":{"$ref":"#/definitions/code"}},
        "named":{"type":"object","patternProperties":{"^k":{"type":"string"}}},
        "when":{"if":{"type":"object"},"then":{"properties":{"c":{"$ref":"#/definitions/code"}}}},
        "dep":{"type":"object","dependencies":{"a":{"properties":{"b":{"$ref":"#/definitions/code"}}}}}}})"));
  const std::string text(JsonSchema::kMaxPatternInput + 1, 'x');
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"list", {"x", text}}}, "/list/1"},      {json{{"pair", {"x", text}}}, "/pair/1"},
      {json{{"pair", {"x", "x", text}}}, "/pair/2"}, {json{{"any", text}}, "/any"},
      {json{{"extra", {{"k", text}}}}, "/extra/k"},  {json{{"named", {{text, 1}}}}, "/named/" + text},
      {json{{"when", {{"c", text}}}}, "/when/c"},    {json{{"dep", {{"a", 1}, {"b", text}}}}, "/dep/b"},
  };
  for (const auto& [document, path] : cases) {
    auto v = schema.validate(document);
    ASSERT_EQ(v.size(), 1u) << document.dump().substr(0, 60);
    EXPECT_EQ(v[0].path, path);
    EXPECT_NE(v[0].message.find("too long to check against this schema's patterns"), std::string::npos);
  }
  // valijson's date and time formats are regular expressions too.
  JsonSchema dated(json::parse(R"({"properties":{"at":{"type":"string","format":"date-time"},"note":{}}})"));
  const auto at = dated.validate(json{{"at", std::string(1 << 16, '1') + "-01-01T00:00:00Z"}, {"note", text}});
  ASSERT_EQ(at.size(), 1u);
  EXPECT_EQ(at[0].path, "/at");
  // A reference valijson would decode ("a%20b") is not followed: all below it is bounded.
  JsonSchema encoded(json::parse(R"({"definitions":{"a b":{"pattern":"^x+$"},"a%20b":{}},
      "properties":{"r":{"$ref":"#/definitions/a%20b"}}})"));
  ASSERT_EQ(encoded.validate(json{{"r", text}}).size(), 1u);
  // Beside them, where no pattern applies: accepted.
  EXPECT_TRUE(schema.validate(json{{"pair", {text, "x"}}}).empty());
  EXPECT_TRUE(schema.validate(json{{"named", {{"k", text}}}}).empty());
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
