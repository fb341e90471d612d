// X-Twilio-Signature, checked against the public vector from Twilio's own
// library tests, and a delivery report as an event.
#include "twilio_callback.h"

#include <gtest/gtest.h>

namespace {

TEST(TwilioSignature, MatchesThePublicVector) {
  const sms::FormFields fields = {{"CallSid", "CA1234567890ABCDE"},
                                  {"Digits", "1234"},
                                  {"From", "+14158675309"},
                                  {"To", "+18005551212"},
                                  {"Caller", "+14158675309"}};
  EXPECT_EQ(sms::twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", fields),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST(TwilioReport, BecomesAMessageEvent) {
  auto report = sms::twilio_report({{"MessageSid", "SM1"},
                                    {"MessageStatus", "undelivered"},
                                    {"To", "+14155552671"},
                                    {"ErrorCode", "30003"},
                                    {"ErrorMessage", "Unreachable destination handset"}});
  ASSERT_TRUE(report);
  EXPECT_EQ(report->type, "message.undelivered");
  EXPECT_EQ(report->id, "SM1:undelivered");
  EXPECT_EQ(report->payload["data"]["message_id"], "SM1");
  EXPECT_EQ(report->payload["data"]["errors"][0]["code"], "30003");
  EXPECT_FALSE(sms::twilio_report({{"CallSid", "CA1"}}));
}

}  // namespace
