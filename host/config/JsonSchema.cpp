#include "config/JsonSchema.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "util/JsonText.h"
#include "util/Text.h"

// Without this valijson prints and aborts on a bad schema instead of throwing.
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace sb {

namespace {
using nlohmann::json;

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

// The schema's nodes that may apply at `tokens` of a document: followed
// through properties, additionalProperties, items, local $refs and the
// combinators. For saying what was expected, not for validating.
void nodes_at(const json& root, const json& node, const std::vector<std::string>& tokens, size_t i,
              std::vector<const json*>& out, int depth = 0) {
  if (!node.is_object() || depth > 32) return;
  if (const auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    const std::string& target = ref->get_ref<const std::string&>();
    if (target.rfind('#', 0) != 0) return;
    try {
      return nodes_at(root, root.at(json::json_pointer(target.substr(1))), tokens, i, out, depth + 1);
    } catch (const json::exception&) {
      return;
    }
  }
  for (const char* combinator : {"allOf", "anyOf", "oneOf"})
    if (const auto list = node.find(combinator); list != node.end() && list->is_array())
      for (const json& each : *list) nodes_at(root, each, tokens, i, out, depth + 1);
  if (i == tokens.size()) {
    out.push_back(&node);
    return;
  }
  const std::string& token = tokens[i];
  if (const auto props = node.find("properties"); props != node.end() && props->contains(token))
    nodes_at(root, (*props)[token], tokens, i + 1, out, depth + 1);
  else if (const auto more = node.find("additionalProperties"); more != node.end() && more->is_object())
    nodes_at(root, *more, tokens, i + 1, out, depth + 1);
  if (const auto items = node.find("items");
      items != node.end() && !token.empty() && token.find_first_not_of("0123456789") == std::string::npos) {
    if (items->is_object()) nodes_at(root, *items, tokens, i + 1, out, depth + 1);
    size_t index = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
    if (items->is_array() && ec == std::errc() && index < items->size())
      nodes_at(root, (*items)[index], tokens, i + 1, out, depth + 1);
  }
}

// The reference tokens of a JSON Pointer, unescaped by the library.
std::vector<std::string> pointer_tokens(const std::string& pointer) {
  std::vector<std::string> tokens;
  try {
    for (json::json_pointer rest(pointer); !rest.empty(); rest.pop_back()) tokens.push_back(rest.back());
  } catch (const json::exception&) {
    return {};
  }
  std::reverse(tokens.begin(), tokens.end());
  return tokens;
}

// valijson's words for a key no schema takes ("Object contains a property
// that could not be validated ...: 'parms'") name the object it is in: said
// at the key itself (the line it is on), with the keys the schema takes
// there and the likeliest one meant.
constexpr std::string_view kUnknownKey =
    "Object contains a property that could not be validated using 'properties' or 'additionalProperties' "
    "constraints: '";

bool said_of_unknown_key(const json& schema, SchemaViolation& v) {
  if (v.message.rfind(kUnknownKey, 0) != 0) return false;
  std::string key = v.message.substr(kUnknownKey.size());
  if (key.size() >= 2 && key.compare(key.size() - 2, 2, "'.") == 0) key.resize(key.size() - 2);
  std::vector<const json*> nodes;
  nodes_at(schema, schema, pointer_tokens(v.path), 0, nodes);
  std::set<std::string> known;
  for (const json* node : nodes)
    if (const auto props = node->find("properties"); props != node->end() && props->is_object())
      for (const auto& [name, ignored] : props->items()) known.insert(name);
  std::string likeliest, listed;
  size_t closest = 3;  // at most two edits away
  for (const std::string& name : known) {
    listed += (listed.empty() ? "" : ", ") + name;
    if (const size_t d = edit_distance(key, name); d < closest) closest = d, likeliest = name;
  }
  v.path += "/" + escape_pointer_token(key);
  // A key one form of several takes ({"url"} or {"file"}), given with a key of another.
  if (known.count(key)) {
    v.message =
        "'" + key + "' does not go with the other keys given here; expected one of the forms, with keys of: " + listed;
    return true;
  }
  v.message = "unknown key '" + key + "'" + (likeliest.empty() ? "" : " (did you mean '" + likeliest + "'?)") +
              (listed.empty() ? "" : "; expected one of: " + listed);
  return true;
}

// valijson says nothing of a key its "propertyNames" refuses (an instance
// named "WhatsApp", a segment "a/b"): the first such key, found by walking
// the document beside the schema, named at itself with what names may be.
std::optional<SchemaViolation> refused_name(const json& schema, const json& value, const std::string& pointer) {
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i)
      if (auto v = refused_name(schema, value[i], pointer + "/" + std::to_string(i))) return v;
    return std::nullopt;
  }
  if (!value.is_object()) return std::nullopt;
  std::vector<const json*> nodes;
  nodes_at(schema, schema, pointer_tokens(pointer), 0, nodes);
  for (const json* node : nodes) {
    const auto names = node->find("propertyNames");
    if (names == node->end() || !names->is_object()) continue;
    const auto letters = [](const std::string& s) {
      return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    };
    for (const auto& [key, ignored] : value.items()) {
      bool fits = letters(key) >= names->value("minLength", size_t{0}) &&
                  letters(key) <= names->value("maxLength", std::numeric_limits<size_t>::max());
      if (fits && names->contains("pattern") && (*names)["pattern"].is_string()) {
        try {
          fits = std::regex_search(key, std::regex((*names)["pattern"].get<std::string>()));
        } catch (const std::regex_error&) {
        }
      }
      if (fits) continue;
      const std::string expected = names->contains("description") && (*names)["description"].is_string()
                                       ? (*names)["description"].get<std::string>()
                                   : names->contains("pattern") ? "a name matching " + (*names)["pattern"].dump()
                                                                : "another name";
      return SchemaViolation{pointer + "/" + escape_pointer_token(key),
                             "the name '" + key + "' is not taken here: expected " + expected};
    }
  }
  for (const auto& [key, child] : value.items())
    if (auto v = refused_name(schema, child, pointer + "/" + escape_pointer_token(key))) return v;
  return std::nullopt;
}

// valijson's words for a failed "not" name nothing; a schema says what it
// forbids in the description beside that "not" (directly, or in an "if"'s
// "then" or "else"): "with record contact, if_status is not taken". Of
// several, the one whose forbidden shape the value has.
std::string what_is_forbidden(const json& schema, const json& document, const std::string& pointer,
                              const std::string& message);

// valijson's words for three common failures ("Value type not permitted by
// 'type' constraint.") name no value: said with what the schema expected
// there, and for a type the kind found. Values are not quoted: a plugin's
// config may hold a secret.
std::string what_was_expected(const json& schema, const json& document, const std::string& pointer,
                              const std::string& message) {
  // valijson's words for a length or a repeat, said as the rest are.
  int a = 0, b = 0;
  if (std::sscanf(message.c_str(), "String should be no fewer than %d characters in length.", &a) == 1)
    return a == 1 ? "expected a text that is not empty" : "expected at least " + std::to_string(a) + " characters";
  if (std::sscanf(message.c_str(), "String should be no more than %d characters in length.", &a) == 1)
    return "expected at most " + std::to_string(a) + " characters";
  if (std::sscanf(message.c_str(), "Elements at indexes #%d and #%d violate uniqueness constraint.", &a, &b) == 2)
    return "items " + std::to_string(a) + " and " + std::to_string(b) + " are the same: expected each once";
  // A bound said as a number is written ("Expected number less than or equal to 200.000000").
  double bound = 0;
  char number[32];
  const auto said = [&number](double n) {
    std::snprintf(number, sizeof number, "%.15g", n);
    return std::string(number);
  };
  for (const auto& [words, said_as] : {std::pair{"Expected number less than or equal to %lf", "at most "},
                                       std::pair{"Expected number greater than or equal to %lf", "at least "},
                                       std::pair{"Expected number less than %lf", "less than "},
                                       std::pair{"Expected number greater than %lf", "more than "}})
    if (std::sscanf(message.c_str(), words, &bound) == 1) return std::string("expected ") + said_as + said(bound);
  const bool type = message.find("'type' constraint") != std::string::npos;
  const bool pattern = message.find("'pattern' constraint") != std::string::npos;
  const bool one_of = message.find("any enum values") != std::string::npos;
  if (!type && !pattern && !one_of) return message;
  std::vector<const json*> nodes;
  nodes_at(schema, schema, pointer_tokens(pointer), 0, nodes);
  const json* found = nullptr;
  try {
    found = &document.at(json::json_pointer(pointer));
  } catch (const json::exception&) {
  }
  std::string expected;
  bool found_is_expected = false;  // a type of another branch (oneOf): these words would contradict themselves
  const auto add = [&expected](const std::string& text) {
    if (expected.find(text) == std::string::npos) expected += (expected.empty() ? "" : " or ") + text;
  };
  for (const json* node : nodes) {
    const char* key = type ? "type" : pattern ? "pattern" : "enum";
    const auto it = node->find(key);
    if (it == node->end()) continue;
    if (type)
      for (const json& t : it->is_array() ? *it : json::array({*it})) {
        if (!t.is_string()) continue;
        const std::string& name = t.get_ref<const std::string&>();
        found_is_expected |= found && (found->type_name() == name || (name == "integer" && found->is_number_integer()));
        add((name == "integer" || name == "array" || name == "object" ? "an " : "a ") + name);
      }
    // A pattern whose description lists its forms ("x-switchboard-forms":
    // true, a deadline's) is said in them: a regular expression of twenty
    // alternatives tells an admin little.
    if (pattern && it->is_string()) {
      const auto words = node->find("description");
      // Or in words of its own ("x-switchboard-expected": "an id that is not blank").
      if (const auto said = node->find("x-switchboard-expected"); said != node->end() && said->is_string())
        add(said->get<std::string>());
      else if (node->value("x-switchboard-forms", false) && words != node->end() && words->is_string())
        add("one of its forms: " + words->get<std::string>());
      else
        add("a string matching " + it->get<std::string>());
    }
    if (one_of && it->is_array()) {
      std::string values;
      for (const json& v : *it) values += (values.empty() ? "" : ", ") + v.dump();
      add("one of " + values);
    }
  }
  if (expected.empty() || found_is_expected) return message;
  return "expected " + expected + (type && found ? std::string(", found ") + found->type_name() : "");
}
}  // namespace

namespace {

using nlohmann::json;

// Where in a document the schema may match a "pattern" (a string value) or
// a key pattern ("propertyNames" with a pattern, "patternProperties"): the
// check follows the document only under subschemas that reach a pattern, so
// a long text under `"data": {"type": "object"}` is not a string a pattern
// would see, and is left alone. Draft 7's applicators are followed; a
// "$ref" to anything but this document is taken to reach a pattern.
//
// Compiled once into a graph of places (the subschemas that apply at one
// place of a document): checking a document is then a lookup per member.
class PatternReach {
 public:
  explicit PatternReach(const json& root) : root_(root), root_place_(place_of(closure({&root_}))) {}

  bool anywhere() const { return root_place_ != nullptr; }

  std::optional<SchemaViolation> first_too_long(const json& document) const { return walk(document, root_place_); }

 private:
  using Schemas = std::vector<const json*>;  // sorted; a null entry: a "$ref" out of this document

  // What applies at one place of a document; a null Place: no pattern below.
  struct Place {
    bool everything = false;  // a "$ref" this walk cannot follow: every string and key below is checked
    bool strings = false;     // a string here is matched against a pattern
    bool keys = false;        // an object's keys here are
    std::unordered_map<std::string, const Place*> named;  // members named by "properties"
    const Place* other = nullptr;                         // every other member
    std::vector<const Place*> tuple;                      // array items by index ("items": [...])
    const Place* rest = nullptr;                          // the items after them
  };
  static constexpr size_t kMaxPlaces = 4096;  // beyond: checked everywhere, as without this

  // The subschema a "$ref" names in this document, or null when it names
  // another document (or nothing).
  const json* resolve(const json& ref) const {
    if (!ref.is_string()) return nullptr;
    const std::string& text = ref.get_ref<const std::string&>();
    // valijson percent-decodes a pointer and trims a trailing '/': such a
    // reference is not followed here, so everything below it is checked.
    if (text.empty() || text[0] != '#' || text.find('%') != std::string::npos || text.back() == '/') return nullptr;
    try {
      const json::json_pointer pointer(text.substr(1));
      return root_.contains(pointer) ? &root_.at(pointer) : nullptr;
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  // valijson checks these formats with std::regex too.
  static bool regex_format(const json& schema) {
    const auto format = schema.find("format");
    return format != schema.end() && (*format == "date" || *format == "time" || *format == "date-time");
  }

  // Whether a pattern is anywhere in `schema` or in what its "$ref"s name.
  // Anything named "pattern" counts, an example's member too: when in
  // doubt, a string is checked.
  bool reaches(const json& schema) {
    if (auto it = reach_.find(&schema); it != reach_.end()) return it->second;
    std::vector<const json*> seen;
    return reach_[&schema] = search(schema, seen);
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
    if (node.contains("pattern") || node.contains("patternProperties") || regex_format(node)) return true;
    if (const auto ref = node.find("$ref"); ref != node.end()) {
      const json* target = resolve(*ref);
      if (!target || search(*target, seen)) return true;
    }
    for (const auto& [key, child] : node.items())
      if (search(child, seen)) return true;
    return false;
  }

  static const json* member(const json& schema, const char* name) {
    const auto it = schema.find(name);
    return it == schema.end() ? nullptr : &*it;
  }

  // `schemas` and every subschema that applies at the same place of the
  // document (combinators, conditionals, "$ref", schema dependencies), of
  // those that reach a pattern.
  Schemas closure(const Schemas& schemas) {
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
        if (const json* items = member(*s, list); items && items->is_array())
          for (const json& item : *items) pending.push_back(&item);
      for (const char* one : {"not", "if", "then", "else"})
        if (const json* child = member(*s, one)) pending.push_back(child);
      if (const json* dependencies = member(*s, "dependencies"); dependencies && dependencies->is_object())
        for (const auto& [name, dependency] : dependencies->items())
          if (dependency.is_object()) pending.push_back(&dependency);
      if (const json* ref = member(*s, "$ref")) pending.push_back(resolve(*ref));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // What applies to a member of an object: `key`, or (null) any key no
  // "properties" names.
  Schemas for_member(const Schemas& schemas, const std::string* key) {
    Schemas out;
    for (const json* s : schemas) {
      if (!s->is_object()) continue;
      const json* properties = member(*s, "properties");
      const bool named = key && properties && properties->is_object() && properties->contains(*key);
      if (named) out.push_back(&properties->at(*key));
      if (const json* patterns = member(*s, "patternProperties"); patterns && patterns->is_object())
        for (const auto& [regex, child] : patterns->items()) out.push_back(&child);
      if (const json* additional = member(*s, "additionalProperties"); additional && !named) out.push_back(additional);
    }
    return closure(out);
  }

  // What applies to the item `index` of an array.
  Schemas for_item(const Schemas& schemas, size_t index) {
    Schemas out;
    for (const json* s : schemas) {
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
    return closure(out);
  }

  // The place where `schemas` apply (made once per set: a recursive schema
  // comes back to a place already made).
  const Place* place_of(const Schemas& schemas) {
    if (schemas.empty()) return nullptr;
    if (auto it = places_by_schemas_.find(schemas); it != places_by_schemas_.end()) return it->second;
    Place& place = places_.emplace_back();
    places_by_schemas_.emplace(schemas, &place);
    if (schemas.front() == nullptr || places_.size() > kMaxPlaces) {  // null sorts first
      place.everything = true;
      return &place;
    }
    std::set<std::string> names;
    size_t tuple = 0;
    for (const json* s : schemas) {
      if (!s->is_object()) continue;
      place.strings = place.strings || s->contains("pattern") || regex_format(*s);
      place.keys = place.keys || s->contains("patternProperties");
      if (const json* property_names = member(*s, "propertyNames")) place.keys = place.keys || reaches(*property_names);
      if (const json* properties = member(*s, "properties"); properties && properties->is_object())
        for (const auto& [name, child] : properties->items()) names.insert(name);
      if (const json* items = member(*s, "items"); items && items->is_array()) tuple = std::max(tuple, items->size());
    }
    for (const std::string& name : names) place.named[name] = place_of(for_member(schemas, &name));
    place.other = place_of(for_member(schemas, nullptr));
    for (size_t i = 0; i < tuple; ++i) place.tuple.push_back(place_of(for_item(schemas, i)));
    place.rest = place_of(for_item(schemas, tuple));
    return &place;
  }

  static SchemaViolation too_long(const std::string& at, const char* what, size_t size) {
    return {at, std::string(what) + " of " + std::to_string(size) +
                    " bytes is too long to check against this schema's patterns (at most " +
                    std::to_string(JsonSchema::kMaxPatternInput) + ")"};
  }

  // A violation's path is built on the way back, only when there is one.
  static std::optional<SchemaViolation> walk(const json& value, const Place* place) {
    if (!place) return std::nullopt;
    const size_t limit = JsonSchema::kMaxPatternInput;
    if (value.is_string()) {
      const size_t size = value.get_ref<const std::string&>().size();
      if (size > limit && (place->strings || place->everything)) return too_long("", "a string", size);
    } else if (value.is_object()) {
      for (const auto& [key, child] : value.items()) {
        if ((place->keys || place->everything) && key.size() > limit)
          return too_long("/" + escape_pointer_token(key), "a key", key.size());
        const Place* next = place;
        if (!place->everything) {
          const auto named = place->named.find(key);
          next = named != place->named.end() ? named->second : place->other;
        }
        if (auto v = walk(child, next)) {
          v->path = "/" + escape_pointer_token(key) + v->path;
          return v;
        }
      }
    } else if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        const Place* next = place->everything ? place : i < place->tuple.size() ? place->tuple[i] : place->rest;
        if (auto v = walk(value[i], next)) {
          v->path = "/" + std::to_string(i) + v->path;
          return v;
        }
      }
    }
    return std::nullopt;
  }

  const json& root_;
  std::unordered_map<const json*, bool> reach_;
  std::deque<Place> places_;  // stable addresses
  std::map<Schemas, const Place*> places_by_schemas_;
  const Place* root_place_ = nullptr;
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
  if (!impl_->patterns->anywhere()) impl_->patterns.reset();
}

JsonSchema::~JsonSchema() = default;
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;

namespace {
// What_was_expected's words ("expected at most 200").
bool is_expectation(const std::string& message) { return message.rfind("expected ", 0) == 0; }
constexpr std::string_view kMissing = "Missing required property ";
bool missing_key(const std::string& message) { return message.rfind(kMissing, 0) == 0; }

// Two forms' words for one value as one: "expected an integer or one of
// "soft", "loud", found string"; "Missing required property 'file' or 'url'".
std::string either(std::string first, std::string second) {
  if (missing_key(first)) {
    const auto key = [](const std::string& m) {
      std::string k = m.substr(kMissing.size());
      if (!k.empty() && k.back() == '.') k.pop_back();
      return k;
    };
    return std::string(kMissing) + key(first) + " or " + key(second) + ".";
  }
  std::string found;
  for (std::string* m : {&first, &second})
    if (const size_t at = m->find(", found "); at != std::string::npos) {
      found = m->substr(at);
      m->resize(at);
    }
  return first + " or " + second.substr(std::string_view("expected ").size()) + found;
}
}  // namespace

std::vector<SchemaViolation> JsonSchema::validate(const nlohmann::json& document) const {
  // One validator per thread: it caches compiled "pattern" regexes (keyed by
  // the pattern, so every schema can share it) and is not thread-safe.
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  std::vector<SchemaViolation> out;
  if (impl_->patterns)
    if (auto v = impl_->patterns->first_too_long(document)) return {*v};
  // Nearly every document is valid: a first pass without results (a deque,
  // allocated when made) stops at the first failure; only an invalid
  // document is walked again for its reasons.
  std::optional<valijson::ValidationResults> results;
  try {
    if (validator.validate(impl_->schema, adapter, nullptr)) return out;
    if (validator.validate(impl_->schema, adapter, &results.emplace())) return out;
  } catch (const std::exception& e) {
    // e.g. a "pattern" that std::regex cannot compile: report, don't throw.
    return {{"", std::string("the schema could not be evaluated: ") + e.what()}};
  }
  valijson::ValidationResults::Error error;
  // Said only when nothing more specific is: a value of a type another form
  // takes (an object where one form is a text) failed this form's type.
  std::vector<SchemaViolation> other_forms, summaries;
  while (results->popError(error)) {
    SchemaViolation v{to_pointer(error.context), error.description};
    const bool type_of_another_form = v.message.find("'type' constraint") != std::string::npos;
    if (!said_of_unknown_key(impl_->document, v))
      v.message = what_is_forbidden(impl_->document, document, v.path,
                                    what_was_expected(impl_->document, document, v.path, v.message));
    // valijson reports a failing "properties", "items", a form of several
    // or "if"/"then" as a summary line beside the specific ones; keep only
    // the specific reasons.
    if (v.message.rfind("Failed to validate against schema associated with property", 0) == 0) continue;
    if (v.message.rfind("Failed to validate item", 0) == 0) continue;
    for (const char* summary :
         {"Failed to validate against child schema", "Failed to validate against any child schemas",
          "Failed to validate against a conditional schema", "Failed to validate against additional properties schema"})
      if (v.message.rfind(summary, 0) == 0) {
        summaries.push_back(std::move(v));
        break;
      }
    if (v.message.empty()) continue;
    if (type_of_another_form && v.message.rfind("Value type not permitted", 0) == 0) {
      other_forms.push_back(std::move(v));
      continue;
    }
    // One form's words and another's may be the same (an unknown key in
    // each); what two forms expect of one value is said once, with "or".
    const auto same_place = std::find_if(out.begin(), out.end(), [&](const SchemaViolation& o) {
      return o.path == v.path && (o.message == v.message || (is_expectation(o.message) && is_expectation(v.message)) ||
                                  (missing_key(o.message) && missing_key(v.message)));
    });
    if (same_place == out.end())
      out.push_back(std::move(v));
    else if (same_place->message != v.message)
      same_place->message = either(same_place->message, v.message);
  }
  if (out.empty()) out = std::move(other_forms);
  if (out.empty()) out = std::move(summaries);
  if (auto name = refused_name(impl_->document, document, ""))
    if (std::none_of(out.begin(), out.end(), [&](const SchemaViolation& v) { return v.path == name->path; }))
      out.push_back(std::move(*name));
  if (out.empty()) out.push_back({"", "does not match the schema"});
  return out;
}

namespace {
std::string what_is_forbidden(const json& schema, const json& document, const std::string& pointer,
                              const std::string& message) {
  if (message.find("'not' constraint") == std::string::npos) return message;
  const json* value = nullptr;
  try {
    value = &document.at(json::json_pointer(pointer));
  } catch (const json::exception&) {
    return message;
  }
  std::vector<const json*> nodes;
  nodes_at(schema, schema, pointer_tokens(pointer), 0, nodes);
  for (const json* node : nodes)
    for (const char* branch : {"", "then", "else"}) {
      const json* holder = *branch ? (node->contains(branch) ? &(*node)[branch] : nullptr) : node;
      if (!holder || !holder->is_object() || !holder->contains("not") || !holder->contains("description") ||
          !(*holder)["description"].is_string())
        continue;
      try {
        if (JsonSchema((*holder)["not"]).validate(*value).empty()) return (*holder)["description"].get<std::string>();
      } catch (const std::invalid_argument&) {
        // a "not" that refers elsewhere in its schema: not said this way
      }
    }
  return message;
}
}  // namespace

}  // namespace sb
