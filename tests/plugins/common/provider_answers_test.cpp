// What every provider plugin reads the same way: Retry-After in both of
// RFC 9110's forms.
#include "provider_answers.h"

#include <gtest/gtest.h>

namespace {

using switchboard_plugins::retry_after_seconds;

constexpr int64_t kNow = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT

TEST(RetryAfter, DelaySecondsAreTakenAsTheyAre) {
  EXPECT_EQ(retry_after_seconds("120", kNow), 120u);
  EXPECT_EQ(retry_after_seconds(" 7 ", kNow), 7u);
  EXPECT_EQ(retry_after_seconds("0", kNow), 0u);
  EXPECT_EQ(retry_after_seconds("99999999999999999999", kNow), UINT32_MAX);
}

TEST(RetryAfter, AnHttpDateIsCountedFromNow) {
  EXPECT_EQ(retry_after_seconds("Wed, 21 Oct 2015 07:30:00 GMT", kNow), 120u);
  EXPECT_EQ(retry_after_seconds("Thu, 22 Oct 2015 07:28:00 GMT", kNow), 86400u);
  EXPECT_EQ(retry_after_seconds("Wed, 21 Oct 2015 07:20:00 GMT", kNow), 0u);  // already past
  // The obsolete forms a recipient must take too: RFC 850's and asctime's.
  EXPECT_EQ(retry_after_seconds("Wednesday, 21-Oct-15 07:30:00 GMT", kNow), 120u);
  EXPECT_EQ(retry_after_seconds("Wed Oct 21 07:31:00 2015", kNow), 180u);
  EXPECT_EQ(retry_after_seconds("Sun Nov  6 08:49:37 2016", kNow), 33009697u);
}

TEST(RetryAfter, AnythingElseIsNoHint) {
  for (const char* junk : {"", "soon", "-5", "1.5", "Wed, 21 Oct 2015 07:30:00", "Wed, 21 Oct 2015 07:30:00 GMT x"})
    EXPECT_EQ(retry_after_seconds(junk, kNow), 0u) << junk;
}

}  // namespace
