// The keys a person is known by: one number however a CRM, a form or an SMS
// reply writes it.
#include <gtest/gtest.h>

#include "store/ContactAliases.h"

namespace sb {
namespace {

class PhoneAliases : public ::testing::Test {
 protected:
  void TearDown() override { set_phone_region(""); }
};

TEST_F(PhoneAliases, ANationalFormIsTheInternationalNumberInTheAccountsCountry) {
  set_phone_region("RU");
  for (const char* written :
       {"+7 999 888-77-66", "8 (999) 888-77-66", "79998887766", "+79998887766", "8-999-888-77-66"})
    EXPECT_EQ(phone_alias(written), "phone:+79998887766") << written;
  EXPECT_EQ(phone_alias("+44 20 7946 0958"), "phone:+442079460958");  // a foreign number keeps its own
  EXPECT_EQ(phone_alias("12345"), "phone:12345");                     // no number of the country: its digits
}

TEST_F(PhoneAliases, WithoutACountryANumberIsItsDigits) {
  EXPECT_EQ(phone_alias("+7 999 888-77-66"), "phone:+79998887766");
  EXPECT_EQ(phone_alias("8 (999) 888-77-66"), "phone:89998887766");
  EXPECT_EQ(normalized_alias("phone:+7 (999) 888-77-66"), "phone:+79998887766");
}

}  // namespace
}  // namespace sb
