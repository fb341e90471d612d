#include "util/JsonText.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "util/Text.h"

namespace sb {

using nlohmann::json;

namespace {

std::string library_dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// A string that nlohmann writes as it is: printable ASCII (DEL included),
// no quote and no backslash. Anything else (escapes, UTF-8, invalid bytes
// it replaces) is written by nlohmann. Eight bytes at a time: this check was
// most of the writing.
bool written_as_is(const std::string& s) {
  constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
  const auto has_zero_byte = [](uint64_t v) { return ((v - kOnes) & ~v & kHighs) != 0; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if ((word & kHighs) != 0 || ((word - kOnes * 0x20) & ~word & kHighs) != 0 || has_zero_byte(word ^ (kOnes * '"')) ||
        has_zero_byte(word ^ (kOnes * '\\')))
      return false;
  }
  for (; i < s.size(); ++i) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if (byte < 0x20 || byte >= 0x80 || byte == '"' || byte == '\\') return false;
  }
  return true;
}

void append_string(std::string& out, const std::string& s) {
  if (!written_as_is(s)) {
    out += library_dump(json(s));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace

void append_json_text(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_string(out, key);
        out += ':';
        append_json_text(out, member);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& item : value.get_ref<const json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json_text(out, item);
      }
      out += ']';
      return;
    }
    case json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::number_integer:
      append_integer(out, value.get<json::number_integer_t>());
      return;
    case json::value_t::number_unsigned:
      append_integer(out, value.get<json::number_unsigned_t>());
      return;
    default:  // floats (shortest round trip), binary, discarded
      out += library_dump(value);
      return;
  }
}

bool nests_deeper_than(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

json parse_bounded(std::string_view text) {
  if (nests_deeper_than(text, kMaxJsonDepth)) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}

std::string dump_text(const json& value) {
  std::string out;
  out.reserve(64);
  append_json_text(out, value);
  return out;
}

std::vector<std::string> json_array_texts(const std::vector<std::string>& items, size_t per_array) {
  std::vector<std::string> out;
  for (size_t from = 0; from < items.size(); from += per_array) {
    const auto first = items.begin() + static_cast<std::ptrdiff_t>(from);
    const auto last = first + static_cast<std::ptrdiff_t>(std::min(per_array, items.size() - from));
    out.push_back(dump_text(json(std::vector<std::string>(first, last))));
  }
  return out;
}

const json* lookup_path(const json& context, const std::string& dotted) {
  const json* node = &context;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string segment(trim_blanks(std::string_view(dotted).substr(start, dot - start)));
    if (node->is_object()) {
      auto it = node->find(segment);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array()) {
      if (segment.empty() || segment.size() > 9 || segment.find_first_not_of("0123456789") != std::string::npos)
        return nullptr;
      const size_t index = std::stoul(segment);
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return node->is_null() ? nullptr : node;
}

}  // namespace sb
