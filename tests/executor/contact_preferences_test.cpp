#include <gtest/gtest.h>

#include "executor/ContactPreferences.h"

namespace sb {
namespace {

using nlohmann::json;

TEST(ContactPreferences, AnOptOutStopsItsChannelAndCategoryOnly) {
  const json contact = json::parse(R"({"preferences": {"email": {"marketing": false, "news": true},
                                                       "sms": {"all": false}}})");
  EXPECT_EQ(opted_out(contact, "email", "marketing"), "the contact opted out of marketing email messages");
  EXPECT_FALSE(opted_out(contact, "email", "transactional"));
  EXPECT_FALSE(opted_out(contact, "email", "news"));
  EXPECT_EQ(opted_out(contact, "sms", "transactional"), "the contact opted out of every sms message");
  EXPECT_FALSE(opted_out(contact, "whatsapp", "marketing"));
  EXPECT_FALSE(opted_out(json::object(), "email", "marketing"));
  EXPECT_FALSE(opted_out(json::parse(R"({"preferences": {"email": {"marketing": null}}})"), "email", "marketing"));
  EXPECT_FALSE(opted_out(json::parse(R"({"preferences": "garbage"})"), "email", "marketing"));
}

}  // namespace
}  // namespace sb
