#include "form_body.h"

#include <vector>

#include "form.h"

namespace webhook {

namespace {

using nlohmann::json;

constexpr size_t kMaxFields = 1000;  // PHP's max_input_vars
constexpr size_t kMaxLevels = 32;

// "a[b][]" -> {"a", "b", ""}; what follows the last bracket that closes is
// ignored (as PHP does); a name whose first bracket does not close is one
// level, as written.
std::vector<std::string> levels_of(const std::string& name) {
  const size_t open = name.find('[');
  if (open == 0 || open == std::string::npos) return {name};
  std::vector<std::string> levels{name.substr(0, open)};
  size_t at = open;
  while (at < name.size() && name[at] == '[') {
    const size_t close = name.find(']', at);
    if (close == std::string::npos) break;
    levels.push_back(name.substr(at + 1, close - at - 1));
    at = close + 1;
  }
  if (levels.size() == 1) return {name};
  return levels;
}

// Whether `key` is an index: digits, without a leading zero.
bool is_index(const std::string& key) {
  return !key.empty() && key.size() < 10 && key.find_first_not_of("0123456789") == std::string::npos &&
         (key == "0" || key.front() != '0');
}

// Objects whose keys are 0, 1, ... n-1 become lists, as PHP's json_encode
// writes them: "leads[add][0][id]=1&leads[add][1][id]=2" is a list of two.
void lists_from_indexes(json& value) {
  if (!value.is_object() && !value.is_array()) return;
  for (auto& child : value) lists_from_indexes(child);
  if (!value.is_object() || value.empty()) return;
  for (const auto& [key, child] : value.items())
    if (!is_index(key) || std::stoul(key) >= value.size()) return;
  json list = json::array();
  for (size_t i = 0; i < value.size(); ++i) list.push_back(std::move(value[std::to_string(i)]));
  value = std::move(list);
}

}  // namespace

bool is_form(std::string_view content_type) {
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  if (content_type.size() < kForm.size()) return false;
  for (size_t i = 0; i < kForm.size(); ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(content_type[i]))) != kForm[i]) return false;
  const std::string_view rest = content_type.substr(kForm.size());
  return rest.empty() || rest.front() == ';' || rest.front() == ' ';
}

std::optional<json> form_object(std::string_view body, std::string& why) {
  const auto fields = switchboard_plugins::form_decode(body);
  if (fields.size() > kMaxFields) {
    why = "the form has " + std::to_string(fields.size()) + " fields, over " + std::to_string(kMaxFields);
    return std::nullopt;
  }
  json out = json::object();
  for (const auto& [name, value] : fields) {
    if (name.empty()) continue;
    const std::vector<std::string> levels = levels_of(name);
    if (levels.size() > kMaxLevels) {
      why = "the form field '" + name.substr(0, 64) + "' is nested deeper than " + std::to_string(kMaxLevels);
      return std::nullopt;
    }
    json* at = &out;
    for (size_t i = 0; i < levels.size(); ++i) {
      const bool last = i + 1 == levels.size();
      if (levels[i].empty() && i > 0) {
        // "[]": the next element of a list (a text there before becomes one).
        if (!at->is_array()) *at = json::array();
        at->push_back(last ? json(value) : json::object());
        at = &at->back();
        continue;
      }
      if (!at->is_object()) *at = json::object();  // a later field at the same place wins
      json& next = (*at)[levels[i]];
      if (last) next = value;
      at = &next;
    }
  }
  for (auto& field : out) lists_from_indexes(field);  // the body itself stays an object
  return out;
}

}  // namespace webhook
