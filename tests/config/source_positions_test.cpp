// Where a JSON Pointer's value is in a config file's text: the line and
// column an error about it names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/Config.h"
#include "config/SourcePositions.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

constexpr char kConfig[] = R"({
  "instances": {
    "sms": { "plugin": "sms", "config": { "gateway": "smsru" } },
    "a~b/c": { "plugin": "http" }
  },
  "rules": [
    { "name": "first", "steps": [] },
    {
      "name": "Напоминание",
      "steps": [
        { "action": "sms.send", "params": { "text": "Привет, {{contact.name}}", "to": 7 } }
      ]
    }
  ]
})";

TextPosition at(const std::string& pointer) {
  const auto p = position_of(kConfig, pointer);
  EXPECT_TRUE(p) << pointer;
  return p.value_or(TextPosition{});
}

TEST(SourcePositions, AValueIsFoundByItsPointer) {
  EXPECT_EQ(at("/instances/sms/config/gateway").line, 3u);
  EXPECT_EQ(at("/instances/sms/config/gateway").column, 54u);
  EXPECT_EQ(at("/rules/1/steps/0/params/to").line, 11u);
  // Columns count characters: the Cyrillic text before it is one column a letter.
  EXPECT_EQ(at("/rules/1/steps/0/params/to").column, 87u);
  EXPECT_EQ(at("/rules/1").line, 8u);
  EXPECT_EQ(at("/rules/1").column, 5u);
  EXPECT_EQ(at("/instances/a~0b~1c/plugin").line, 4u);  // escaped tokens
  EXPECT_EQ(at("/instances/a~0b~1c/plugin").column, 26u);
}

TEST(SourcePositions, AMissingMemberIsReportedAtWhatLacksIt) {
  EXPECT_EQ(at("/rules/0/trigger").line, 7u);
  EXPECT_EQ(at("/rules/0/trigger").column, 5u);
  EXPECT_EQ(at("/rules/7/name").line, 6u);  // no eighth rule: the list
  EXPECT_EQ(at("/rules/7/name").column, 12u);
  EXPECT_EQ(at("").line, 1u);
}

// A byte order mark (which nlohmann reads past) is no column; a pointer
// that is not one has no place.
TEST(SourcePositions, AByteOrderMarkIsNoColumnAndABadPointerNoPlace) {
  const auto marked = position_of("\xEF\xBB\xBF{\"a\": {\"b\": 1}}", "/a/b");
  ASSERT_TRUE(marked);
  EXPECT_EQ(marked->line, 1u);
  EXPECT_EQ(marked->column, 13u);
  EXPECT_FALSE(position_of(kConfig, "/rules/~2"));
  EXPECT_FALSE(position_of(kConfig, "rules"));
}

TEST(SourcePositions, TextThatIsNotJsonHasNoPositions) {
  EXPECT_FALSE(position_of("abc", "/a"));
  EXPECT_FALSE(position_of("{\"a\": 1} trailing", "/b"));
  EXPECT_FALSE(position_of("", "/a"));
  EXPECT_FALSE(position_of("{\"a\": ", "/b"));
  EXPECT_FALSE(position_of("{\"a\": [1, 2", "/a/5"));
  std::string deep_pointer;
  for (int i = 0; i < 300; ++i) deep_pointer += "/0";
  EXPECT_FALSE(position_of(std::string(300, '[') + std::string(300, ']'), deep_pointer));
  // Read only as far as the value: what comes after it is not looked at.
  EXPECT_TRUE(position_of("{\"a\": 1, \"b\": ", "/a"));
}

// A config error names the file, the pointer and, now, the line.
TEST(SourcePositions, AConfigErrorSaysTheLine) {
  const fs::path file = fs::temp_directory_path() / ("sb_positions_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{\n  \"listen\": \"127.0.0.1:8080\",\n  \"log_level\": \"loud\"\n}\n";
  try {
    load_config(file);
    ADD_FAILURE() << "the config was taken";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1u);
    EXPECT_EQ(e.issues()[0].line, 3u);
    EXPECT_EQ(e.issues()[0].column, 16u);
    EXPECT_NE(e.issues()[0].to_string().find(": /log_level: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(line 3, column 16)"), std::string::npos) << e.what();
  }
  fs::remove(file);
}

}  // namespace
}  // namespace sb
