// SMS segment counts: GSM-7 160/153, extension characters count twice,
// anything else UCS-2 70/67.
#include "segments.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(Segments, Gsm7) {
  EXPECT_EQ(sms::count_segments(repeat("a", 160)).parts, 1);
  EXPECT_EQ(sms::count_segments(repeat("a", 161)).parts, 2);
  EXPECT_EQ(sms::count_segments(repeat("a", 306)).parts, 2);
  EXPECT_EQ(sms::count_segments(repeat("a", 307)).parts, 3);
  const auto euro = sms::count_segments(repeat("€", 80));  // 2 septets each
  EXPECT_TRUE(euro.gsm7);
  EXPECT_EQ(euro.units, 160);
  EXPECT_EQ(euro.parts, 1);
}

TEST(Segments, CyrillicIsUcs2) {
  const auto seventy = sms::count_segments(repeat("ж", 70));
  EXPECT_FALSE(seventy.gsm7);
  EXPECT_EQ(seventy.parts, 1);
  EXPECT_EQ(sms::count_segments(repeat("ж", 71)).parts, 2);
  EXPECT_EQ(sms::count_segments(repeat("ж", 134)).parts, 2);
  EXPECT_EQ(sms::count_segments(repeat("ж", 135)).parts, 3);
  EXPECT_EQ(sms::count_segments("Hi 😀").units, 5);  // an emoji is two UTF-16 units
}

// A character that takes two units is never split between two parts: an
// extension character's escape and itself, an emoji's surrogate pair.
TEST(Segments, ACharacterOfTwoUnitsIsNotSplitBetweenParts) {
  const auto gsm = sms::count_segments(repeat("a", 152) + "€" + repeat("a", 152));
  EXPECT_EQ(gsm.units, 306);
  EXPECT_EQ(gsm.parts, 3);  // 152 + escape would end part one mid-character
  EXPECT_EQ(sms::count_segments(repeat("a", 151) + "€" + repeat("a", 153)).parts, 2);
  const auto ucs2 = sms::count_segments(repeat("ж", 66) + "😀" + repeat("ж", 66));
  EXPECT_EQ(ucs2.units, 134);
  EXPECT_EQ(ucs2.parts, 3);
  EXPECT_EQ(sms::count_segments(repeat("ж", 65) + "😀" + repeat("ж", 67)).parts, 2);
}

}  // namespace
