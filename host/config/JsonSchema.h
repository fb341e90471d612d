// A compiled JSON Schema (draft 7, via valijson) that reports every violation
// with the JSON Pointer of the offending value.
//
// "pattern" is matched with std::regex, whose matcher recurses about once per
// input character: a 100 KB string overflows a thread's stack. So when the
// schema has patterns, strings (or, for key patterns, object keys) longer
// than kMaxPatternInput are reported as violations instead of being matched.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sb {

struct SchemaViolation {
  std::string path;     // JSON Pointer into the validated document, "" = root
  std::string message;  // what was expected
};

class JsonSchema {
 public:
  // Throws std::invalid_argument with valijson's reason when `schema` is not
  // a usable JSON Schema.
  explicit JsonSchema(const nlohmann::json& schema);
  ~JsonSchema();
  JsonSchema(JsonSchema&&) noexcept;
  JsonSchema& operator=(JsonSchema&&) noexcept;

  static constexpr size_t kMaxPatternInput = 4096;

  // Empty when `document` is valid. Thread-safe.
  std::vector<SchemaViolation> validate(const nlohmann::json& document) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb
