#include "segments.h"

#include <string>

namespace sms {

namespace {

// The GSM 03.38 basic character set (as Unicode code points) and the
// extension table, whose characters take an escape septet too.
const std::u32string kBasic =
    U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    U"abcdefghijklmnopqrstuvwxyzäöñüà";
const std::u32string kExtension = U"^{}\\[~]|€\f";

// Decodes UTF-8; an invalid byte counts as U+FFFD (which is not GSM-7).
std::u32string decode(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int length = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (length == 0 || i + length > s.size()) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    char32_t cp = length == 1 ? c : c & (0x7f >> length);
    for (int k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out += cp;
    i += length;
  }
  return out;
}

}  // namespace

Segments count_segments(std::string_view utf8) {
  const std::u32string text = decode(utf8);
  Segments out;
  for (char32_t c : text) {
    if (kBasic.find(c) != std::u32string::npos) {
      out.units += 1;
    } else if (kExtension.find(c) != std::u32string::npos) {
      out.units += 2;
    } else {
      out.gsm7 = false;
      break;
    }
  }
  if (!out.gsm7) {
    out.units = 0;
    for (char32_t c : text) out.units += c > 0xFFFF ? 2 : 1;
  }
  const int single = out.gsm7 ? 160 : 70, part = out.gsm7 ? 153 : 67;
  out.parts = 1;
  if (out.units <= single) return out;
  // Parts are filled a character at a time: an escape and its character
  // (GSM-7), or the two halves of a surrogate pair (UCS-2), never go into
  // two parts, so a part that has one unit of room left ends there.
  int used = 0;
  for (char32_t c : text) {
    const int width = out.gsm7 ? (kExtension.find(c) != std::u32string::npos ? 2 : 1) : (c > 0xFFFF ? 2 : 1);
    if (used + width > part) {
      ++out.parts;
      used = 0;
    }
    used += width;
  }
  return out;
}

}  // namespace sms
