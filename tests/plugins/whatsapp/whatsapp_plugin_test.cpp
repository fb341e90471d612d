// The whatsapp plugin through the C ABI, against the Cloud API's wire format
// (paths, bearer auth, field names, error shapes as Meta documents them) and
// Meta's signed webhook.
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <switchboard/testing/fake_host.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

constexpr char kConfig[] = R"({"phone_number_id": "106540352242922", "access_token": "EAAG-token",
  "base_url": "http://127.0.0.1:9", "api_version": "v21.0", "default_country": "RU",
  "webhook": {"path": "wa", "verify_token": "verify-me", "app_secret": "app-secret"}})";

std::string sign(const std::string& secret, const std::string& body) {
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < length; ++i) out += {kHex[digest[i] >> 4], kHex[digest[i] & 15]};
  return out;
}

class WhatsAppPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"wa"};

  std::unique_ptr<fake::Instance> create(const std::string& config = kConfig) {
    auto instance = std::make_unique<fake::Instance>(library, host, config);
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }
  // Sends a template and answers it with `status` and `body`.
  fake::Result answered(int status, const std::string& body, const fake::Headers& headers = {}) {
    auto instance = create();
    EXPECT_EQ(instance->invoke("send_template", R"({"to": "+7 999 000-11-22", "template": "t", "language": "ru"})"),
              SB_OK);
    host.finish_http(host.sent.size() - 1, status, headers, body);
    return host.results.back();
  }
};

TEST_F(WhatsAppPluginTest, SendsATemplateAsTheCloudApiExpects) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_template", R"({"to": "8 (999) 000-11-22", "template": "order_update",
                                                  "language": "ru", "body_parameters": ["Иван", "42"]})"),
            SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);
  const fake::Sent& s = host.sent[0];
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.url, "http://127.0.0.1:9/v21.0/106540352242922/messages");
  EXPECT_EQ(s.header("Authorization"), "Bearer EAAG-token");
  EXPECT_EQ(s.header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(s.body), json::parse(R"({"messaging_product": "whatsapp", "recipient_type": "individual",
      "to": "79990001122", "type": "template", "template": {"name": "order_update", "language": {"code": "ru"},
      "components": [{"type": "body", "parameters": [{"type": "text", "text": "Иван"}, {"type": "text", "text": "42"}]}]}})"));
  host.finish_http(0, 200, {{"Content-Type", "application/json"}},
                   R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                       "messages":[{"id":"wamid.HBgLNzk5OTAwMDExMjIVAgARGBI"}]})");
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results[0].external_id, "wamid.HBgLNzk5OTAwMDExMjIVAgARGBI");
  EXPECT_EQ(json::parse(host.results[0].output_json)["wa_id"], "79990001122");
}

// A template from the gallery with all it may take: an image header, named
// body values, a quick reply's payload and a URL button's suffix, each at
// its index; what Meta would refuse is a broken rule, and nothing is sent.
TEST_F(WhatsAppPluginTest, SendsATemplatesHeaderNamedValuesAndButtons) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_template", R"({"to": "+79990001122", "template": "booking_reminder",
      "language": "ru", "header": {"image": {"url": "https://cdn.example.com/salon.jpg"}},
      "body_parameters": {"first_name": "Анна", "time": "10:30"},
      "buttons": [{"index": 0, "type": "quick_reply", "payload": "confirm-42"},
                  {"index": 2, "type": "url", "text": "booking/42"}]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(0).body)["template"], json::parse(R"({"name": "booking_reminder",
      "language": {"code": "ru"}, "components": [
      {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/salon.jpg"}}]},
      {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Анна"},
                                      {"type": "text", "parameter_name": "time", "text": "10:30"}]},
      {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "confirm-42"}]},
      {"type": "button", "sub_type": "url", "index": "2", "parameters": [{"type": "text", "text": "booking/42"}]}]})"));
  ASSERT_EQ(instance->invoke("send_template", R"({"to": "+79990001122", "template": "invoice", "language": "en_US",
      "header": {"document": {"media_id": "1013859600285441", "filename": "invoice-42.pdf"}},
      "buttons": [{"index": 1, "type": "copy_code", "coupon_code": "SALE25"}]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["template"]["components"], json::parse(R"([
      {"type": "header", "parameters": [{"type": "document", "document": {"id": "1013859600285441", "filename": "invoice-42.pdf"}}]},
      {"type": "button", "sub_type": "copy_code", "index": "1", "parameters": [{"type": "coupon_code", "coupon_code": "SALE25"}]}])"));
  ASSERT_EQ(instance->invoke("send_template", R"({"to": "+79990001122", "template": "visit", "language": "ru",
      "header": {"location": {"latitude": 55.7558, "longitude": 37.6173, "name": "Салон", "address": "Тверская, 1"}},
      "body_parameters": ["Анна"]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(2).body)["template"]["components"][0], json::parse(R"({"type": "header",
      "parameters": [{"type": "location", "location": {"latitude": 55.7558, "longitude": 37.6173, "name": "Салон",
                                                       "address": "Тверская, 1"}}]})"));
  const size_t sent = host.sent.size();
  const std::pair<const char*, const char*> broken[] = {
      {R"("header": {"image": {"url": "https://x/a.jpg", "media_id": "1"}})", "'url' or its uploaded 'media_id'"},
      {R"("header": {"text": "a", "image": {"url": "https://x/a.jpg"}})", "'header' must name one value"},
      {R"("header": {"image": {"url": "https://x/a.jpg", "filename": "a.jpg"}})", "goes with a document"},
      {R"("body_parameters": {"First Name": "Анна"})", "lower-case letters, digits and underscores"},
      {R"("buttons": [{"index": 0, "type": "quick_reply", "payload": "a"}, {"index": 0, "type": "url", "text": "b"}])",
       "index 0 is given twice"},
      {R"("buttons": [{"index": 1, "type": "url"}])", "a url with its 'text'"},
      {R"("buttons": [{"index": 1, "type": "copy_code", "coupon_code": "ЭТОТКОДДЛИННЕЕ15"}])", "at most 15 characters"},
  };
  for (const auto& [extra, expected] : broken) {
    SCOPED_TRACE(extra);
    const std::string params =
        std::string(R"({"to": "+79990001122", "template": "t", "language": "ru", )") + extra + "}";
    ASSERT_EQ(instance->invoke("send_template", params), SB_OK);
    EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);
    EXPECT_NE(host.results.back().reason.find(expected), std::string::npos) << host.results.back().reason;
  }
  EXPECT_EQ(host.sent.size(), sent);
}

// A chat message with a file (the reference CRMs' attachments): a document
// by link with its name and caption, an image by an uploaded id; what the
// Cloud API would refuse is a broken rule, and nothing is sent.
TEST_F(WhatsAppPluginTest, SendsADocumentOrAnImageAsTheCloudApiExpects) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_media", R"({"to": "+79990001122", "media": "document",
      "url": "https://crm.example.com/files/invoice-42.pdf", "filename": "Счёт 42.pdf", "caption": "Ваш счёт"})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(0).body), json::parse(R"({"messaging_product": "whatsapp",
      "recipient_type": "individual", "to": "79990001122", "type": "document", "document": {
      "link": "https://crm.example.com/files/invoice-42.pdf", "filename": "Счёт 42.pdf", "caption": "Ваш счёт"}})"));
  ASSERT_EQ(
      instance->invoke("send_media", R"({"to": "+79990001122", "media": "image", "media_id": "1013859600285441"})"),
      SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["image"], json::parse(R"({"id": "1013859600285441"})"));
  for (const char* broken :
       {R"({"to": "+79990001122", "media": "audio", "url": "https://a.test/a.mp3", "caption": "x"})",
        R"({"to": "+79990001122", "media": "image", "url": "https://a.test/a.png", "filename": "a.png"})",
        R"({"to": "+79990001122", "media": "image", "url": "https://a.test/a.png", "media_id": "1"})",
        R"({"to": "+79990001122", "media": "gif", "url": "https://a.test/a.gif"})"}) {
    host.results.clear();
    ASSERT_EQ(instance->invoke("send_media", broken), SB_OK);
    ASSERT_EQ(host.results.size(), 1u) << broken;
    EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_INVALID_PARAMS) << broken;
  }
  EXPECT_EQ(host.sent.size(), 2u);
}

// "Confirm your visit?" with the reference CRMs' quick replies: reply
// buttons and a list, as the Cloud API expects them; what Meta would refuse
// (a fourth button, a title too long, two alike, a list of 11 rows, several
// sections without titles) fails the step as a broken rule, and nothing is sent.
TEST_F(WhatsAppPluginTest, SendsReplyButtonsAndListsAsTheCloudApiExpects) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_buttons", R"({"to": "+79990001122", "text": "Подтвердите запись на завтра, 10:00",
      "header": "Салон «Ромашка»", "footer": "Ответьте кнопкой",
      "buttons": ["Подтверждаю", {"id": "cancel", "title": "Отменить запись"}]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(0).body), json::parse(R"({"messaging_product": "whatsapp",
      "recipient_type": "individual", "to": "79990001122", "type": "interactive", "interactive": {
      "type": "button", "header": {"type": "text", "text": "Салон «Ромашка»"},
      "body": {"text": "Подтвердите запись на завтра, 10:00"}, "footer": {"text": "Ответьте кнопкой"},
      "action": {"buttons": [{"type": "reply", "reply": {"id": "Подтверждаю", "title": "Подтверждаю"}},
                             {"type": "reply", "reply": {"id": "cancel", "title": "Отменить запись"}}]}}})"));
  ASSERT_EQ(instance->invoke("send_list", R"({"to": "+79990001122", "text": "Выберите время", "button": "Время",
      "sections": [{"title": "Утро", "rows": [{"id": "t10", "title": "10:00", "description": "мастер Анна"}, "11:00"]},
                   {"title": "Вечер", "rows": ["18:00"]}]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["interactive"], json::parse(R"({"type": "list",
      "body": {"text": "Выберите время"}, "action": {"button": "Время", "sections": [
      {"title": "Утро", "rows": [{"id": "t10", "title": "10:00", "description": "мастер Анна"},
                                 {"id": "11:00", "title": "11:00"}]},
      {"title": "Вечер", "rows": [{"id": "18:00", "title": "18:00"}]}]}})"));
  ASSERT_EQ(instance->invoke("send_list", R"({"to": "+79990001122", "text": "Когда?", "button": "Выбрать",
      "rows": ["Сегодня", "Завтра"]})"),
            SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(2).body)["interactive"]["action"]["sections"],
            json::parse(R"([{"rows": [{"id": "Сегодня", "title": "Сегодня"}, {"id": "Завтра", "title": "Завтра"}]}])"));
  json eleven = json::array();
  for (int i = 0; i < 11; ++i) eleven.push_back("row " + std::to_string(i));
  for (const auto& [action, broken] : std::vector<std::pair<std::string, json>>{
           {"send_buttons", {{"to", "+79990001122"}, {"text", "?"}, {"buttons", {"a", "b", "c", "d"}}}},
           {"send_buttons", {{"to", "+79990001122"}, {"text", "?"}, {"buttons", {"Двадцать один символ!"}}}},
           {"send_buttons", {{"to", "+79990001122"}, {"text", "?"}, {"buttons", {"Да", "Да"}}}},
           {"send_buttons", {{"to", "+79990001122"}, {"text", "?"}, {"buttons", {{{"id", " x"}, {"title", "X"}}}}}},
           {"send_buttons", {{"to", "+79990001122"}, {"buttons", {"Да"}}}},
           {"send_list", {{"to", "+79990001122"}, {"text", "?"}, {"button", "Открыть"}, {"rows", eleven}}},
           {"send_list", {{"to", "+79990001122"}, {"text", "?"}, {"rows", {"a"}}}},
           {"send_list",
            {{"to", "+79990001122"},
             {"text", "?"},
             {"button", "Открыть"},
             {"sections", {{{"rows", {"a"}}}, {{"rows", {"b"}}}}}}},
           {"send_list", {{"to", "+79990001122"}, {"text", "?"}, {"button", "Открыть"}, {"rows", {"a", "a"}}}}}) {
    host.results.clear();
    ASSERT_EQ(instance->invoke(action, broken.dump()), SB_OK);
    ASSERT_EQ(host.results.size(), 1u) << broken;
    EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_INVALID_PARAMS) << broken;
  }
  EXPECT_EQ(host.sent.size(), 3u);
}

TEST_F(WhatsAppPluginTest, SendsText) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "+79990001122", "text": "Здравствуйте!"})"), SB_OK);
  EXPECT_EQ(json::parse(host.sent.at(0).body),
            json::parse(R"({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "79990001122",
                            "type": "text", "text": {"preview_url": false, "body": "Здравствуйте!"}})"));
}

// A reply quotes the person's message (Meta's context.message_id), whatever
// the kind of message; a read receipt is a status posted to the same path.
TEST_F(WhatsAppPluginTest, ARepliesQuotesAndAReadReceiptMarksAMessageRead) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "+79990001122", "text": "Да, есть", "reply_to": "wamid.IN1"})"),
            SB_OK);
  ASSERT_EQ(instance->invoke("send_media", R"({"to": "+79990001122", "media": "image", "url": "https://x/a.png",
                                               "reply_to": "wamid.IN2"})"),
            SB_OK);
  ASSERT_EQ(host.sent.size(), 2u);
  EXPECT_EQ(json::parse(host.sent[0].body)["context"], json::parse(R"({"message_id": "wamid.IN1"})"));
  EXPECT_EQ(json::parse(host.sent[0].body)["text"]["body"], "Да, есть");
  EXPECT_EQ(json::parse(host.sent[1].body)["context"]["message_id"], "wamid.IN2");
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "+79990001122", "text": "x", "reply_to": 5})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);

  ASSERT_EQ(instance->invoke("mark_read", R"({"message_id": "wamid.IN1"})"), SB_OK);
  ASSERT_EQ(host.sent.size(), 3u);
  EXPECT_EQ(host.sent[2].url, "http://127.0.0.1:9/v21.0/106540352242922/messages");
  EXPECT_EQ(host.sent[2].header("Authorization"), "Bearer EAAG-token");
  EXPECT_EQ(json::parse(host.sent[2].body),
            json::parse(R"({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})"));
  host.finish_http(2, 200, {}, R"({"success": true})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results.back().external_id, "");
  EXPECT_EQ(json::parse(host.results.back().output_json), json::parse(R"({"read": true})"));
  ASSERT_EQ(instance->invoke("mark_read", R"({"message_id": "wamid.gone"})"), SB_OK);
  host.finish_http(3, 400, {}, R"({"error":{"message":"Invalid parameter","code":100}})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  ASSERT_EQ(instance->invoke("mark_read", R"({"message_id": "wamid.IN3"})"), SB_OK);
  host.finish_http(4, 200, {}, R"({"success": false})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  ASSERT_EQ(instance->invoke("mark_read", R"({})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.sent.size(), 5u);

  // A dry run writes the receipt to the outbox; it sends no message, so it has no id.
  auto dry = create(R"({"dry_run": true})");
  ASSERT_EQ(dry->invoke("mark_read", R"({"message_id": "wamid.IN1"})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results.back().external_id, "");
  EXPECT_EQ(json::parse(host.outbox.back())["body"]["status"], "read");
  EXPECT_EQ(host.sent.size(), 5u);
}

TEST_F(WhatsAppPluginTest, ErrorsAreMappedByMetasCode) {
  auto rate = answered(400, R"({"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
      "error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},
      "fbtrace_id":"A1"}})",
                       {{"Retry-After", "30"}});
  EXPECT_EQ(rate.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(rate.retry_after_s, 30u);
  EXPECT_EQ(rate.provider_code, "130429");
  EXPECT_EQ(rate.reason, "(#130429) Rate limit hit: Cloud API message throughput has been reached.");

  // A throttling error too: the number's limit comes back.
  auto spam_limit = answered(400, R"({"error":{"message":"(#131048) Spam rate limit hit","type":"OAuthException",
      "code":131048,"fbtrace_id":"A2"}})");
  EXPECT_EQ(spam_limit.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(spam_limit.provider_code, "131048");

  auto undeliverable = answered(400, R"({"error":{"message":"Message Undeliverable.","code":131026}})");
  EXPECT_EQ(undeliverable.outcome, SB_OUTCOME_PERMANENT);  // a fallback moves on
  EXPECT_EQ(undeliverable.provider_code, "131026");

  auto not_approved = answered(400, R"({"error":{"message":"(#132001) Template name does not exist in the translation",
      "type":"OAuthException","code":132001}})");
  EXPECT_EQ(not_approved.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(not_approved.provider_code, "132001");
  EXPECT_EQ(not_approved.reason, "(#132001) Template name does not exist in the translation");

  auto window = answered(400, R"({"error":{"message":"Re-engagement message","code":131047}})");
  EXPECT_EQ(window.outcome, SB_OUTCOME_PERMANENT);

  EXPECT_EQ(answered(503, "upstream down").outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(answered(401, R"({"error":{"message":"Error validating access token","code":190}})").outcome,
            SB_OUTCOME_PERMANENT);
}

TEST_F(WhatsAppPluginTest, OddAnswersNeitherThrowNorSendTwice) {
  // Accepted with a body we cannot read: done (a retry would send it again).
  EXPECT_EQ(answered(200, R"({"messages": "?", "contacts": [7]})").outcome, SB_OUTCOME_DONE);
  auto odd_error = answered(400, R"({"error": {"code": "x", "message": 5, "error_data": []}})");
  EXPECT_EQ(odd_error.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(odd_error.reason, "HTTP 400");
}

// Without "to" (the reference CRMs' automatic choice) the message goes to
// the contact's first number, or, as "to": {"type": "mobile", "pick":
// "last"}, to the one named; a contact without one is unreachable there, so
// a fallback moves on. A "to" of another shape is a broken rule.
TEST_F(WhatsAppPluginTest, WithoutARecipientTheContactsNumberIsTaken) {
  auto instance = create();
  const std::string subject =
      R"({"contact": {"id": "c1", "phones": [{"number": "+7 999 000-11-22", "type": "work"},
                                              {"number": "89990003344", "type": "mobile"}]}})";
  ASSERT_EQ(instance->invoke("send_text", R"({"text": "x"})", "k1", 0, subject), SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);
  EXPECT_EQ(json::parse(host.sent.at(0).body)["to"], "79990001122");
  ASSERT_EQ(instance->invoke("send_text", R"({"to": {"type": "mobile"}, "text": "x"})", "k2", 0, subject), SB_OK);
  ASSERT_EQ(host.sent.size(), 2u);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["to"], "79990003344");
  ASSERT_EQ(instance->invoke("send_text", R"({"text": "x"})", "k3", 0, R"({"contact": {"id": "c2"}})"), SB_OK);
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_UNREACHABLE);
  ASSERT_EQ(instance->invoke("send_text", R"({"to": 7, "text": "x"})", "k4", 0, subject), SB_OK);
  EXPECT_EQ(host.results.at(1).outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.sent.size(), 2u);
}

TEST_F(WhatsAppPluginTest, ATransportErrorRetries) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "+79990001122", "text": "x"})"), SB_OK);
  host.finish_http(0, 0, {}, "", "connection refused");
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_RETRY);
}

TEST_F(WhatsAppPluginTest, AnInvalidNumberIsUnreachableWithoutARequest) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "12", "text": "x"})"), SB_OK);
  EXPECT_TRUE(host.sent.empty());
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(host.results.at(0).reason, "'12' is not a valid phone number");
}

TEST_F(WhatsAppPluginTest, DryRunWritesTheMessageToTheOutbox) {
  auto instance = create(R"({"dry_run": true, "default_country": "RU"})");
  ASSERT_EQ(instance->invoke("send_text", R"({"to": "89990001122", "text": "hi"})", "e1:r:0"), SB_OK);
  EXPECT_TRUE(host.sent.empty());
  ASSERT_EQ(host.outbox.size(), 1u);
  const json record = json::parse(host.outbox[0]);
  EXPECT_EQ(record["channel"], "whatsapp");
  EXPECT_EQ(record["body"]["to"], "79990001122");
  EXPECT_EQ(record["idempotency_key"], "e1:r:0");
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_DONE);
  // A message id of its own: a rehearsed report resumes this message's wait only.
  EXPECT_EQ(host.results.at(0).external_id, "dry-run:e1:r:0");
}

TEST_F(WhatsAppPluginTest, ConfigWithoutCredentialsIsRefused) {
  fake::Instance instance(library, host, R"({"phone_number_id": "1"})");
  EXPECT_NE(instance.status(), SB_OK);
  EXPECT_EQ(instance.error(), "'phone_number_id' and 'access_token' are required unless 'dry_run' is true");
}

TEST_F(WhatsAppPluginTest, TheHandshakeAnswersTheChallengeOnlyForOurToken) {
  auto instance = create();
  const uint64_t ok =
      host.request("GET", {}, "", "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444");
  EXPECT_EQ(host.responses.at(ok).status, 200);
  EXPECT_EQ(host.responses.at(ok).content_type, "text/plain");
  EXPECT_EQ(host.responses.at(ok).body, "1158201444");
  const uint64_t wrong = host.request("GET", {}, "", "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1");
  EXPECT_EQ(host.responses.at(wrong).status, 403);
  // Nothing to echo: not Meta's handshake.
  const uint64_t blank = host.request("GET", {}, "", "hub.mode=subscribe&hub.verify_token=verify-me");
  EXPECT_EQ(host.responses.at(blank).status, 400);
}

// Signed, but not the shape Meta sends: nothing emitted, and said in the log.
TEST_F(WhatsAppPluginTest, ASignedPayloadNotShapedAsMetasIsLoggedAndReadAsNothing) {
  auto instance = create();
  for (const std::string body :
       {R"({"object":"whatsapp_business_account","entry":"x"})", R"({"object":"page"})", R"({"object":1})"}) {
    const uint64_t id = host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
    EXPECT_EQ(host.responses.at(id).status, 200);
  }
  EXPECT_TRUE(host.emitted.empty());
  ASSERT_EQ(host.warnings.size(), 3u);
  EXPECT_EQ(host.warnings[0], "whatsapp webhook payload not read");
  EXPECT_EQ(host.counters["whatsapp_webhook_unread_total"], 3);
}

TEST_F(WhatsAppPluginTest, AcceptsMetasPublicSignatureVector) {
  // Key "secret", body "test": the public example. The signature passes; the
  // body is then refused for not being a JSON object, not for its signature.
  auto instance =
      create(R"({"dry_run": true, "webhook": {"path": "wa", "verify_token": "v", "app_secret": "secret"}})");
  const uint64_t id = host.request(
      "POST", {{"X-Hub-Signature-256", "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"}},
      "test");
  EXPECT_EQ(host.responses.at(id).status, 400);
  EXPECT_EQ(sign("secret", "test"), "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914");
}

const char kStatuses[] = R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
  "value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},
  "statuses":[{"id":"wamid.A","status":"delivered","timestamp":"1668595349","recipient_id":"79990001122"},
              {"id":"wamid.A","status":"read","timestamp":"1668595350","recipient_id":"79990001122"},
              {"id":"wamid.B","status":"failed","timestamp":"1668595351","recipient_id":"79990001133",
               "errors":[{"code":131026,"title":"Message undeliverable"}]}]}}]}]})";

TEST_F(WhatsAppPluginTest, SignedStatusReportsBecomeMessageEvents) {
  auto instance = create();
  const uint64_t id = host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", kStatuses)}}, kStatuses);
  ASSERT_EQ(host.emitted.size(), 3u);
  EXPECT_EQ(host.emitted[0].type, "message.delivered");
  EXPECT_EQ(host.emitted[0].id, "wamid.A:delivered");
  EXPECT_EQ(host.emitted[1].type, "message.read");
  EXPECT_EQ(host.emitted[0].wait, SB_EMIT_WAIT_ACCEPTED);
  const json read = json::parse(host.emitted[1].payload);
  EXPECT_EQ(read["data"]["message_id"], "wamid.A");
  EXPECT_EQ(read["contact"]["phones"][0]["number"], "+79990001122");
  EXPECT_EQ(read["time"], "2022-11-16T10:42:30Z");  // Meta's timestamp, not when the report came
  const json failed = json::parse(host.emitted[2].payload);
  EXPECT_EQ(failed["data"]["errors"][0]["code"], 131026);
  // The first error as a rule reads it.
  EXPECT_EQ(failed["data"]["error_code"], 131026);
  EXPECT_EQ(failed["data"]["error_title"], "Message undeliverable");
  // Answered only once the host took every event.
  EXPECT_EQ(host.responses.count(id), 0u);
  host.finish_emit(0, SB_OK, "wamid.A:delivered");
  host.finish_emit(1, SB_OK, "wamid.A:read");
  EXPECT_EQ(host.responses.count(id), 0u);
  host.finish_emit(2, SB_OK, "wamid.B:failed");
  EXPECT_EQ(host.responses.at(id).status, 200);
}

// A call's statuses come under the field "calls": they are no message's.
TEST_F(WhatsAppPluginTest, OnlyTheMessagesFieldBecomesMessageEvents) {
  auto instance = create();
  const std::string calls =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"calls",
      "value":{"messaging_product":"whatsapp","statuses":[{"id":"wacid.X","status":"RINGING","timestamp":"1668595349",
      "recipient_id":"79990001122"}]}}]}]})";
  const uint64_t id = host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", calls)}}, calls);
  EXPECT_TRUE(host.emitted.empty());
  EXPECT_EQ(host.responses.at(id).status, 200);
}

TEST_F(WhatsAppPluginTest, ARedeliveryHasTheSameEventIds) {
  // Meta retries a delivery it got no 200 for: the ids make the repeat a duplicate.
  auto instance = create();
  const fake::Headers signed_headers = {{"X-Hub-Signature-256", sign("app-secret", kStatuses)}};
  const uint64_t first = host.request("POST", signed_headers, kStatuses);
  host.finish_emit(0, SB_ERR_UNAVAILABLE, "", "store full");
  host.finish_emit(1, SB_OK, "wamid.A:read");
  host.finish_emit(2, SB_OK, "wamid.B:failed");
  EXPECT_EQ(host.responses.at(first).status, 503);
  host.request("POST", signed_headers, kStatuses);
  ASSERT_EQ(host.emitted.size(), 6u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(host.emitted[i + 3].id, host.emitted[i].id);
}

TEST_F(WhatsAppPluginTest, BadOrMissingSignaturesAreRefusedAndNothingIsEmitted) {
  auto instance = create();
  const uint64_t missing = host.request("POST", {}, kStatuses);
  EXPECT_EQ(host.responses.at(missing).status, 401);
  const uint64_t wrong_key =
      host.request("POST", {{"X-Hub-Signature-256", sign("not-the-secret", kStatuses)}}, kStatuses);
  EXPECT_EQ(host.responses.at(wrong_key).status, 401);
  // Signed, then changed on the way.
  std::string tampered = kStatuses;
  tampered.replace(tampered.find("read"), 4, "sent");
  const uint64_t changed = host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", kStatuses)}}, tampered);
  EXPECT_EQ(host.responses.at(changed).status, 401);
  EXPECT_TRUE(host.emitted.empty());
  EXPECT_EQ(host.responses.at(changed).body.find("app-secret"), std::string::npos);
}

// Meta's "errors" messages webhook: an error of the account or the app, of
// no message. It is an event of its own, with no id (nothing in it tells
// one occurrence from the next).
TEST_F(WhatsAppPluginTest, AnAccountErrorIsAWhatsAppErrorEvent) {
  auto instance = create();
  EXPECT_NE(std::find(host.declared.begin(), host.declared.end(), "whatsapp.error"), host.declared.end());
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"1065"},
    "errors":[{"code":130429,"title":"Rate limit hit","message":"(#130429) Rate limit hit",
               "error_data":{"details":"Cloud API message throughput has been reached."},
               "href":"/docs/whatsapp/cloud-api/support/error-codes/"}]}}]}]})";
  const uint64_t id = host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "whatsapp.error");
  EXPECT_EQ(host.emitted[0].id, "");
  const json data = json::parse(host.emitted[0].payload)["data"];
  EXPECT_EQ(data["error_code"], 130429);
  EXPECT_EQ(data["error_title"], "Rate limit hit");
  EXPECT_EQ(data["error_details"], "Cloud API message throughput has been reached.");
  EXPECT_EQ(data["error"]["href"], "/docs/whatsapp/cloud-api/support/error-codes/");
  host.finish_emit(0, SB_OK, "generated");
  EXPECT_EQ(host.responses.at(id).status, 200);
}

// What is not text keeps what Meta sent of it: a photo's media id and
// caption, a location's coordinates; a reaction is a reply to the message it
// is on.
TEST_F(WhatsAppPluginTest, MediaLocationsAndReactionsKeepTheirContent) {
  auto instance = create();
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"}],
    "messages":[{"from":"79990001122","id":"wamid.P1","timestamp":"1","type":"image",
                 "image":{"caption":"Вот чек","mime_type":"image/jpeg","sha256":"abc=","id":"1013859600285441"}},
                {"from":"79990001122","id":"wamid.L1","timestamp":"2","type":"location",
                 "location":{"latitude":55.75,"longitude":37.61,"name":"Офис","address":"Москва"}},
                {"from":"79990001122","id":"wamid.R1","timestamp":"3","type":"reaction",
                 "reaction":{"message_id":"wamid.A","emoji":"👍"}},
                {"from":"79990001122","id":"wamid.R2","timestamp":"5","type":"reaction",
                 "reaction":{"message_id":"wamid.A"}},
                {"from":"79990001122","id":"wamid.D1","timestamp":"4","type":"document",
                 "document":{"filename":"dogovor.pdf","mime_type":"application/pdf","id":"77"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 4u);  // a reaction taken back (no emoji) says nothing
  const json photo = json::parse(host.emitted[0].payload)["data"];
  EXPECT_EQ(host.emitted[0].type, "message.received");
  EXPECT_EQ(photo["type"], "image");
  EXPECT_EQ(photo["media"]["id"], "1013859600285441");
  EXPECT_EQ(photo["media"]["mime_type"], "image/jpeg");
  EXPECT_EQ(photo["text"], "Вот чек");
  const json place = json::parse(host.emitted[1].payload)["data"];
  EXPECT_EQ(place["location"]["latitude"], 55.75);
  EXPECT_EQ(place["location"]["address"], "Москва");
  EXPECT_EQ(host.emitted[2].type, "message.replied");
  const json reaction = json::parse(host.emitted[2].payload)["data"];
  EXPECT_EQ(reaction["reaction"], "👍");
  EXPECT_EQ(reaction["in_reply_to"], "wamid.A");
  const json file = json::parse(host.emitted[3].payload)["data"];
  EXPECT_EQ(file["media"]["filename"], "dogovor.pdf");
  EXPECT_FALSE(file.contains("text"));
}

TEST_F(WhatsAppPluginTest, InboundMessagesAreRepliesWhenTheyQuoteOurs) {
  auto instance = create();
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"}],
    "messages":[{"from":"79990001122","id":"wamid.IN1","timestamp":"1","type":"text","text":{"body":"ДА"},
                 "context":{"from":"15550001111","id":"wamid.A"}},
                {"from":"79990001122","id":"wamid.IN2","timestamp":"2","type":"text","text":{"body":"привет"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[0].type, "message.replied");
  const json reply = json::parse(host.emitted[0].payload);
  EXPECT_EQ(reply["data"]["in_reply_to"], "wamid.A");
  EXPECT_EQ(reply["data"]["text"], "ДА");
  EXPECT_EQ(reply["contact"]["name"], "Иван");
  EXPECT_EQ(host.emitted[1].type, "message.received");
}

// One delivery may carry several senders' messages: each is named by its own
// contacts entry (its wa_id), not by the first.
TEST_F(WhatsAppPluginTest, EachSenderOfABatchHasTheirOwnName) {
  auto instance = create();
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"},
                                                       {"profile":{"name":"Мария"},"wa_id":"79990003344"}],
    "messages":[{"from":"79990003344","id":"wamid.M1","timestamp":"1","type":"text","text":{"body":"Здравствуйте"}},
                {"from":"79990001122","id":"wamid.I1","timestamp":"2","type":"text","text":{"body":"привет"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(json::parse(host.emitted[0].payload)["contact"]["name"], "Мария");
  EXPECT_EQ(json::parse(host.emitted[1].payload)["contact"]["name"], "Иван");
  // One entry for two senders: it names neither of them rather than the wrong one.
  const std::string lone =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"7999000112"}],
    "messages":[{"from":"79990003344","id":"wamid.M2","timestamp":"3","type":"text","text":{"body":"a"}},
                {"from":"79990001122","id":"wamid.I2","timestamp":"4","type":"text","text":{"body":"b"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", lone)}}, lone);
  ASSERT_EQ(host.emitted.size(), 4u);
  EXPECT_FALSE(json::parse(host.emitted[2].payload)["contact"].contains("name"));
  EXPECT_FALSE(json::parse(host.emitted[3].payload)["contact"].contains("name"));
}

TEST_F(WhatsAppPluginTest, AStopReplyOptsTheContactOutOfWhatsApp) {
  auto instance = create();
  EXPECT_NE(std::find(host.declared.begin(), host.declared.end(), "contact.unsubscribed"), host.declared.end());
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"}],
    "messages":[{"from":"79990001122","id":"wamid.IN3","timestamp":"3","type":"text","text":{"body":"СТОП"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[0].type, "message.received");
  EXPECT_EQ(host.emitted[1].type, "contact.unsubscribed");
  EXPECT_EQ(host.emitted[1].id, "opt:wamid.IN3");
  const json optout = json::parse(host.emitted[1].payload);
  EXPECT_EQ(optout["contact"]["preferences"], json::parse(R"({"whatsapp": {"all": false}})"));
  EXPECT_EQ(optout["data"]["keyword"], "СТОП");
}

// A tapped quick-reply button or list row (type "interactive") says its
// title: a rule reads it as the reply's text. A button titled "Cancel"
// answers the message it is on (a booking cancelled); one titled "STOP"
// opts the person out, as the word typed does.
TEST_F(WhatsAppPluginTest, ATappedReplyButtonOrListRowIsTheReplysText) {
  auto instance = create();
  const std::string body =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"}],
    "messages":[{"from":"79990001122","id":"wamid.B1","timestamp":"4","type":"interactive",
                 "interactive":{"type":"button_reply","button_reply":{"id":"confirm","title":"Подтверждаю"}},
                 "context":{"from":"15550001111","id":"wamid.A"}},
                {"from":"79990001122","id":"wamid.B2","timestamp":"5","type":"interactive",
                 "interactive":{"type":"list_reply","list_reply":{"id":"slot-2","title":"Завтра 10:00",
                                                                  "description":"Утро"}}},
                {"from":"79990001122","id":"wamid.B3","timestamp":"6","type":"interactive",
                 "interactive":{"type":"button_reply","button_reply":{"id":"cancel_booking","title":"Cancel"}}},
                {"from":"79990001122","id":"wamid.B5","timestamp":"8","type":"interactive",
                 "interactive":{"type":"button_reply","button_reply":{"id":"stop","title":"STOP"}}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", body)}}, body);
  ASSERT_EQ(host.emitted.size(), 5u);
  EXPECT_EQ(host.emitted[3].type, "message.received");
  EXPECT_EQ(host.emitted[4].type, "contact.unsubscribed");
  EXPECT_EQ(host.emitted[0].type, "message.replied");
  const json button = json::parse(host.emitted[0].payload);
  EXPECT_EQ(button["data"]["text"], "Подтверждаю");
  EXPECT_EQ(button["data"]["reply_id"], "confirm");
  const json row = json::parse(host.emitted[1].payload);
  EXPECT_EQ(row["data"]["text"], "Завтра 10:00");
  EXPECT_EQ(row["data"]["reply_id"], "slot-2");
  EXPECT_EQ(host.emitted[2].type, "message.received");
  EXPECT_EQ(json::parse(host.emitted[2].payload)["data"]["reply_id"], "cancel_booking");
  // A template's quick reply: its payload is the reply's id.
  const std::string quick =
      R"({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Иван"},"wa_id":"79990001122"}],
    "messages":[{"from":"79990001122","id":"wamid.B4","timestamp":"7","type":"button",
                 "button":{"payload":"confirm-42","text":"Подтверждаю"},
                 "context":{"from":"15550001111","id":"wamid.T"}}]}}]}]})";
  host.request("POST", {{"X-Hub-Signature-256", sign("app-secret", quick)}}, quick);
  ASSERT_EQ(host.emitted.size(), 6u);
  EXPECT_EQ(host.emitted[5].type, "message.replied");
  const json tapped = json::parse(host.emitted[5].payload);
  EXPECT_EQ(tapped["data"]["text"], "Подтверждаю");
  EXPECT_EQ(tapped["data"]["reply_id"], "confirm-42");
  EXPECT_EQ(tapped["data"]["in_reply_to"], "wamid.T");
  EXPECT_EQ(tapped["time"], "1970-01-01T00:00:07Z");
}

}  // namespace
