#include "config/JsonSchema.h"

#include <optional>
#include <stdexcept>

#include "util/JsonText.h"

// Without this valijson prints and aborts on a bad schema instead of throwing.
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace sb {

namespace {
// valijson reports contexts like ["<root>", "[instances]", "[0]"]; turn them
// into a JSON Pointer ("/instances/0").
std::string to_pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
    out += "/" + escape_pointer_token(p);
  }
  return out;
}
}  // namespace

namespace {

// Which kinds of regex the schema applies: to string values ("pattern") or
// to object keys ("propertyNames" with a pattern, "patternProperties").
struct PatternUse {
  bool values = false;
  bool keys = false;
};

void find_patterns(const nlohmann::json& schema, bool under_property_names, PatternUse& use) {
  if (schema.is_array()) {
    for (const auto& item : schema) find_patterns(item, under_property_names, use);
    return;
  }
  if (!schema.is_object()) return;
  if (schema.contains("pattern")) (under_property_names ? use.keys : use.values) = true;
  if (schema.contains("patternProperties")) use.keys = true;
  for (const auto& [key, child] : schema.items()) find_patterns(child, key == "propertyNames", use);
}

// Whether a string (or key) is too long to match safely. Walked without
// building paths: every event is checked, and almost none fails.
bool has_too_long(const nlohmann::json& value, const PatternUse& use) {
  const size_t limit = JsonSchema::kMaxPatternInput;
  if (value.is_string()) return use.values && value.get_ref<const std::string&>().size() > limit;
  if (value.is_object()) {
    for (const auto& [key, child] : value.items())
      if ((use.keys && key.size() > limit) || has_too_long(child, use)) return true;
  } else if (value.is_array()) {
    for (const auto& item : value)
      if (has_too_long(item, use)) return true;
  }
  return false;
}

// The first string (or key) too long to match safely, as a violation.
std::optional<SchemaViolation> too_long_for_patterns(const nlohmann::json& value, const std::string& pointer,
                                                     const PatternUse& use) {
  const size_t limit = JsonSchema::kMaxPatternInput;
  auto violation = [&](const std::string& at, const char* what, size_t size) {
    return SchemaViolation{at, std::string(what) + " of " + std::to_string(size) +
                                   " bytes is too long to check against "
                                   "this schema's patterns (at most " +
                                   std::to_string(limit) + ")"};
  };
  if (value.is_string() && use.values && value.get_ref<const std::string&>().size() > limit)
    return violation(pointer, "a string", value.get_ref<const std::string&>().size());
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      const std::string at = pointer + "/" + escape_pointer_token(key);
      if (use.keys && key.size() > limit) return violation(at, "a key", key.size());
      if (auto v = too_long_for_patterns(child, at, use)) return v;
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i)
      if (auto v = too_long_for_patterns(value[i], pointer + "/" + std::to_string(i), use)) return v;
  }
  return std::nullopt;
}

}  // namespace

struct JsonSchema::Impl {
  nlohmann::json document;  // valijson keeps references into the source while parsing
  valijson::Schema schema;
  PatternUse patterns;
};

JsonSchema::JsonSchema(const nlohmann::json& schema) : impl_(std::make_unique<Impl>()) {
  if (!schema.is_object() && !schema.is_boolean())
    throw std::invalid_argument("a JSON Schema must be an object, got " + std::string(schema.type_name()));
  impl_->document = schema;
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(impl_->document);
    parser.populateSchema(adapter, impl_->schema);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  find_patterns(impl_->document, false, impl_->patterns);
}

JsonSchema::~JsonSchema() = default;
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;

std::vector<SchemaViolation> JsonSchema::validate(const nlohmann::json& document) const {
  // One validator per thread: it caches compiled "pattern" regexes (keyed by
  // the pattern, so every schema can share it) and is not thread-safe.
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  std::vector<SchemaViolation> out;
  if ((impl_->patterns.values || impl_->patterns.keys) && has_too_long(document, impl_->patterns))
    if (auto v = too_long_for_patterns(document, "", impl_->patterns)) return {*v};
  try {
    if (validator.validate(impl_->schema, adapter, &results)) return out;
  } catch (const std::exception& e) {
    // e.g. a "pattern" that std::regex cannot compile: report, don't throw.
    return {{"", std::string("the schema could not be evaluated: ") + e.what()}};
  }
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    SchemaViolation v{to_pointer(error.context), error.description};
    // valijson reports a failing "properties" or "items" as a summary line
    // after the specific ones; keep only the specific reasons.
    if (v.message.rfind("Failed to validate against schema associated with property", 0) == 0) continue;
    if (v.message.rfind("Failed to validate item", 0) == 0) continue;
    if (v.message.rfind("Failed to validate against child schema", 0) == 0 && !out.empty()) continue;
    out.push_back(std::move(v));
  }
  if (out.empty()) out.push_back({"", "does not match the schema"});
  return out;
}

}  // namespace sb
