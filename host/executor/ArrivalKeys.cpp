#include "executor/ArrivalKeys.h"

#include <string_view>

namespace sb {

std::string arrival_key(const std::string& awaited, const std::vector<std::pair<std::string, std::string>>& matched) {
  std::string key = awaited;
  for (const auto& [path, value] : matched) key += "\n" + path + "=" + value;
  return key;
}

std::string awaited_types(const std::vector<std::string>& types, const std::vector<std::string>& else_on) {
  std::string awaited;
  for (const auto& type : types) awaited += (awaited.empty() ? "" : "|") + type;
  for (const auto& other : else_on) awaited += "|!" + other;
  return awaited;
}

bool takes_else(const std::string& key, const std::string& type) {
  const std::string_view awaited = std::string_view(key).substr(0, key.find('\n'));
  const std::string marked = "|!" + type;
  for (size_t at = awaited.find(marked); at != std::string_view::npos; at = awaited.find(marked, at + 1)) {
    const size_t end = at + marked.size();
    if (end == awaited.size() || awaited[end] == '|') return true;
  }
  return false;
}

}  // namespace sb
