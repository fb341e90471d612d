#include "util/AsciiUrl.h"

#include <idn2.h>

#include <algorithm>

namespace sb {

namespace {
// `text` from `from` on, with every byte beyond ASCII, every control
// character and space percent-encoded; the rest (and "%XX" already there) as it is.
std::string percent_encoded(const std::string& text, size_t from) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = from; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80 || c <= ' ' || c == 0x7F) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}
}  // namespace

std::string ascii_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t host_begin = scheme + 3;
  const size_t host_end = std::min(url.find_first_of("/?#", host_begin), url.size());
  std::string authority = url.substr(host_begin, host_end - host_begin);
  // The host's labels in ASCII (IDNA); the rest of the address percent-encoded where it is not ASCII.
  const size_t at = authority.rfind('@');
  const size_t name_begin = at == std::string::npos ? 0 : at + 1;
  const size_t colon = authority.find(':', name_begin);
  const std::string name =
      authority.substr(name_begin, (colon == std::string::npos ? authority.size() : colon) - name_begin);
  if (std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    char* ascii = nullptr;
    if (idn2_to_ascii_8z(name.c_str(), &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) == IDN2_OK) {
      authority.replace(name_begin, name.size(), ascii);
      idn2_free(ascii);
    }
  }
  std::string out = url.substr(0, host_begin) + percent_encoded(authority, 0);
  return out + percent_encoded(url, host_end);
}

}  // namespace sb
