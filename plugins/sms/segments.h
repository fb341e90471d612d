// How many SMS parts a text takes: GSM-7 texts are 160 characters in one part
// and 153 per part when concatenated (characters of the extension table, such
// as '€' or '{', count twice); any other text (Cyrillic included) is UCS-2:
// 70 UTF-16 units, 67 per part when concatenated.
#pragma once

#include <string_view>

namespace sms {

struct Segments {
  bool gsm7 = true;
  int units = 0;  // septets (GSM-7) or UTF-16 units (UCS-2)
  int parts = 0;
};

Segments count_segments(std::string_view utf8);

}  // namespace sms
