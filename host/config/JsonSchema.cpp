#include "config/JsonSchema.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>

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

using nlohmann::json;

// Where in a document the schema may match a "pattern" (a string value) or
// a key pattern ("propertyNames" with a pattern, "patternProperties"): the
// walk follows the document only under subschemas that reach a pattern, so
// a long text under `"data": {"type": "object"}` is not a string a pattern
// would see, and is left alone. Draft 7's applicators are followed; a
// "$ref" to anything but this document is taken to reach a pattern.
class PatternReach {
 public:
  explicit PatternReach(const json& root) : root_(root) {}

  // Computes, once, whether each subschema reaches a pattern: validations
  // on several threads then only read what it found.
  void warm() { warm(root_); }

  bool anywhere() const { return reaches(root_); }

  std::optional<SchemaViolation> first_too_long(const json& document) const {
    return walk(document, at_location({&root_}));
  }

 private:
  using Schemas = std::vector<const json*>;

  // The subschema a "$ref" names in this document, or null when it names
  // another document (or nothing).
  const json* resolve(const json& ref) const {
    if (!ref.is_string()) return nullptr;
    const std::string& text = ref.get_ref<const std::string&>();
    if (text.empty() || text[0] != '#') return nullptr;
    try {
      const json::json_pointer pointer(text.substr(1));
      return root_.contains(pointer) ? &root_.at(pointer) : nullptr;
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  // Whether a pattern is anywhere in `schema` or in what its "$ref"s name.
  // Anything named "pattern" counts, an example's member too: when in
  // doubt, a string is checked.
  bool reaches(const json& schema) const {
    if (auto it = reach_.find(&schema); it != reach_.end()) return it->second;
    std::vector<const json*> seen;
    return search(schema, seen);
  }

  void warm(const json& node) {
    std::vector<const json*> seen;
    reach_.emplace(&node, search(node, seen));
    if (node.is_structured())
      for (const json& child : node) warm(child);
  }

  bool search(const json& node, std::vector<const json*>& seen) const {
    if (std::find(seen.begin(), seen.end(), &node) != seen.end()) return false;
    seen.push_back(&node);
    if (node.is_array()) {
      for (const json& item : node)
        if (search(item, seen)) return true;
      return false;
    }
    if (!node.is_object()) return false;
    if (node.contains("pattern") || node.contains("patternProperties")) return true;
    if (const auto ref = node.find("$ref"); ref != node.end()) {
      const json* target = resolve(*ref);
      if (!target || search(*target, seen)) return true;
    }
    for (const auto& [key, child] : node.items())
      if (search(child, seen)) return true;
    return false;
  }

  // `schemas` and every subschema that applies at the same place in the
  // document (combinators, conditionals, "$ref", schema dependencies), of
  // those that reach a pattern. A null entry: a "$ref" out of this document.
  Schemas at_location(const Schemas& schemas) const {
    Schemas out;
    std::vector<const json*> pending(schemas.begin(), schemas.end());
    while (!pending.empty()) {
      const json* s = pending.back();
      pending.pop_back();
      if (std::find(out.begin(), out.end(), s) != out.end()) continue;
      if (s && !reaches(*s)) continue;
      out.push_back(s);
      if (!s || !s->is_object()) continue;
      for (const char* list : {"allOf", "anyOf", "oneOf"})
        if (const auto it = s->find(list); it != s->end() && it->is_array())
          for (const json& item : *it) pending.push_back(&item);
      for (const char* one : {"not", "if", "then", "else"})
        if (const auto it = s->find(one); it != s->end()) pending.push_back(&*it);
      if (const auto it = s->find("dependencies"); it != s->end() && it->is_object())
        for (const auto& [name, dependency] : it->items())
          if (dependency.is_object()) pending.push_back(&dependency);
      if (const auto it = s->find("$ref"); it != s->end()) pending.push_back(resolve(*it));
    }
    return out;
  }

  static const json* member(const json& schema, const char* name) {
    const auto it = schema.find(name);
    return it == schema.end() ? nullptr : &*it;
  }

  // What applies to the member `key` of an object.
  Schemas for_member(const Schemas& schemas, const std::string& key) const {
    Schemas out;
    for (const json* s : schemas) {
      if (!s) return {nullptr};
      if (!s->is_object()) continue;
      const json* properties = member(*s, "properties");
      const bool named = properties && properties->is_object() && properties->contains(key);
      if (named) out.push_back(&properties->at(key));
      if (const json* patterns = member(*s, "patternProperties"); patterns && patterns->is_object())
        for (const auto& [regex, child] : patterns->items()) out.push_back(&child);
      if (const json* additional = member(*s, "additionalProperties"); additional && !named) out.push_back(additional);
    }
    return at_location(out);
  }

  // What applies to the item `index` of an array.
  Schemas for_item(const Schemas& schemas, size_t index) const {
    Schemas out;
    for (const json* s : schemas) {
      if (!s) return {nullptr};
      if (!s->is_object()) continue;
      if (const json* items = member(*s, "items")) {
        if (!items->is_array())
          out.push_back(items);
        else if (index < items->size())
          out.push_back(&(*items)[index]);
        else if (const json* additional = member(*s, "additionalItems"))
          out.push_back(additional);
      }
      if (const json* contains = member(*s, "contains")) out.push_back(contains);
    }
    return at_location(out);
  }

  // Whether the keys of an object are matched against a pattern here.
  bool keys_matched(const Schemas& schemas) const {
    for (const json* s : schemas) {
      if (!s) return true;
      if (!s->is_object()) continue;
      if (s->contains("patternProperties")) return true;
      if (const json* names = member(*s, "propertyNames"); names && reaches(*names)) return true;
    }
    return false;
  }

  static bool value_matched(const Schemas& schemas) {
    for (const json* s : schemas)
      if (!s || (s->is_object() && s->contains("pattern"))) return true;
    return false;
  }

  static SchemaViolation too_long(const std::string& at, const char* what, size_t size) {
    return {at, std::string(what) + " of " + std::to_string(size) +
                    " bytes is too long to check against this schema's patterns (at most " +
                    std::to_string(JsonSchema::kMaxPatternInput) + ")"};
  }

  // A violation's path is built on the way back, only when there is one.
  std::optional<SchemaViolation> walk(const json& value, const Schemas& schemas) const {
    if (schemas.empty()) return std::nullopt;
    const size_t limit = JsonSchema::kMaxPatternInput;
    if (value.is_string()) {
      const size_t size = value.get_ref<const std::string&>().size();
      if (size > limit && value_matched(schemas)) return too_long("", "a string", size);
    } else if (value.is_object()) {
      const bool keys = keys_matched(schemas);
      for (const auto& [key, child] : value.items()) {
        const std::string token = "/" + escape_pointer_token(key);
        if (keys && key.size() > limit) return too_long(token, "a key", key.size());
        if (auto v = walk(child, for_member(schemas, key))) {
          v->path = token + v->path;
          return v;
        }
      }
    } else if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i)
        if (auto v = walk(value[i], for_item(schemas, i))) {
          v->path = "/" + std::to_string(i) + v->path;
          return v;
        }
    }
    return std::nullopt;
  }

  const json& root_;
  std::unordered_map<const json*, bool> reach_;  // by warm()
};

}  // namespace

struct JsonSchema::Impl {
  nlohmann::json document;  // valijson keeps references into the source while parsing
  valijson::Schema schema;
  std::optional<PatternReach> patterns;  // none when the schema has no pattern
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
  impl_->patterns.emplace(impl_->document);
  impl_->patterns->warm();
  if (!impl_->patterns->anywhere()) impl_->patterns.reset();
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
  if (impl_->patterns)
    if (auto v = impl_->patterns->first_too_long(document)) return {*v};
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
