// JSON helpers used wherever text from outside (plugins, requests, providers)
// becomes JSON output or a JSON Pointer.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

// Serialises without ever throwing: invalid UTF-8 (a provider's error text in
// another encoding, say) becomes U+FFFD instead of an exception. The text is
// nlohmann's dump(), byte for byte; written here for what most values hold
// (plain ASCII strings, integers), three times faster, and by nlohmann for
// the rest.
std::string dump_text(const nlohmann::json& value);
// The same, appended to `out`.
void append_json_text(std::string& out, const nlohmann::json& value);
// `items` as JSON arrays of at most `per_array` each, as text: a long list
// named to a store statement a chunk at a time (one parameter each).
std::vector<std::string> json_array_texts(const std::vector<std::string>& items, size_t per_array);

// Text from outside (a plugin, an API request) nested deeper than this is
// refused: copying and writing JSON recurse, and a few megabytes of "[[[["
// would overflow a thread's stack.
inline constexpr int kMaxJsonDepth = 64;
// `text` parsed; discarded (is_discarded()) when it is not JSON or nests
// deeper than kMaxJsonDepth.
nlohmann::json parse_bounded(std::string_view text);
// Whether `text` nests arrays and objects deeper than `max_depth` (strings
// skipped); a single pass, cheaper than a parse with a callback.
bool nests_deeper_than(std::string_view text, int max_depth);

// Whether `text` is valid UTF-8 (what a JSON string may hold as it is).
inline bool is_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// A string as it is, anything else as JSON text (how a matched value is keyed).
inline std::string as_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : dump_text(value);
}

// Escapes one JSON Pointer reference token (RFC 6901): '~' -> "~0", '/' -> "~1".
inline std::string escape_pointer_token(const std::string& token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// The value at a dotted path ("contact.fields.city", "contact.emails.0"), or
// null when absent or JSON null. Spaces around a segment are ignored.
const nlohmann::json* lookup_path(const nlohmann::json& context, const std::string& dotted);

}  // namespace sb
