// Durations as rules write them: compactly ("1d12h") or in words, English
// or Russian ("1 day", "2 часа"), as the reference CRMs' help pages do.
#include <gtest/gtest.h>

#include "util/Time.h"

namespace sb {
namespace {

constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute, kDay = 24 * kHour;

TEST(Duration, CompactFormsAndTheirCombinations) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("30s"), 30 * kSecond);
  EXPECT_EQ(parse_duration_ms("15m"), 15 * kMinute);
  EXPECT_EQ(parse_duration_ms("1d12h"), kDay + 12 * kHour);
  EXPECT_EQ(parse_duration_ms("1w"), 7 * kDay);
  EXPECT_EQ(parse_duration_ms("-1d"), -kDay);
}

TEST(Duration, WordsInEnglishAndRussian) {
  EXPECT_EQ(parse_duration_ms("1 day"), kDay);
  EXPECT_EQ(parse_duration_ms("3 days 2 hours"), 3 * kDay + 2 * kHour);
  EXPECT_EQ(parse_duration_ms("1 Day, 30 Minutes"), kDay + 30 * kMinute);
  EXPECT_EQ(parse_duration_ms("1 hour and 15 minutes"), kHour + 15 * kMinute);
  EXPECT_EQ(parse_duration_ms("2 weeks"), 14 * kDay);
  EXPECT_EQ(parse_duration_ms("1 день"), kDay);
  EXPECT_EQ(parse_duration_ms("2 дня"), 2 * kDay);
  EXPECT_EQ(parse_duration_ms("5 дней"), 5 * kDay);
  EXPECT_EQ(parse_duration_ms("2 часа 30 минут"), 2 * kHour + 30 * kMinute);
  EXPECT_EQ(parse_duration_ms("1 неделя"), 7 * kDay);
  EXPECT_EQ(parse_duration_ms("1 день и 2 часа"), kDay + 2 * kHour);
  EXPECT_EQ(parse_duration_ms("-1 day"), -kDay);
  EXPECT_EQ(parse_duration_ms("1 День"), kDay);
  EXPECT_EQ(parse_duration_ms("2 Часа"), 2 * kHour);
}

TEST(Duration, AnythingElseIsNotADuration) {
  for (const char* text : {"", "day", "1", "1 month", "1M", "1 fortnight", "1d2", "d1", "1 day and", "1..2h", "1 дни",
                           "9999999999w9999999999w"})
    EXPECT_EQ(parse_duration_ms(text), std::nullopt) << text;
}

}  // namespace
}  // namespace sb
