// Durations as rules write them: compactly ("1d12h") or in words, English
// or Russian ("1 day", "2 часа"), as the reference CRMs' help pages do; and
// the times the host writes.
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>
#include <gtest/gtest.h>

#include <random>

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
  // A month is 30 days; a unit alone is one of it; half an hour in Russian.
  EXPECT_EQ(parse_duration_ms("1 month"), 30 * kDay);
  EXPECT_EQ(parse_duration_ms("2 месяца"), 60 * kDay);
  EXPECT_EQ(parse_duration_ms("1mo"), 30 * kDay);
  EXPECT_EQ(parse_duration_ms("час"), kHour);
  EXPECT_EQ(parse_duration_ms("an hour"), kHour);
  EXPECT_EQ(parse_duration_ms("An hour"), kHour);
  EXPECT_EQ(parse_duration_ms("неделю"), 7 * kDay);
  EXPECT_EQ(parse_duration_ms("сутки"), kDay);
  EXPECT_EQ(parse_duration_ms("полчаса"), 30 * kMinute);
  EXPECT_EQ(parse_duration_ms("1 час и полчаса"), 90 * kMinute);
  EXPECT_EQ(parse_duration_ms("day"), kDay);
}

TEST(Duration, AnythingElseIsNotADuration) {
  for (const char* text : {"",
                           "d",
                           "1",
                           "1M",
                           "M",
                           "1 fortnight",
                           "1d2",
                           "d1",
                           "1 day and",
                           "1..2h",
                           "1 дни",
                           "9999999999w9999999999w",
                           "15250282000w",
                           "5300w",
                           "fortnight",
                           "a",
                           "пол",
                           "полчасадня",
                           "мс",
                           "дн",
                           "an a day"})
    EXPECT_EQ(parse_duration_ms(text), std::nullopt) << text;
}

// Times in history entries and event contexts: RFC 3339 in UTC with
// milliseconds, the same text Poco's formatter wrote before.
TEST(TimeText, FormatsInUtcWithMillisecondsAsPocoDid) {
  EXPECT_EQ(format_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time_ms(951782400123), "2000-02-29T00:00:00.123Z");
  EXPECT_EQ(format_time_ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_time_ms(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_time_ms(-62167219200000), "0000-01-01T00:00:00.000Z");
  // Beyond year 9999 (a wait of millions of weeks): the year is not wrapped.
  EXPECT_EQ(format_time_ms(2069682768000000), "67555-08-21T16:00:00.000Z");
  std::mt19937_64 random(7);
  std::uniform_int_distribution<int64_t> instant(-2208988800000, 4102444800000);  // 1900 to 2100
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = instant(random);
    ASSERT_EQ(format_time_ms(ms), Poco::DateTimeFormatter::format(Poco::Timestamp(ms * 1000), "%Y-%m-%dT%H:%M:%S.%iZ"))
        << ms;
    ASSERT_EQ(parse_time_ms(format_time_ms(ms)), ms);
  }
}

// RFC 3339 whole: an offset a day can have, nothing after it, a 'T'.
TEST(TimeText, OnlyAWholeRfc3339TimeOrADateIsATime) {
  EXPECT_EQ(parse_time_ms("2026-12-07T05:00:00Z"), 1796619600000);
  EXPECT_EQ(parse_time_ms("2026-12-07t08:00:00.5+03:00"), 1796619600500);
  EXPECT_EQ(parse_time_ms("2026-12-07T00:00:00-05:30"), 1796621400000);
  EXPECT_EQ(parse_time_ms("2026-12-07"), 1796601600000);
  // ISO 8601's other offsets, and a zone named after the offset (RFC 9557).
  EXPECT_EQ(parse_time_ms("2026-12-07T08:00:00+0300"), 1796619600000);
  EXPECT_EQ(parse_time_ms("2026-12-07T08:00:00+03"), 1796619600000);
  EXPECT_EQ(parse_time_ms("2026-12-07T08:00:00+03:00[Europe/Moscow]"), 1796619600000);
  for (const char* bad :
       {"2026-12-07T05:00:00+99:99", "2026-12-07T05:00:00+25:00", "2026-12-07T05:00:00+03:00garbage",
        "2026-12-07T05:00:00Zxyz", "2026-12-07T05:00:00 +03:00", "2026-12-07T05:00:00", "2026-12-07T05:00:00.Z",
        "2026-12-07 05:00:00Z", "2026-13-07T05:00:00Z", "2026-12-07T24:00:00Z", "2026-12-07T05:00:00+030",
        "2026-12-07T05:00:00+03:00[", "2026-12-07T05:00:00+03:00]"})
    EXPECT_FALSE(parse_time_ms(bad).has_value()) << bad;
  EXPECT_NE(expected_rfc3339_time("2026-12-07T02:03:00 03:00").find("%2B"), std::string::npos);
}

}  // namespace
}  // namespace sb
