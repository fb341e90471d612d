#include "config/JsonSchema.h"

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

struct JsonSchema::Impl {
  nlohmann::json document;  // valijson keeps references into the source while parsing
  valijson::Schema schema;
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
