// SMS.ru's delivery reports: the data[N] entries in order, the hash over the
// api_id and the entries (vectors computed independently with Python's
// hashlib), and the status codes of SMS.ru's table as message events.
#include "smsru_callback.h"

#include <gtest/gtest.h>

namespace {

const std::string kDelivered = "sms_status\n000000-10000000\n103\n1782469893";
const std::string kExpired = "sms_status\n000000-10000001\n104\n1782469900";
const std::string kHeartbeat = "test\n1782469901";

TEST(SmsRuCallback, EntriesComeInTheOrderOfTheirNumbers) {
  const auto entries =
      sms::smsru_entries({{"data[10]", "k"}, {"data[2]", "c"}, {"hash", "h"}, {"data[0]", "a"}, {"data[1]", "b"}});
  ASSERT_TRUE(entries);
  EXPECT_EQ(*entries, (std::vector<std::string>{"a", "b", "c", "k"}));  // 10 after 2: numbers, not text
  EXPECT_FALSE(sms::smsru_entries({{"data[0]", "a"}, {"data[0]", "b"}}));
  EXPECT_FALSE(sms::smsru_entries({{"data[x]", "a"}}));
  // A list written as data[] repeated: in the order it came; never mixed with numbers.
  EXPECT_EQ(*sms::smsru_entries({{"data[]", "b"}, {"hash", "h"}, {"data[]", "a"}}),
            (std::vector<std::string>{"b", "a"}));
  EXPECT_FALSE(sms::smsru_entries({{"data[]", "a"}, {"data[0]", "b"}}));
  EXPECT_TRUE(sms::smsru_entries({{"hash", "h"}})->empty());
}

TEST(SmsRuCallback, TheHashIsSha256OfTheApiIdAndEveryEntry) {
  const std::vector<std::string> entries{kDelivered, kExpired, kHeartbeat};
  const std::string hash = "b91bfb167df0b8187cf9240d78895fc9e13249db942d58cdcabb0c949922ba25";
  EXPECT_TRUE(sms::smsru_hash_matches("API-1", entries, hash));
  EXPECT_TRUE(
      sms::smsru_hash_matches("API-1", entries, "B91BFB167DF0B8187CF9240D78895FC9E13249DB942D58CDCABB0C949922BA25"));
  EXPECT_FALSE(sms::smsru_hash_matches("API-2", entries, hash));
  EXPECT_FALSE(sms::smsru_hash_matches("API-1", {kExpired, kDelivered, kHeartbeat}, hash));  // order counts
  EXPECT_FALSE(sms::smsru_hash_matches("API-1", entries, ""));
  EXPECT_FALSE(sms::smsru_hash_matches("API-1", entries, hash.substr(1)));
  EXPECT_TRUE(sms::smsru_hash_matches("API-1", {kDelivered},
                                      "6ebc520be9988312198d82f62297ccd78b41b2623c727e85223b9e6577011f8b"));
}

TEST(SmsRuCallback, StatusCodesBecomeTheWordsTwiliosReportsUse) {
  const auto delivered = sms::smsru_report(kDelivered);
  ASSERT_TRUE(delivered);
  EXPECT_EQ(delivered->type, "message.delivered");
  EXPECT_EQ(delivered->id, "000000-10000000:delivered");
  EXPECT_EQ(delivered->payload["data"]["message_id"], "000000-10000000");  // the send step's external_id
  EXPECT_EQ(delivered->payload["data"]["status_code"], 103);
  EXPECT_EQ(delivered->payload["time"], "2026-06-26T10:31:33Z");
  for (const auto& [code, type] : std::vector<std::pair<std::string, std::string>>{{"100", "message.queued"},
                                                                                   {"102", "message.sent"},
                                                                                   {"104", "message.undelivered"},
                                                                                   {"106", "message.undelivered"},
                                                                                   {"107", "message.undelivered"},
                                                                                   {"105", "message.failed"},
                                                                                   {"108", "message.failed"},
                                                                                   {"150", "message.failed"},
                                                                                   {"110", "message.read"}}) {
    const auto report = sms::smsru_report("sms_status\nX1\n" + code + "\n1782469893");
    ASSERT_TRUE(report) << code;
    EXPECT_EQ(report->type, type) << code;
  }
  EXPECT_TRUE(sms::smsru_report("sms_status\r\nX1\r\n103\r\n1782469893"));  // lines ended as Windows ends them
  EXPECT_FALSE(sms::smsru_report(kHeartbeat));
  EXPECT_FALSE(sms::smsru_report("callcheck_status\n201737-542\n401\n1782469893"));
  EXPECT_FALSE(sms::smsru_report("sms_status\nX1\n999\n1782469893"));  // not in SMS.ru's table
  EXPECT_FALSE(sms::smsru_report("sms_status\n\n103\n1782469893"));
  EXPECT_FALSE(sms::smsru_report("sms_status\nX1\n10x\n1782469893"));
}

}  // namespace
