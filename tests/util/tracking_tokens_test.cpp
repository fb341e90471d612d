// Signed tracking links: what they carry, and what a forger cannot do.
#include <gtest/gtest.h>

#include "util/AsciiUrl.h"
#include "util/TrackingTokens.h"

namespace sb {
namespace {

TrackedLink click_link() {
  TrackedLink link;
  link.kind = "click";
  link.channel = "email";
  link.message_id = "abc@shop.test";
  link.contact_key = "email:maria@example.com";
  link.event_id = "deal-1";
  link.rule = "offer";
  link.step = "s0";
  link.execution_id = 7;
  link.url = "https://shop.test/offer?id=7";
  return link;
}

std::string token_of(const std::string& url) { return url.substr(url.rfind('/') + 1); }

TEST(TrackingTokens, ALinkCarriesWhatItIsAbout) {
  const TrackingTokens tokens("secret", "https://sb.example.com");
  const std::string url = tokens.url_for(click_link());
  EXPECT_EQ(url.rfind("https://sb.example.com/t/c/", 0), 0u) << url;
  const auto link = tokens.verify("click", token_of(url));
  ASSERT_TRUE(link);
  EXPECT_EQ(link->url, "https://shop.test/offer?id=7");
  EXPECT_EQ(link->contact_key, "email:maria@example.com");
  EXPECT_EQ(link->message_id, "abc@shop.test");
  EXPECT_EQ(link->execution_id, 7);
  EXPECT_EQ(link->step, "s0");
}

// An unsubscribe link goes in a header line: one that long names would take
// past 900 characters names its execution alone.
TEST(TrackingTokens, ALongUnsubscribeLinkNamesItsExecutionAlone) {
  const TrackingTokens tokens("secret", "https://sb.example.com");
  TrackedLink link = click_link();
  link.kind = "unsubscribe";
  link.url.clear();
  const auto short_one = tokens.verify("unsubscribe", token_of(tokens.url_for(link)));
  ASSERT_TRUE(short_one);
  EXPECT_EQ(short_one->rule, "offer");
  link.rule = std::string(300, 'r');
  link.step = std::string(300, 's');
  link.event_id = std::string(300, 'e');
  const std::string url = tokens.url_for(link);
  EXPECT_LE(url.size(), 900u);
  const auto long_one = tokens.verify("unsubscribe", token_of(url));
  ASSERT_TRUE(long_one);
  EXPECT_EQ(long_one->execution_id, 7);
  EXPECT_EQ(long_one->contact_key, "email:maria@example.com");
  EXPECT_TRUE(long_one->rule.empty());
}

TEST(TrackingTokens, ForgedAlteredOrMisusedTokensAreRefusedAndUnreadable) {
  const TrackingTokens tokens("secret", "https://sb.example.com");
  const std::string token = token_of(tokens.url_for(click_link()));
  // Another kind: a click token is not an unsubscribe token.
  EXPECT_FALSE(tokens.verify("unsubscribe", token));
  // Another key: another host's links are not ours.
  EXPECT_FALSE(TrackingTokens("other", "https://sb.example.com").verify("click", token));
  // Nothing of what it carries can be read from it: it names the contact.
  const std::string plain_url = TrackingTokens("secret", "x").url_for(click_link());
  EXPECT_EQ(plain_url.find("bWFyaWF"), std::string::npos);  // "maria" in base64
  EXPECT_EQ(plain_url.find("maria"), std::string::npos);
  // Every single changed character.
  for (size_t i = 0; i < token.size(); ++i) {
    std::string changed = token;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(tokens.verify("click", changed)) << i;
  }
  EXPECT_FALSE(tokens.verify("click", ""));
  EXPECT_FALSE(tokens.verify("click", "short"));
  EXPECT_FALSE(tokens.verify("click", token.substr(0, token.size() - 4)));
  // Two links to the same place are two tokens; each has an id of its own, the same every time.
  const std::string other = token_of(tokens.url_for(click_link()));
  EXPECT_NE(other, token);
  EXPECT_EQ(TrackingTokens::id_of(token), TrackingTokens::id_of(token));
  EXPECT_NE(TrackingTokens::id_of(token), TrackingTokens::id_of(other));
}

// A click's destination in Russian letters becomes the ASCII address an
// HTTP Location carries: the host by IDNA, the rest percent-encoded.
TEST(TrackingTokens, AClicksDestinationInRussianLettersIsMadeAscii) {
  EXPECT_EQ(ascii_url("https://школа.рф/путь?q=ё#низ"),
            "https://xn--80atdl2c.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C?q=%D1%91#%D0%BD%D0%B8%D0%B7");
  EXPECT_EQ(ascii_url("https://юзер@пример.рф:8443/a b\x7f"),
            "https://%D1%8E%D0%B7%D0%B5%D1%80@xn--e1afmkfd.xn--p1ai:8443/a%20b%7F");
  EXPECT_EQ(ascii_url("https://shop.test/offer?id=7&x=%D1%91"), "https://shop.test/offer?id=7&x=%D1%91");
  EXPECT_EQ(ascii_url("http://[::1]:8080/путь"), "http://[::1]:8080/%D0%BF%D1%83%D1%82%D1%8C");
}

TEST(TrackingTokens, RandomKeysDiffer) {
  EXPECT_EQ(random_tracking_key().size(), 64u);
  EXPECT_NE(random_tracking_key(), random_tracking_key());
}

}  // namespace
}  // namespace sb
