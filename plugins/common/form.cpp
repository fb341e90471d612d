#include "form.h"

namespace switchboard_plugins {

std::string form_urlencode(const std::vector<std::pair<std::string, std::string>>& fields) {
  static const char kHex[] = "0123456789ABCDEF";
  auto encode = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                              c == '_' || c == '.' || c == '~';
      if (unreserved) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + encode(k) + "=" + encode(v);
  return out;
}

}  // namespace switchboard_plugins
