// X-Twilio-Signature, checked against the public vector from Twilio's own
// library tests, and a delivery report as an event.
#include "twilio_callback.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "opt_out.h"
#include "twilio_signature.h"

namespace {

// A form with a repeated pair: signed once per pair (the client libraries),
// or with every pair as sent; both are taken.
TEST(TwilioSignature, ARepeatedPairSignedOnceOrTwiceIsTaken) {
  const sms::FormFields twice = {{"Digits", "1234"}, {"Digits", "1234"}, {"To", "+18005551212"}};
  const std::string url = "https://mycompany.com/myapp.php";
  const std::string every_pair = url + "Digits1234Digits1234To+18005551212";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), "12345", 5, reinterpret_cast<const unsigned char*>(every_pair.data()), every_pair.size(), digest,
       &length);
  const std::string full = switchboard_plugins::base64(std::string_view(reinterpret_cast<char*>(digest), length));
  EXPECT_TRUE(switchboard_plugins::twilio_signature_matches("12345", url, twice, full));
  EXPECT_TRUE(switchboard_plugins::twilio_signature_matches(
      "12345", url, twice, switchboard_plugins::twilio_signature("12345", url, {twice[0], twice[2]})));
  EXPECT_FALSE(switchboard_plugins::twilio_signature_matches("12345", url, {twice[0], twice[2]}, full));
}

TEST(TwilioSignature, MatchesThePublicVector) {
  const sms::FormFields fields = {{"CallSid", "CA1234567890ABCDE"},
                                  {"Digits", "1234"},
                                  {"From", "+14158675309"},
                                  {"To", "+18005551212"},
                                  {"Caller", "+14158675309"}};
  EXPECT_EQ(switchboard_plugins::twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", fields),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST(TwilioSignature, ARepeatedFieldIsSignedWithItsValuesSorted) {
  // Twilio's library's vector for a field given twice.
  EXPECT_EQ(switchboard_plugins::twilio_signature(
                "12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                {{"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}}),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

// A JSON body is signed through its hash in the query (bodySHA256): the
// public vector of Twilio's libraries' tests, and a body or hash changed.
TEST(TwilioSignature, AJsonBodyIsSignedThroughItsHashInTheQuery) {
  const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  const std::string body = R"({"property": "value", "boolean": true})";
  const std::string query = "foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
  const std::string signature = "a9nBmqA0ju/hNViExpshrM61xv4=";
  EXPECT_TRUE(switchboard_plugins::twilio_request_signed("12345", url, query, body, {}, signature));
  EXPECT_TRUE(switchboard_plugins::twilio_request_signed("12345", url + "#rc=3&rp=ct,5xx", query, body, {}, signature));
  EXPECT_FALSE(switchboard_plugins::twilio_request_signed("12345", url, query, body + " ", {}, signature));
  EXPECT_FALSE(
      switchboard_plugins::twilio_request_signed("12345", url, query, body, {}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // Its fields are the object's members, as text.
  EXPECT_EQ(switchboard_plugins::twilio_request_fields(query, body),
            (std::vector<std::pair<std::string, std::string>>{{"boolean", "true"}, {"property", "value"}}));
  EXPECT_EQ(switchboard_plugins::twilio_request_fields("", "MessageSid=SM1&MessageStatus=sent"),
            (std::vector<std::pair<std::string, std::string>>{{"MessageSid", "SM1"}, {"MessageStatus", "sent"}}));
  // Without the hash in the query, the form's fields are signed as ever.
  const sms::FormFields fields = {{"CallSid", "CA1234567890ABCDE"},
                                  {"Digits", "1234"},
                                  {"From", "+14158675309"},
                                  {"To", "+18005551212"},
                                  {"Caller", "+14158675309"}};
  EXPECT_TRUE(switchboard_plugins::twilio_request_signed("12345", url, "foo=1&bar=2", "", fields,
                                                         "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  // A form body under a URL whose query names a hash is a form all the same
  // (the libraries check the hash only of a raw body): the URL, hash and
  // all, with the form's fields.
  const std::string form_url = url + "&bodySHA256=abc";
  const std::string form = "CallSid=CA1234567890ABCDE&Digits=1234";
  const auto form_fields = switchboard_plugins::twilio_request_fields("foo=1&bar=2&bodySHA256=abc", form);
  EXPECT_EQ(form_fields,
            (std::vector<std::pair<std::string, std::string>>{{"CallSid", "CA1234567890ABCDE"}, {"Digits", "1234"}}));
  const std::string form_signature = switchboard_plugins::twilio_signature("12345", form_url, form_fields);
  EXPECT_TRUE(switchboard_plugins::twilio_request_signed("12345", form_url, "foo=1&bar=2&bodySHA256=abc", form,
                                                         form_fields, form_signature));
  EXPECT_FALSE(switchboard_plugins::twilio_request_signed("12345", form_url, "foo=1&bar=2&bodySHA256=abc", form, {},
                                                          form_signature));
}

// Twilio signs the URL with or without its port, however it was given:
// each form of the configured URL accepts the other's signature.
TEST(TwilioSignature, TheUrlMatchesWithOrWithoutItsDefaultPort) {
  const sms::FormFields fields = {{"MessageSid", "SM1"}, {"MessageStatus", "delivered"}};
  const std::string plain = "https://hooks.example.com/sms/status?x=1",
                    with_port = "https://hooks.example.com:443/sms/status?x=1";
  for (const auto& [configured, signed_over] : std::vector<std::pair<std::string, std::string>>{
           {plain, plain}, {plain, with_port}, {with_port, plain}, {with_port, with_port}})
    EXPECT_TRUE(switchboard_plugins::twilio_signature_matches(
        "tok", configured, fields, switchboard_plugins::twilio_signature("tok", signed_over, fields)))
        << configured << " signed as " << signed_over;
  EXPECT_TRUE(switchboard_plugins::twilio_signature_matches(
      "tok", "http://h.example.com/r", fields,
      switchboard_plugins::twilio_signature("tok", "http://h.example.com:80/r", fields)));
  // A connection override (a fragment) in the configured URL is not part of what Twilio requests; the
  // client libraries' validators (twilio-node, twilio-python) sign the URL as configured, fragment and all.
  EXPECT_TRUE(switchboard_plugins::twilio_signature_matches(
      "tok", plain + "#rc=3&rp=ct,5xx", fields, switchboard_plugins::twilio_signature("tok", plain, fields)));
  EXPECT_TRUE(switchboard_plugins::twilio_signature_matches(
      "tok", plain + "#rc=3&rp=ct,5xx", fields,
      switchboard_plugins::twilio_signature("tok", plain + "#rc=3&rp=ct,5xx", fields)));
  // A name=value pair sent twice is signed once (the libraries take a set of each name's values).
  auto twice = fields;
  twice.push_back(fields.front());
  EXPECT_EQ(switchboard_plugins::twilio_signature("tok", plain, twice),
            switchboard_plugins::twilio_signature("tok", plain, fields));
  // Another port, path or token is another URL.
  EXPECT_FALSE(switchboard_plugins::twilio_signature_matches(
      "tok", plain, fields,
      switchboard_plugins::twilio_signature("tok", "https://hooks.example.com:8443/sms/status?x=1", fields)));
  EXPECT_FALSE(switchboard_plugins::twilio_signature_matches(
      "tok", plain, fields,
      switchboard_plugins::twilio_signature("tok", "https://hooks.example.com/sms/other?x=1", fields)));
  EXPECT_FALSE(switchboard_plugins::twilio_signature_matches(
      "tok", plain, fields, switchboard_plugins::twilio_signature("other", plain, fields)));
  EXPECT_FALSE(switchboard_plugins::twilio_signature_matches("tok", plain, fields, ""));
}

// An incoming message may carry MessageStatus=received beside SmsStatus: it
// is the message (its text, its sender, a STOP in it), not a report.
TEST(TwilioReport, AnIncomingMessageWithAMessageStatusIsReadAsTheMessage) {
  const sms::FormFields fields = {{"MessageSid", "SM4"}, {"SmsStatus", "received"}, {"MessageStatus", "received"},
                                  {"Body", "СТОП"},      {"From", "+79990001122"},  {"To", "+15005550006"}};
  EXPECT_FALSE(sms::twilio_report(fields));
  const auto events = sms::twilio_inbound(fields);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "message.received");
  EXPECT_EQ(events[0].payload["data"]["text"], "СТОП");
  EXPECT_EQ(events[0].payload["data"]["from"], "+79990001122");
  EXPECT_EQ(events[1].type, "contact.unsubscribed");
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
  EXPECT_EQ(report->payload["data"]["error_code"], 30003);  // as SMSC.ru's and WhatsApp's reports say it
  EXPECT_EQ(report->payload["data"]["error_title"], "Unreachable destination handset");
  EXPECT_FALSE(sms::twilio_report({{"CallSid", "CA1"}}));
}

TEST(TwilioInbound, AStopReplyOptsTheContactOutOfSms) {
  auto events = sms::twilio_inbound({{"MessageSid", "SM9"},
                                     {"SmsStatus", "received"},
                                     {"From", "+79990001122"},
                                     {"To", "+15017122661"},
                                     {"Body", " Стоп! "}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "message.received");
  EXPECT_EQ(events[0].payload["data"]["text"], " Стоп! ");
  EXPECT_EQ(events[1].type, "contact.unsubscribed");
  EXPECT_EQ(events[1].id, "opt:SM9");
  EXPECT_EQ(events[1].payload["contact"]["phones"][0]["number"], "+79990001122");
  EXPECT_EQ(events[1].payload["contact"]["preferences"], nlohmann::json::parse(R"({"sms": {"all": false}})"));
  EXPECT_EQ(events[1].payload["data"]["channel"], "sms");

  events = sms::twilio_inbound({{"MessageSid", "SM10"}, {"From", "+79990001122"}, {"Body", "START"}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, "contact.resubscribed");
  EXPECT_TRUE(events[1].payload["contact"]["preferences"]["sms"]["all"].is_null());  // the opt-out forgotten

  EXPECT_EQ(sms::twilio_inbound({{"MessageSid", "SM11"}, {"From", "+7999"}, {"Body", "stop sending me this?"}}).size(),
            1u);  // only the word itself
  EXPECT_TRUE(sms::twilio_inbound({{"MessageSid", "SM1"}, {"MessageStatus", "delivered"}, {"Body", "STOP"}}).empty());
}

TEST(OptReplies, AreTheKeywordsCarriersHonour) {
  using switchboard_plugins::OptReply;
  for (const char* out : {"STOP", "stop", "Stop.", "UNSUBSCRIBE", "СТОП", "стоп", "Отписаться", "ОТПИСКА"})
    EXPECT_EQ(switchboard_plugins::opt_reply(out), OptReply::kOut) << out;
  for (const char* in : {"START", "unstop", "Старт"})
    EXPECT_EQ(switchboard_plugins::opt_reply(in), OptReply::kIn) << in;
  for (const char* none : {"", "stopped", "не стоп", "Спасибо"})
    EXPECT_EQ(switchboard_plugins::opt_reply(none), OptReply::kNone) << none;
}

}  // namespace
