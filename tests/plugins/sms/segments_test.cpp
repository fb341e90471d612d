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

}  // namespace
