#include "util/JsonText.h"

#include "util/Text.h"

namespace sb {

using nlohmann::json;

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
