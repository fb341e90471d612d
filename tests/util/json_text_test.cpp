// dump_text writes what nlohmann's dump() writes, byte for byte: the stores
// keep its text, idempotency and arrival keys are made of it, and tests of
// every part compare it.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>

#include "util/JsonText.h"

namespace sb {
namespace {

using nlohmann::json;

std::string library(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

TEST(JsonText, WritesWhatNlohmannWritesForEveryKindOfValue) {
  const std::vector<json> values = {
      json(),
      json::object(),
      json::array(),
      json(true),
      json(false),
      json(0),
      json(-1),
      json(std::numeric_limits<int64_t>::min()),
      json(std::numeric_limits<int64_t>::max()),
      json(std::numeric_limits<uint64_t>::max()),
      json(0.1),
      json(-2.5e-300),
      json(1e21),
      json(3.0),
      json(std::numeric_limits<double>::quiet_NaN()),  // null, as nlohmann writes it
      json(""),
      json("plain text, with / and ~ and DEL \x7f"),
      json("quote \" backslash \\ tab \t newline \n cr \r bs \b ff \f nul " + std::string(1, '\0') + " us \x1f"),
      json("Приём, 東京, emoji \xF0\x9F\x98\x80"),
      json("invalid \xC3\x28 and \xFF bytes, cut \xE2\x82"),
      json::binary({1, 2, 3}),
      json{{"b", 1}, {"a", {{"z", json::array({1, "x", nullptr, json::object()})}}}, {"\xFF key", "v"}, {"k\"", 2}},
      json::array({json::array({json::array()}), json::object({{"", ""}})}),
  };
  for (const json& v : values) EXPECT_EQ(dump_text(v), library(v)) << library(v);
}

// Random documents of every kind of value and of awkward strings.
TEST(JsonText, WritesWhatNlohmannWritesForRandomDocuments) {
  std::mt19937_64 random(20261205);
  const std::string alphabet = std::string("abc \"\\/\t\n\x01\x7f") + "\xC3\xA9\xE2\x82\xAC\xFF\x80";
  auto text = [&] {
    std::string s;
    for (size_t n = random() % 12; n > 0; --n) s += alphabet[random() % alphabet.size()];
    return s;
  };
  std::function<json(int)> value = [&](int depth) -> json {
    switch (random() % (depth > 4 ? 6 : 8)) {
      case 0:
        return nullptr;
      case 1:
        return random() % 2 == 0;
      case 2:
        return static_cast<int64_t>(random());
      case 3:
        return static_cast<uint64_t>(random());
      case 4:
        return static_cast<double>(random() % 100000) / 7.0;
      case 5:
        return text();
      case 6: {
        json a = json::array();
        for (size_t n = random() % 5; n > 0; --n) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (size_t n = random() % 5; n > 0; --n) o[text()] = value(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    const json v = value(0);
    ASSERT_EQ(dump_text(v), library(v)) << library(v);
  }
}

// Strings are checked eight bytes at a time: every byte value, at every
// place of a word and of the tail.
TEST(JsonText, WritesWhatNlohmannWritesForEveryByteAtEveryPlace) {
  for (int byte = 0; byte < 256; ++byte)
    for (size_t at = 0; at < 21; ++at) {
      std::string s(21, 'a');
      s[at] = static_cast<char>(byte);
      ASSERT_EQ(dump_text(json(s)), library(json(s))) << byte << " at " << at;
    }
}

// Copying and writing JSON recurse: text from outside nested deeper than
// kMaxJsonDepth is refused before it becomes a tree that would overflow a
// thread's stack when copied.
TEST(JsonText, ABoundedParseRefusesDeepNestingAndCountsOnlyOutsideStrings) {
  const std::string deep = std::string(500000, '[') + std::string(500000, ']');
  EXPECT_TRUE(nests_deeper_than(deep, kMaxJsonDepth));
  EXPECT_TRUE(parse_bounded(deep).is_discarded());
  std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_FALSE(parse_bounded(at_limit).is_discarded());
  EXPECT_TRUE(parse_bounded("[" + at_limit + "]").is_discarded());
  // Brackets inside strings, escaped quotes included, do not count.
  const std::string quoted = R"({"a": "[[[[[[\"[[[[", "b": [1]})";
  EXPECT_FALSE(nests_deeper_than(quoted, 2));
  EXPECT_EQ(parse_bounded(quoted)["b"], json::array({1}));
  EXPECT_TRUE(parse_bounded("{not json").is_discarded());
}

TEST(JsonText, AppendsToWhatIsThere) {
  std::string out = "{\"a\":";
  append_json_text(out, json{{"b", "c"}});
  EXPECT_EQ(out, R"({"a":{"b":"c"})");
}

}  // namespace
}  // namespace sb
