// Email through the host: a status change sends a confirmation to a real
// SMTP server (aiosmtpd with the test CA); tracked opens, clicks and the
// one-click unsubscribe come back through /t/ as events that rules wait for
// and that every later marketing message honours.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "integration/test_support.h"
#include "plugins/email/smtp_server.h"
#include "support/closed_port.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "email-e2e-token-7c1d";
constexpr char kAdmin[] = "email-e2e-admin-2b9f";
constexpr char kBase[] = "http://sb.test";

json base_config(json instances, json rules) {
  ::setenv("SB_TEST_EMAIL_TOKEN", kToken, 1);
  ::setenv("SB_TEST_EMAIL_ADMIN", kAdmin, 1);
  ::setenv("SB_TEST_SMTP_PASSWORD", "s3cret", 1);
  return json{{"plugin_dirs", {SB_PLUGIN_DIR}},
              {"secrets",
               {{"events", {{"env", "SB_TEST_EMAIL_TOKEN"}}},
                {"admin", {{"env", "SB_TEST_EMAIL_ADMIN"}}},
                {"smtp_password", {{"env", "SB_TEST_SMTP_PASSWORD"}}}}},
              {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
              {"tracking", {{"base_url", kBase}}},
              {"instances", std::move(instances)},
              {"rules", std::move(rules)}};
}

void post(const HostProcess& host, const json& event) {
  const HttpResult r = http_request(host.port(), "POST", "/api/v1/events", event.dump(),
                                    {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(r.status, 202) << r.body;
}

// The path of the first `prefix` link in `html` ("/t/o/...").
std::string link_path(const std::string& html, const std::string& prefix) {
  const size_t at = html.find(std::string(kBase) + prefix);
  if (at == std::string::npos) return "";
  const size_t start = at + std::string(kBase).size();
  return html.substr(start, html.find('"', start) - start);
}

json admin(const HostProcess& host, const std::string& path) {
  return http_request(host.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdmin}}).json();
}

json contact_event(const std::string& id, const std::string& type) {
  return {{"id", id},
          {"type", type},
          {"contact", {{"id", "C1"}, {"name", "Мария"}, {"emails", {{{"address", "maria@example.com"}}}}}}};
}

// HolliHop: the lead enters "Ждет начала занятий" and gets a confirmation.
TEST(EmailEndToEnd, ALeadWaitingForClassesGetsAConfirmationWithACyrillicSubject) {
  test_smtp::SmtpServer smtp;
  json instances = {{"email",
                     {{"plugin", "email"},
                      {"config",
                       {{"smtp",
                         {{"host", "localhost"},
                          {"port", smtp.starttls},
                          {"username", "mailer"},
                          {"password", {{"$secret", "smtp_password"}}},
                          {"ca_file", std::string(SB_TEST_CA_DIR) + "/ca.pem"}}},
                        {"from", "Школа «Полиглот» <info@school.test>"}}}}}};
  json rules = json::parse(R"([{"name": "confirmation", "category": "transactional",
      "trigger": {"entity": "lead", "status": "Ждет начала занятий"},
      "steps": [{"action": "email.send", "params": {"to": {"type": "any"},
        "subject": "{{contact.name}}, вы записаны на занятия",
        "html": "<p>Здравствуйте, {{contact.name}}!</p><p>Ждём вас на первом занятии.</p>"}}]}])");
  json config = base_config(instances, rules);
  config["pipelines"] = {{"students", {"Первичный контакт", "Ждет начала занятий", "Учится", "Отказ"}}};
  HostProcess host(config);
  post(host, {{"id", "lead-1"},
              {"type", "lead.status_changed"},
              {"entity", {{"type", "lead"}, {"id", "L1"}, {"pipeline", "students"}, {"status", "Ждет начала занятий"}}},
              {"contact", {{"id", "S1"}, {"name", "Пётр <b>"}, {"emails", {{{"address", "petr@example.com"}}}}}}});
  const json m = smtp.message(1);
  ASSERT_TRUE(m.is_object()) << host.log();
  EXPECT_TRUE(m["tls"]);
  EXPECT_EQ(m["headers"]["Subject"], "Пётр <b>, вы записаны на занятия");
  EXPECT_EQ(m["headers"]["To"], "\"Пётр <b>\" <petr@example.com>");
  EXPECT_EQ(m["headers"]["From"], "Школа «Полиглот» <info@school.test>");
  EXPECT_FALSE(m["headers"].contains("List-Unsubscribe"));  // transactional
  ASSERT_EQ(m["parts"].size(), 2u);
  EXPECT_EQ(m["parts"][0]["content"], "Здравствуйте, Пётр <b>!\r\n\r\nЖдём вас на первом занятии.");
  // Escaped in the HTML part; tracked: an open pixel at the end.
  const std::string html = m["parts"][1]["content"];
  EXPECT_NE(html.find("Здравствуйте, Пётр &lt;b&gt;!"), std::string::npos) << html;
  EXPECT_NE(html.find(std::string(kBase) + "/t/o/"), std::string::npos) << html;
}

// HolliHop: a lead that says no ("Отказ") moves from the welcome list to the win-back list.
TEST(EmailEndToEnd, ARefusedLeadMovesFromTheWelcomeListToTheWinBackList) {
  HttpSink unisender(200, R"({"result":{}})");
  unisender.answer("/ru/api/subscribe", 200, R"({"result":{"person_id":77}})");
  ::setenv("SB_TEST_UNISENDER_KEY", "uni-e2e-key", 1);
  json instances = {{"lists",
                     {{"plugin", "unisender"},
                      {"config",
                       {{"api_key", {{"$secret", "unisender_key"}}},
                        {"base_url", unisender.url()},
                        {"lists", {{"welcome", 134}, {"winback", 135}}}}}}}};
  json rules = json::parse(R"([{"name": "refused", "trigger": {"entity": "lead", "status": "Отказ"},
      "steps": [{"action": "lists.subscribe", "params": {"lists": "winback", "double_optin": 3}},
                {"action": "lists.exclude", "params": {"lists": "welcome"}}]}])");
  json config = base_config(instances, rules);
  config["secrets"]["unisender_key"] = {{"env", "SB_TEST_UNISENDER_KEY"}};
  config["pipelines"] = {{"students", {"Первичный контакт", "Ждет начала занятий", "Отказ"}}};
  HostProcess host(config);
  post(host, {{"id", "lead-9"},
              {"type", "lead.status_changed"},
              {"entity", {{"type", "lead"}, {"id", "L9"}, {"pipeline", "students"}, {"status", "Отказ"}}},
              {"contact", {{"id", "S9"}, {"name", "Ольга"}, {"emails", {{{"address", "olga@example.com"}}}}}}});
  const auto calls = unisender.wait_for(2);
  ASSERT_EQ(calls.size(), 2u) << host.log();
  EXPECT_EQ(calls[0].uri, "/ru/api/subscribe");
  EXPECT_EQ(
      calls[0].body,
      "format=json&api_key=uni-e2e-key&list_ids=135&fields%5Bemail%5D=olga%40example.com&fields%5BName%5D=%D0%9E%D0%"
      "BB%D1%8C%D0%B3%D0%B0&double_optin=3");
  EXPECT_EQ(calls[1].uri, "/ru/api/exclude");
  EXPECT_EQ(calls[1].body,
            "format=json&api_key=uni-e2e-key&contact_type=email&contact=olga%40example.com&list_ids=134");
  EXPECT_EQ(host.log().find("uni-e2e-key"), std::string::npos);
}

TEST(EmailEndToEnd, OpensClicksAndOneClickUnsubscribeComeBackAsEvents) {
  HttpSink sink;
  json instances = {{"email", {{"plugin", "email"}, {"config", {{"from", "shop@shop.test"}, {"dry_run", true}}}}},
                    {"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}};
  json rules = json::parse(R"([
    {"name": "offer", "trigger": {"event": "deal.created"}, "steps": [
      {"name": "Offer", "action": "email.send", "params": {"to": "{{contact.emails.0.address}}", "subject": "Предложение",
        "html": "<p>Смотрите <a href=\"https://shop.test/offer?id=7&amp;src=mail\">предложение</a></p>"}},
      {"wait_for": "message.opened", "match": {"data.message_id": "{{steps.Offer.external_id}}"}, "timeout": "1h",
        "then": [{"action": "notify.post", "params": {"url": "/opened", "body": {"step": "{{steps.Offer.external_id}}"}}}],
        "else": [{"action": "notify.post", "params": {"url": "/not-opened", "body": {}}}]}]},
    {"name": "promo", "trigger": {"event": "promo.started"}, "steps": [
      {"action": "email.send", "params": {"to": {"type": "any"}, "subject": "Акция", "text": "Скидки"}}]},
    {"name": "receipt", "category": "transactional", "trigger": {"event": "order.paid"}, "steps": [
      {"action": "email.send", "params": {"to": {"type": "any"}, "subject": "Чек", "text": "Спасибо"}}]},
    {"name": "digest", "trigger": {"event": "news.posted"}, "steps": [
      {"action": "email.send", "params": {"to": "team@shop.test", "subject": "Новости", "html": "<a href=\"https://shop.test/\">x</a>"}}]}])");
  HostProcess host(base_config(instances, rules));
  post(host, contact_event("deal-1", "deal.created"));
  auto sent = wait_for_outbox(host, 1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  const std::string html = sent[0]["html"];
  const std::string open = link_path(html, "/t/o/"), click = link_path(html, "/t/c/");
  const std::string unsubscribe = std::string(sent[0]["list_unsubscribe"]).substr(std::string(kBase).size());
  ASSERT_FALSE(open.empty()) << html;
  ASSERT_FALSE(click.empty()) << html;
  EXPECT_EQ(unsubscribe.rfind("/t/u/", 0), 0u);

  // Forged or altered links are refused, and store nothing.
  std::string forged = open;
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(http_request(host.port(), "GET", forged).status, 404);
  EXPECT_EQ(http_request(host.port(), "GET", "/t/c/" + open.substr(5)).status, 404);  // an open token as a click
  EXPECT_EQ(http_request(host.port(), "GET", "/t/x/abc.def").status, 404);

  // The open: a GIF, and the rule's wait takes its "then" branch.
  const HttpResult pixel = http_request(host.port(), "GET", open);
  EXPECT_EQ(pixel.status, 200);
  EXPECT_EQ(pixel.headers.at("content-type"), "image/gif");
  const auto reached = sink.wait_for(1);
  ASSERT_EQ(reached.size(), 1u) << host.log();
  EXPECT_EQ(reached[0].uri, "/opened");
  EXPECT_EQ(json::parse(reached[0].body)["step"], sent[0]["message_id"]);

  // The click goes to the link in the message, and nowhere else.
  const HttpResult redirect = http_request(host.port(), "GET", click);
  EXPECT_EQ(redirect.status, 302);
  EXPECT_EQ(redirect.headers.at("location"), "https://shop.test/offer?id=7&src=mail");

  // A GET of the unsubscribe link only asks; the one-click POST unsubscribes.
  const HttpResult ask = http_request(host.port(), "GET", unsubscribe);
  EXPECT_EQ(ask.status, 200);
  EXPECT_NE(ask.body.find("<form method=\"post\""), std::string::npos);
  EXPECT_NE(ask.body.find("Отписаться от этих писем?"), std::string::npos) << ask.body;  // the reader's language too
  post(host, contact_event("promo-1", "promo.started"));
  ASSERT_EQ(wait_for_outbox(host, 2).size(), 2u);  // still subscribed
  const HttpResult done = http_request(host.port(), "POST", unsubscribe, "List-Unsubscribe=One-Click",
                                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("Вы отписались"), std::string::npos) << done.body;

  EXPECT_EQ(admin(host, "/api/v1/contacts/C1/preferences"),
            json::parse(R"({"contact": "id:C1", "preferences": {"email": {"marketing": false}}})"));

  // The API changes them too: PATCH merges, null forgets a choice, and a bad shape is a 400.
  const auto patch = [&](const std::string& body) {
    return http_request(host.port(), "PATCH", "/api/v1/contacts/C1/preferences", body,
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  EXPECT_EQ(patch(R"({"sms": {"marketing": false}})").status, 200);
  const HttpResult bad = patch(R"({"sms": {"marketing": "no"}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("/sms/marketing"), std::string::npos) << bad.body;
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/contacts/C404/preferences", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            404);
  EXPECT_EQ(admin(host, "/api/v1/contacts/C1/preferences")["preferences"],
            json::parse(R"({"email": {"marketing": false}, "sms": {"marketing": false}})"));
  EXPECT_EQ(patch(R"({"sms": {"marketing": null}})").status, 200);
  EXPECT_EQ(admin(host, "/api/v1/contacts/C1/preferences")["preferences"],
            json::parse(R"({"email": {"marketing": false}, "sms": {}})"));

  post(host, contact_event("promo-2", "promo.started"));  // marketing: not sent
  post(host, contact_event("order-1", "order.paid"));     // transactional: sent
  sent = wait_for_outbox(host, 3);
  std::this_thread::sleep_for(300ms);
  sent = wait_for_outbox(host, 3);
  ASSERT_EQ(sent.size(), 3u) << host.log();
  EXPECT_EQ(sent[2]["subject"], "Чек");
  const HttpResult skipped = http_request(host.port(), "GET", "/api/v1/executions?rule=promo&event_id=promo-2", "",
                                          {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_NE(skipped.body.find("promo-2"), std::string::npos) << skipped.body;
  const int64_t id = skipped.json()["executions"][0]["id"];
  const HttpResult history = http_request(host.port(), "GET", "/api/v1/executions/" + std::to_string(id), "",
                                          {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_NE(history.body.find("\"outcome\":\"skipped\""), std::string::npos) << history.body;
  EXPECT_NE(history.body.find("opted out of marketing email"), std::string::npos) << history.body;

  // A message about no contact (to a team's address) has no link that
  // would opt someone out, nor tracked links.
  post(host, {{"id", "news-1"}, {"type", "news.posted"}});
  sent = wait_for_outbox(host, 4);
  ASSERT_EQ(sent.size(), 4u) << host.log();
  EXPECT_EQ(sent[3]["list_unsubscribe"], "");
  EXPECT_EQ(sent[3]["html"].get<std::string>().find("/t/"), std::string::npos);
}

// "At most 1 marketing SMS a day": the second is skipped with the reason, or
// deferred when its rule says so; a transactional one is not counted, nor one
// that was not sent (a number that is not one).
TEST(MessagingEndToEnd, AFrequencyCapSkipsOrDefersWhatIsOverIt) {
  json instances = {
      {"sms", {{"plugin", "sms"}, {"config", {{"gateway", "smsru"}, {"api_id", "x"}, {"dry_run", true}}}}}};
  json rules = json::parse(R"([
    {"name": "typo", "trigger": {"event": "promo.typo"}, "steps": [
      {"action": "sms.send", "params": {"to": "12", "text": "Скидка 20%"}}]},
    {"name": "promo", "trigger": {"event": "promo.started"}, "steps": [
      {"action": "sms.send", "params": {"to": "+79990001122", "text": "Скидка 20%"}}]},
    {"name": "later", "over_cap": "defer", "trigger": {"event": "promo.reminder"}, "steps": [
      {"action": "sms.send", "params": {"to": "+79990001122", "text": "Скидка скоро закончится"}}]},
    {"name": "code", "category": "transactional", "trigger": {"event": "login.code"}, "steps": [
      {"action": "sms.send", "params": {"to": "+79990001122", "text": "Код 1234"}}]}])");
  json config = base_config(instances, rules);
  config["frequency_caps"] =
      json::parse(R"([{"channel": "sms", "category": "marketing", "limit": 1, "period": "1d"}])");
  HostProcess host(config);
  post(host, contact_event("typo-1", "promo.typo"));
  json typo;
  for (int i = 0; i < 100; ++i) {
    typo = admin(host, "/api/v1/executions?event_id=typo-1");
    if (typo["executions"].size() == 1 && typo["executions"][0]["state"] == "done") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(typo["executions"].size(), 1u) << typo;
  post(host, contact_event("promo-1", "promo.started"));
  ASSERT_EQ(wait_for_outbox(host, 1).size(), 1u) << host.log();
  post(host, contact_event("promo-2", "promo.started"));
  post(host, contact_event("reminder-1", "promo.reminder"));
  post(host, contact_event("code-1", "login.code"));
  auto sent = wait_for_outbox(host, 2);
  ASSERT_EQ(sent.size(), 2u) << host.log();
  EXPECT_EQ(sent[1]["text"], "Код 1234");

  json skipped, deferred;
  for (int i = 0; i < 100; ++i) {
    skipped = admin(host, "/api/v1/executions?event_id=promo-2");
    deferred = admin(host, "/api/v1/executions?event_id=reminder-1");
    if (skipped["executions"].size() == 1 && skipped["executions"][0]["state"] == "done" &&
        deferred["executions"].size() == 1 && deferred["executions"][0]["state"] == "waiting")
      break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(skipped["executions"].size(), 1u) << skipped;
  EXPECT_EQ(skipped["executions"][0]["state"], "done");
  const std::string cap = "over the frequency cap: at most 1 marketing sms message per 1d to this contact";
  const json skipped_history =
      admin(host, "/api/v1/executions/" + std::to_string(skipped["executions"][0]["id"].get<int64_t>()));
  EXPECT_NE(skipped_history.dump().find("\"outcome\":\"skipped\",\"reason\":\"" + cap), std::string::npos)
      << skipped_history;
  ASSERT_EQ(deferred["executions"].size(), 1u) << deferred;
  EXPECT_EQ(deferred["executions"][0]["state"], "waiting");
  const json deferred_history =
      admin(host, "/api/v1/executions/" + std::to_string(deferred["executions"][0]["id"].get<int64_t>()));
  EXPECT_NE(deferred_history.dump().find("\"outcome\":\"deferred\""), std::string::npos) << deferred_history;
  EXPECT_NE(deferred_history.dump().find(cap), std::string::npos) << deferred_history;
}

// "All new comments in one message": the first comment of a contact opens a
// window; the others join it; one message lists them when it closes.
TEST(MessagingEndToEnd, ADigestCollectsAContactsEventsIntoOneMessage) {
  HttpSink sink;
  json instances = {{"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}};
  json rules = json::parse(R"([{"name": "comments", "trigger": {"event": "comment.created"}, "steps": [
      {"name": "Comments", "digest": "3s", "item": "{{data.author}}: {{data.text}}"},
      {"action": "notify.post", "params": {"url": "/digest", "body": {
        "to": "{{contact.id}}", "count": "{{steps.Comments.output.count}}", "list": "{{steps.Comments.output.list}}"}}}]}])");
  HostProcess host(base_config(instances, rules));
  auto comment = [&](const std::string& id, const std::string& contact, const std::string& author,
                     const std::string& text) {
    post(host, {{"id", id},
                {"type", "comment.created"},
                {"contact", {{"id", contact}}},
                {"data", {{"author", author}, {"text", text}}}});
  };
  comment("c-1", "C1", "Анна", "Отличный урок");
  comment("c-2", "C1", "Пётр", "Спасибо!");
  comment("c-3", "C2", "Ольга", "Когда следующее занятие?");
  comment("c-4", "C1", "Анна", "Жду продолжения");  // within the window c-1 opened, also on a slow machine
  const auto got = sink.wait_for(2, 15s);
  ASSERT_EQ(got.size(), 2u) << host.log();
  std::map<std::string, json> by_contact;
  for (const auto& r : got) by_contact[json::parse(r.body)["to"]] = json::parse(r.body);
  EXPECT_EQ(by_contact["C1"]["count"], 3);
  EXPECT_EQ(by_contact["C1"]["list"], "Анна: Отличный урок\nПётр: Спасибо!\nАнна: Жду продолжения");
  EXPECT_EQ(by_contact["C2"]["count"], 1);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 2u);
  const json joined = admin(host, "/api/v1/executions?event_id=c-2");
  ASSERT_EQ(joined["executions"].size(), 1u) << joined;
  EXPECT_EQ(joined["executions"][0]["state"], "done");
  const json history =
      admin(host, "/api/v1/executions/" + std::to_string(joined["executions"][0]["id"].get<int64_t>()));
  EXPECT_NE(history.dump().find("\"outcome\":\"digested\""), std::string::npos) << history;

  // After the window, the next comment opens a new digest.
  comment("c-5", "C1", "Анна", "Ещё вопрос");
  const auto more = sink.wait_for(3, 10s);
  ASSERT_EQ(more.size(), 3u) << host.log();
  EXPECT_EQ(json::parse(more[2].body)["list"], "Анна: Ещё вопрос");
}

// An operator cancels the execution collecting a digest: the next event of
// the group takes over with what was collected, rather than joining a
// digest that will never be sent.
TEST(MessagingEndToEnd, ADigestWhoseCollectorWasCancelledIsTakenOverByTheNextEvent) {
  HttpSink sink;
  json instances = {{"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}};
  json rules = json::parse(R"([{"name": "comments", "trigger": {"event": "comment.created"}, "steps": [
      {"name": "Comments", "digest": "2s", "item": "{{data.text}}"},
      {"action": "notify.post", "params": {"url": "/digest", "body": {"list": "{{steps.Comments.output.list}}"}}}]}])");
  HostProcess host(base_config(instances, rules));
  auto comment = [&](const std::string& id, const std::string& text) {
    post(host, {{"id", id}, {"type", "comment.created"}, {"contact", {{"id", "C1"}}}, {"data", {{"text", text}}}});
  };
  comment("c-1", "first");
  json leader;
  for (int i = 0; i < 200; ++i) {
    leader = admin(host, "/api/v1/executions?event_id=c-1&state=waiting");
    if (leader["executions"].size() == 1) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(leader["executions"].size(), 1u) << leader << host.log();
  const std::string cancel =
      "/api/v1/executions/" + std::to_string(leader["executions"][0]["id"].get<int64_t>()) + "/cancel";
  ASSERT_EQ(
      http_request(host.port(), "POST", cancel, "{}", {{"Authorization", std::string("Bearer ") + kAdmin}}).status,
      200);
  comment("c-2", "second");
  const auto got = sink.wait_for(1, 10s);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body)["list"], "first\nsecond");
}

// An address the server does not know (550 5.1.1) is unreachable: the
// fallback goes on to SMS. A server that is down is retried, then the
// execution is a dead letter with the reason.
TEST(EmailEndToEnd, NoSuchMailboxFallsBackAndADownServerEndsInADeadLetter) {
  test_smtp::SmtpServer smtp;
  const sb::test::ClosedPort down;  // a server that is down
  const int closed_port = down.port();
  auto smtp_config = [](int port, const std::string& security) {
    json s{{"host", "localhost"},
           {"port", port},
           {"security", security},
           {"username", "mailer"},
           {"password", {{"$secret", "smtp_password"}}}};
    if (security != "none") s["ca_file"] = std::string(SB_TEST_CA_DIR) + "/ca.pem";
    return s;
  };
  json instances = {
      {"email",
       {{"plugin", "email"},
        {"config", {{"smtp", smtp_config(smtp.starttls, "starttls")}, {"from", "shop@shop.test"}}}}},
      {"down",
       {{"plugin", "email"}, {"config", {{"smtp", smtp_config(closed_port, "none")}, {"from", "shop@shop.test"}}}}},
      {"sms", {{"plugin", "sms"}, {"config", {{"gateway", "smsru"}, {"api_id", "x"}, {"dry_run", true}}}}}};
  json rules = json::parse(R"([
    {"name": "notify", "category": "transactional", "trigger": {"event": "order.shipped"}, "steps": [
      {"fallback": [
        {"name": "Email", "action": "email.send", "params": {"to": "{{contact.emails.0.address}}", "subject": "Заказ отправлен", "text": "Ждите курьера"}},
        {"name": "SMS", "action": "sms.send", "params": {"to": "+79990001122", "text": "Заказ отправлен"}}]}]},
    {"name": "receipt", "category": "transactional", "trigger": {"event": "order.paid"}, "steps": [
      {"action": "down.send", "retry": {"max_attempts": 2, "backoff": "50ms"},
       "params": {"to": "{{contact.emails.0.address}}", "subject": "Чек", "text": "Спасибо"}}]}])");
  HostProcess host(base_config(instances, rules));
  post(host, {{"id", "ship-1"},
              {"type", "order.shipped"},
              {"contact", {{"id", "C7"}, {"emails", {{{"address", "nobody@example.com"}}}}}}});
  const auto sent = wait_for_outbox(host, 1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0]["channel"], "sms");
  EXPECT_EQ(smtp.messages(), 0);
  const json shipped = admin(host, "/api/v1/executions?event_id=ship-1");
  const json history =
      admin(host, "/api/v1/executions/" + std::to_string(shipped["executions"][0]["id"].get<int64_t>()));
  EXPECT_NE(history.dump().find("\"provider_code\":\"5.1.1\""), std::string::npos) << history;
  EXPECT_NE(history.dump().find("User unknown"), std::string::npos) << history;

  post(host, {{"id", "paid-1"},
              {"type", "order.paid"},
              {"contact", {{"id", "C8"}, {"emails", {{{"address", "ivan@example.com"}}}}}}});
  json dead;
  for (int i = 0; i < 100; ++i) {
    dead = admin(host, "/api/v1/dead-letters");
    if (dead.dump().find("paid-1") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(dead.dump().find("paid-1"), std::string::npos) << dead;
  EXPECT_NE(dead.dump().find("gave up after 2 attempts: SMTP: "), std::string::npos) << dead;
}

}  // namespace
}  // namespace sb::test
