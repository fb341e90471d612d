// The reference CRMs' automation scenarios, end to end through the real
// binary: events posted to the events API, rules on the changes the store
// derives from them (and, later, the CRM actions rules take), and what
// reached the provider.
#include <Poco/URI.h>
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "integration/test_support.h"
#include "util/Time.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "crm-scenarios-token-51e0";
constexpr char kAdmin[] = "crm-scenarios-admin-93ab";

json host_config(const HttpSink& sink, json rules) {
  ::setenv("SB_TEST_CRM_TOKEN", kToken, 1);
  ::setenv("SB_TEST_CRM_ADMIN", kAdmin, 1);
  return json{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"account", {{"timezone", "Asia/Omsk"}}},
      {"secrets", {{"events", {{"env", "SB_TEST_CRM_TOKEN"}}}, {"admin", {{"env", "SB_TEST_CRM_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"segments", {{"VIP", {{"description", "клиенты с десятью визитами"}}}, {"Новые клиенты", json::object()}}},
      {"pipelines",
       {{"clients", {"Новый", "Постоянный", "VIP"}},
        {"students", {"Первичный контакт", "Записан на пробное", "Учится"}}}},
      {"instances",
       {{"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}},
        {"crm", {{"plugin", "crm"}}},
        {"tasks", {{"plugin", "tasks"}}},
        {"seg", {{"plugin", "segments"}}},
        {"wa", {{"plugin", "whatsapp"}, {"config", {{"dry_run", true}}}}}}},
      {"rules", std::move(rules)}};
}

json admin_get(const HostProcess& host, const std::string& path) {
  const HttpResult r = http_request(host.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_EQ(r.status, 200) << path << ": " << r.body;
  return r.json();
}

// Polls an admin list until `ready` holds (or 15 seconds passed: a loaded
// machine under a sanitizer is slow).
json admin_wait(const HostProcess& host, const std::string& path, const std::function<bool(const json&)>& ready) {
  json got;
  for (const auto deadline = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < deadline;) {
    got = admin_get(host, path);
    if (ready(got)) break;
    std::this_thread::sleep_for(50ms);
  }
  return got;
}

std::vector<json> outbox(const HostProcess& host) {
  std::vector<json> lines;
  std::ifstream in(host.dir() / "outbox.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

json post_step(const std::string& path, json body) {
  return {{"action", "notify.post"}, {"params", {{"url", path}, {"body", std::move(body)}}}};
}

void post(const HostProcess& host, const json& event) {
  const HttpResult r = http_request(host.port(), "POST", "/api/v1/events", event.dump(),
                                    {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(r.status, 202) << r.body;
}

// SendPulse: "a variable changed" — the head of sales hears of a budget
// change with the old and the new value.
TEST(CrmScenarios, SendPulseABudgetChangeNotifiesTheHeadOfSalesWithTheOldAndNewValues) {
  HttpSink sink;
  json rules =
      json::array({{{"name", "budget changed"},
                    {"trigger", {{"event", "deal.field_changed"}}},
                    {"filter", {{"data.field", "budget"}}},
                    {"steps", json::array({post_step("/head-of-sales", {{"text",
                                                                         "Сделка {{entity.id}}: бюджет "
                                                                         "{{data.old}} → {{data.new}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "d-1"},
              {"type", "deal.created"},
              {"entity", {{"type", "deal"}, {"id", "D7"}, {"fields", {{"budget", 100000}, {"city", "Омск"}}}}}});
  post(host, {{"id", "d-2"},  // another field: no notice
              {"type", "deal.updated"},
              {"entity", {{"type", "deal"}, {"id", "D7"}, {"fields", {{"city", "Томск"}}}}}});
  post(host, {{"id", "d-3"},
              {"type", "deal.updated"},
              {"entity", {{"type", "deal"}, {"id", "D7"}, {"fields", {{"budget", 250000}}}}}});
  post(host, {{"id", "d-4"},  // the same budget again: not a change
              {"type", "deal.updated"},
              {"entity", {{"type", "deal"}, {"id", "D7"}, {"fields", {{"budget", 250000}}}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body)["text"], "Сделка D7: бюджет 100000 → 250000");
  EXPECT_EQ(got[0].headers.at("idempotency-key"), "d-3:field_changed:deal:budget:budget changed:0");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 1u);
}

// HolliHop, Bitrix24: a lead moved to a stage by a webhook that names the
// lead alone reaches the client it was created with.
TEST(CrmScenarios, AStageChangeNamingTheLeadAloneReachesItsClient) {
  HttpSink sink;
  json rules = json::array({{{"name", "waiting"},
                             {"trigger", {{"entity", "lead"}, {"pipeline", "students"}, {"status", "Учится"}}},
                             {"steps", json::array({post_step("/hello", {{"to", "{{contact.phones.0.number}}"},
                                                                         {"text", "{{Имя}}, добро пожаловать"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "l-1"},
              {"type", "lead.created"},
              {"contact", {{"id", "s1"}, {"name", "Мария"}, {"phone", "+79990001122"}}},
              {"entity", {{"type", "lead"}, {"id", "L1"}, {"pipeline", "students"}, {"status", "Первичный контакт"}}}});
  post(host, {{"id", "l-2"},
              {"type", "lead.status_changed"},
              {"entity", {{"type", "lead"}, {"id", "L1"}, {"pipeline", "students"}, {"status", "Учится"}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body), (json{{"to", "+79990001122"}, {"text", "Мария, добро пожаловать"}}));
  const json listed = admin_get(host, "/api/v1/executions?contact=s1");
  ASSERT_EQ(listed["executions"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["executions"][0]["event_id"], "l-2");
}

// Bitrix24: a deal with several contacts is written to the first; one with
// a contact and a company, to the contact; a company alone, to the company.
// A number in the account's national form ("8 (999) ...") is the person the
// CRM named with it in international form.
TEST(CrmScenarios, BitrixTheFirstContactThenTheCompanyAndOneNumberHoweverWritten) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "offer"},
        {"trigger", {{"event", "deal.created"}}},
        {"steps", json::array({post_step("/mail", {{"to", "{{contact.emails.0.address}}"},
                                                   {"text", "{{company.name|-}}: {{contacts.1.name|-}}"}})})}}});
  json config = host_config(sink, rules);
  config["account"]["country"] = "RU";
  HostProcess host(config);
  post(host, json::parse(R"({"id": "d-1", "type": "deal.created", "entity": {"type": "deal", "id": "D1"},
      "contacts": [{"name": "Анна", "email": "anna@romashka.ru"}, {"name": "Олег", "email": "oleg@romashka.ru"}],
      "company": {"name": "ООО Ромашка", "email": "office@romashka.ru"}})"));
  const auto first = sink.wait_for(1);
  ASSERT_EQ(first.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(first[0].body), json::parse(R"({"to": "anna@romashka.ru", "text": "ООО Ромашка: Олег"})"));
  post(host, json::parse(R"({"id": "d-2", "type": "deal.created", "entity": {"type": "deal", "id": "D2"},
      "company": {"id": "C7", "name": "ИП Петров", "emails": [{"address": "petrov@ip.ru", "type": "work"}]}})"));
  const auto second = sink.wait_for(2);
  ASSERT_EQ(second.size(), 2u) << host.log();
  EXPECT_EQ(json::parse(second[1].body), json::parse(R"({"to": "petrov@ip.ru", "text": "ИП Петров: -"})"));

  post(host, json::parse(R"({"id": "c-1", "type": "contact.updated", "contact": {"phone": "+7 999 888-77-66",
      "name": "Аня"}})"));
  post(host, json::parse(R"({"id": "c-2", "type": "contact.updated", "contact": {"id": "CRM-1",
      "phones": [{"number": "8 (999) 888-77-66"}]}})"));
  const json contact = admin_wait(host, "/api/v1/contacts/phone:%2B79998887766",
                                  [](const json& c) { return c.value("key", "") == "id:CRM-1"; });
  EXPECT_EQ(contact["key"], "id:CRM-1") << contact.dump();
  EXPECT_EQ(contact["data"]["name"], "Аня");  // what was known of the number is the CRM's contact's
}

// SendPulse: "new contact" and "new deal" — the first event that brings a
// person or a deal to the host says so, whatever its own type, once.
TEST(CrmScenarios, SendPulseANewContactIsWelcomedAndANewDealAnnouncedOnce) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "welcome"},
        {"trigger", {{"event", "contact.created"}}},
        {"steps", json::array({post_step("/welcome", {{"to", "{{contact.emails.0.address}}"}})})}},
       {{"name", "new deal"},
        {"trigger", {{"event", "deal.created"}}},
        {"steps",
         json::array({post_step("/deal", {{"deal", "{{entity.id}}"}, {"caused_by", "{{data.caused_by|posted}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  // A form: a person the host has not seen, known by an email only.
  post(host, {{"id", "f-1"},
              {"type", "form.submitted"},
              {"contact", {{"emails", {{{"address", "anna@example.com"}}}}, {"name", "Анна"}}}});
  // The CRM names her by its id with that email, and opens a deal: the
  // same person (no second welcome), a new deal.
  post(host, {{"id", "d-1"},
              {"type", "deal.status_changed"},
              {"contact", {{"id", "C9"}, {"emails", {{{"address", "anna@example.com"}}}}}},
              {"entity", {{"type", "deal"}, {"id", "D1"}, {"status", "Новая"}}}});
  post(host, {{"id", "d-2"},  // known already: nothing new
              {"type", "deal.status_changed"},
              {"contact", {{"id", "C9"}, {"name", "Анна Петрова"}}},
              {"entity", {{"type", "deal"}, {"id", "D1"}, {"status", "Оплачено"}}}});
  // A CRM that says so itself is not told twice.
  post(host, {{"id", "d-3"},
              {"type", "deal.created"},
              {"contact", {{"id", "C9"}}},
              {"entity", {{"type", "deal"}, {"id", "D2"}, {"fields", {{"budget", 100}}}}}});
  const auto got = sink.wait_for(3);
  ASSERT_EQ(got.size(), 3u) << host.log();
  std::map<std::string, json> by_path;
  for (const auto& r : got) by_path.emplace(r.uri + " " + json::parse(r.body).dump(), json::parse(r.body));
  EXPECT_EQ(by_path.count(R"(/welcome {"to":"anna@example.com"})"), 1u) << json(by_path).dump();
  EXPECT_EQ(by_path.count(R"(/deal {"caused_by":"d-1","deal":"D1"})"), 1u) << json(by_path).dump();
  EXPECT_EQ(by_path.count(R"(/deal {"caused_by":"posted","deal":"D2"})"), 1u) << json(by_path).dump();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 3u);
}

// SendPulse's "deal created: message the client and give the manager a
// task": a client the channel cannot reach (no number) still gets the
// manager's task; the message counts as unreachable.
TEST(CrmScenarios, AClientTheChannelCannotReachStillGetsTheManagersTask) {
  HttpSink sink;
  json rules =
      json::array({{{"name", "new deal"},
                    {"trigger", {{"event", "deal.created"}}},
                    {"steps", json::array({{{"action", "wa.send_text"}, {"params", {{"text", "Спасибо за заказ"}}}},
                                           post_step("/task", {{"title", "Позвонить по сделке {{entity.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "n-1"},
              {"type", "deal.created"},
              {"contact", {{"id", "C1"}, {"name", "Без телефона"}}},
              {"entity", {{"type", "deal"}, {"id", "N1"}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body)["title"], "Позвонить по сделке N1");
  const json done = admin_wait(host, "/api/v1/executions?rule=new%20deal&state=done",
                               [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(done["executions"].size(), 1u) << done.dump();
  const json history =
      admin_get(host, "/api/v1/executions/" + std::to_string(done["executions"][0]["id"].get<int64_t>()))["history"];
  EXPECT_EQ(history[0]["outcome"], "unreachable") << history.dump();
  EXPECT_EQ(history[1]["outcome"], "done") << history.dump();
}

// MatrixCRM's client statuses (Новый, Постоянный, VIP): a rule on a
// client's status fires when the client enters it, also when created with
// it, and not again while they stay.
TEST(CrmScenarios, AClientsOwnStatusTriggersARule) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "vip"},
        {"trigger", {{"entity", "contact"}, {"pipeline", "clients"}, {"status", "VIP"}}},
        {"filter", {{"contact.fields.city", "Омск"}}},
        {"steps",
         json::array({post_step("/vip", {{"client", "{{contact.id}}"}, {"was", "{{data.previous_status|-}}"}})})}},
       // "No status" is a status too: left for none, or VIP from none.
       {{"name", "no status"},
        {"trigger", {{"entity", "contact"}, {"status", nullptr}}},
        {"steps", json::array({post_step("/none", {{"client", "{{contact.id}}"}})})}},
       {{"name", "vip from none"},
        {"trigger", {{"entity", "contact"}, {"status", "VIP"}, {"previous_status", nullptr}}},
        {"steps", json::array({post_step("/vip-from-none", {{"client", "{{contact.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  const auto client = [&](const std::string& id, const std::string& who, const json& status, const std::string& city) {
    post(host, {{"id", id},
                {"type", "contact.updated"},
                {"contact", {{"id", who}, {"status", status}, {"fields", {{"city", city}}}}}});
  };
  client("c-1", "C1", "Новый", "Омск");
  client("c-2", "C1", "VIP", "Омск");         // entered: fires
  client("c-3", "C1", "VIP", "Омск");         // stays: no move
  client("c-4", "C2", "VIP", "Омск");         // created with it: fires
  client("c-5", "C3", "VIP", "Томск");        // the filter still applies
  client("c-6", "C1", "Постоянный", "Омск");  // left it
  client("c-7", "C1", nullptr, "Омск");       // to no status
  const auto got = sink.wait_for(5);
  ASSERT_EQ(got.size(), 5u) << host.log();
  std::multiset<std::string> seen;
  for (const auto& r : got) seen.insert(r.uri + " " + json::parse(r.body).dump());
  EXPECT_EQ(seen, (std::multiset<std::string>{R"(/vip {"client":"C1","was":"Новый"})",
                                              R"(/vip {"client":"C2","was":"-"})", R"(/vip-from-none {"client":"C2"})",
                                              R"(/vip-from-none {"client":"C3"})", R"(/none {"client":"C1"})"}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 5u);
}

// A Russian CRM writes its clients' numbers as "8 (999) ...": with the
// account's country set, the message goes to that number, as the contact
// store reads it, though the channel's instance names no default_country.
TEST(CrmScenarios, ANumberInTheAccountsNationalFormIsMessaged) {
  HttpSink sink;
  json rules =
      json::array({{{"name", "new deal"},
                    {"trigger", {{"event", "deal.created"}}},
                    {"steps", json::array({{{"action", "wa.send_text"}, {"params", {{"text", "Спасибо"}}}}})}}});
  json config = host_config(sink, rules);
  config["account"]["country"] = "RU";
  HostProcess host(config);
  post(host, {{"id", "n-1"},
              {"type", "deal.created"},
              {"contact", {{"id", "C1"}, {"phone", "8 (999) 123-45-67"}}},
              {"entity", {{"type", "deal"}, {"id", "N1"}}}});
  admin_wait(host, "/api/v1/executions?rule=new%20deal&state=done",
             [](const json& j) { return j["executions"].size() == 1; });
  const auto sent = outbox(host);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0]["body"]["to"], "79991234567") << sent[0].dump();  // Meta takes the digits
}

// A CRM's own deal.status_changed reads as the one the host derives: the
// move it made in data.previous_status and data.status.
TEST(CrmScenarios, ACrmsOwnStatusChangeSaysTheMoveInItsData) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "moved"},
        {"trigger", {{"event", "deal.status_changed"}}},
        {"steps", json::array({post_step("/moved", {{"move", "{{data.previous_status|-}} → {{data.status}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "m-1"},
              {"type", "deal.status_changed"},
              {"entity", {{"type", "deal"}, {"id", "M1"}, {"status", "Новая"}}}});
  ASSERT_EQ(sink.wait_for(1).size(), 1u) << host.log();
  post(host, {{"id", "m-2"},
              {"type", "deal.status_changed"},
              {"entity", {{"type", "deal"}, {"id", "M1"}, {"status", "Оплачено"}}}});
  const auto got = sink.wait_for(2);
  ASSERT_EQ(got.size(), 2u) << host.log();
  EXPECT_EQ(json::parse(got[0].body)["move"], "- → Новая");
  EXPECT_EQ(json::parse(got[1].body)["move"], "Новая → Оплачено");
}

// A CRM's own contact.tag_added reads as the one the host derives: the tag
// its contact adds in data.tag (all of them in data.tags).
TEST(CrmScenarios, ACrmsOwnTagAddedSaysTheTagInItsData) {
  HttpSink sink;
  json rules = json::array({{{"name", "tagged"},
                             {"trigger", {{"event", "contact.tag_added"}}},
                             {"steps", json::array({post_step("/tagged", {{"tag", "{{data.tag}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "t-1"}, {"type", "contact.tag_added"}, {"contact", {{"id", "TG1"}, {"add_tags", {"vip"}}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body)["tag"], "vip");
}

// SendPulse: "a tag was added" — the VIP tag brings the premium offer, once.
TEST(CrmScenarios, SendPulseTheVipTagTriggersThePremiumMessageOnce) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "premium"},
        {"trigger", {{"event", "contact.tag_added"}}},
        {"filter", {{"data.tag", "VIP"}}},
        {"steps", json::array({post_step("/premium", {{"to", "{{contact.id}}"}, {"tags", "{{contact.tags}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "c-1"}, {"type", "contact.updated"}, {"contact", {{"id", "C1"}, {"tags", {"newsletter"}}}}});
  post(host, {{"id", "c-2"}, {"type", "contact.updated"}, {"contact", {{"id", "C1"}, {"add_tags", {"VIP"}}}}});
  post(host, {{"id", "c-3"}, {"type", "contact.updated"}, {"contact", {{"id", "C1"}, {"add_tags", {"VIP"}}}}});
  post(host, {{"id", "c-4"},  // the whole list, which has VIP already
              {"type", "contact.updated"},
              {"contact", {{"id", "C1"}, {"tags", {"VIP", "newsletter"}}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(got[0].uri, "/premium");
  EXPECT_EQ(json::parse(got[0].body)["to"], "C1");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 1u);
}

// MatrixCRM: the tenth visit makes the client a VIP — the status moves, the
// tag is added, a congratulation goes out — and each change is an event that
// sets off the next rule.
TEST(CrmScenarios, MatrixCrmTheTenthVisitMakesTheClientAVipAndSaysSo) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "tenth visit"},
        {"trigger", {{"event", "visit.completed"}}},
        // The event's own count: rules read the contact as it is when the
        // event is routed, which may already be the eleventh visit's.
        {"filter", {{"field", "data.visit"}, {"op", "="}, {"value", 10}}},
        {"steps",
         json::array(
             {{{"action", "crm.set_status"},
               {"params",
                {{"entity", {{"type", "client"}, {"id", "{{contact.id}}"}}},
                 {"pipeline", "clients"},
                 {"status", "VIP"}}}},
              {{"action", "crm.add_tag"}, {"params", {{"tag", "VIP"}}}},
              {{"action", "seg.add"}, {"params", {{"segment", "VIP"}}}},
              {{"action", "wa.send_text"},
               {"params", {{"to", "{{contact.phones.0.number}}"}, {"text", "{{contact.name}}, вы теперь VIP!"}}}}})}},
       {{"name", "vip entered"},  // set off by the status the first rule set
        {"trigger", {{"entity", "client"}, {"status", "VIP"}}},
        {"steps", json::array({post_step("/vip", {{"client", "{{entity.id}}"}, {"depth", "{{event.chain_depth}}"}})})}},
       {{"name", "vip tagged"},  // set off by the tag
        {"trigger", {{"event", "contact.tag_added"}}},
        {"filter", {{"data.tag", "VIP"}}},
        {"steps", json::array({post_step("/tagged", {{"name", "{{contact.name}}"}})})}},
       {{"name", "segment"},  // set off by entering or leaving the segment
        {"trigger", {{"event", "segment.entered"}}},
        {"steps", json::array({post_step("/entered", {{"segment", "{{data.segment}}"}})})}},
       {{"name", "segment left"},
        {"trigger", {{"event", "segment.left"}}},
        {"steps", json::array({post_step("/left", {{"segment", "{{data.segment}}"}, {"who", "{{contact.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  for (int visit = 1; visit <= 11; ++visit)
    post(host, {{"id", "visit-" + std::to_string(visit)},
                {"type", "visit.completed"},
                {"contact",
                 {{"id", "C1"},
                  {"name", "Мария"},
                  {"phones", {{{"number", "+7 913 123-45-67"}}}},
                  {"fields", {{"visits", visit}}}}},
                {"data", {{"visit", visit}}}});
  const auto got = sink.wait_for(3);
  ASSERT_EQ(got.size(), 3u) << host.log();
  std::map<std::string, json> by_path;
  for (const auto& r : got) by_path[r.uri] = json::parse(r.body);
  EXPECT_EQ(by_path["/vip"], json::parse(R"({"client":"C1","depth":1})"));
  EXPECT_EQ(by_path["/tagged"]["name"], "Мария");
  EXPECT_EQ(by_path["/entered"]["segment"], "VIP");

  const json clients = admin_get(host, "/api/v1/entities?type=client");
  ASSERT_EQ(clients["items"].size(), 1u);
  EXPECT_EQ(clients["items"][0]["status"], "VIP");
  const json contact = admin_get(host, "/api/v1/contacts?tag=VIP");
  ASSERT_EQ(contact["items"].size(), 1u);
  EXPECT_EQ(contact["items"][0]["data"]["fields"]["visits"], 11);
  admin_wait(host, "/api/v1/executions?state=done&rule=tenth%20visit",
             [](const json& j) { return j["executions"].size() == 1; });
  const auto sent = outbox(host);
  ASSERT_EQ(sent.size(), 1u) << admin_get(host, "/api/v1/executions?rule=tenth%20visit").dump() << host.log();
  EXPECT_EQ(sent[0]["body"]["text"]["body"], "Мария, вы теперь VIP!");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 3u);  // the eleventh visit changes nothing

  // The segment as the admin API shows it, and a member taken out by hand.
  // Segments are named as the reference CRMs name them ("Новые клиенты"), percent-encoded in paths.
  const json segments = admin_get(host, "/api/v1/segments");
  ASSERT_EQ(segments["items"].size(), 2u);
  EXPECT_EQ(segments["items"][0]["name"], "VIP");
  EXPECT_EQ(segments["items"][1]["name"], "Новые клиенты");
  EXPECT_EQ(segments["items"][0]["description"], "клиенты с десятью визитами");
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/segments?cursor=zz", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            400);  // one page: a cursor is not one this API gave
  EXPECT_EQ(admin_get(host, "/api/v1/segments/VIP"), segments["items"][0]);  // one segment, as listed
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/segments/Nope", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            404);
  const json members = admin_get(host, "/api/v1/segments/VIP/members");
  ASSERT_EQ(members["items"].size(), 1u);
  EXPECT_EQ(members["items"][0]["key"], "id:C1");
  EXPECT_TRUE(
      admin_get(host,
                "/api/v1/segments/%D0%9D%D0%BE%D0%B2%D1%8B%D0%B5%20%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B/members")
          ["items"]
              .empty());
  const auto admin = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    return http_request(host.port(), method, path, body, {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  EXPECT_EQ(admin("GET", "/api/v1/segments/gold/members").status, 404);
  EXPECT_EQ(
      admin("POST",
            "/api/v1/segments/%D0%9D%D0%BE%D0%B2%D1%8B%D0%B5%20%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B/members",
            R"({"contact":"nobody"})")
          .status,
      404);
  const HttpResult removed = admin("DELETE", "/api/v1/segments/VIP/members/C1");
  ASSERT_EQ(removed.status, 200) << removed.body;
  const auto left = sink.wait_for(4);
  ASSERT_EQ(left.size(), 4u) << host.log();
  EXPECT_EQ(json::parse(left[3].body), json::parse(R"({"segment":"VIP","who":"C1"})"));
  EXPECT_TRUE(admin_get(host, "/api/v1/segments/VIP/members")["items"].empty());
  ASSERT_EQ(
      admin("POST",
            "/api/v1/segments/%D0%9D%D0%BE%D0%B2%D1%8B%D0%B5%20%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B/members",
            R"({"contact":"C1"})")
          .status,
      200);
  EXPECT_EQ(
      admin_wait(host,
                 "/api/v1/segments/%D0%9D%D0%BE%D0%B2%D1%8B%D0%B5%20%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B/members",
                 [](const json& j) { return j["items"].size() == 1; })["items"]
          .size(),
      1u);
}

// MatrixCRM's client statuses (new, active, VIP ...) on the client itself:
// a contact comes with one, a rule moves it (crm.set_status, record
// contact), each move is contact.status_changed, and rules read
// contact.status.
TEST(CrmScenarios, MatrixCrmAClientsOwnStatusMovesAndRulesReadIt) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "third visit"},
        {"trigger", {{"event", "visit.completed"}}},
        {"filter", {{"field", "data.visit"}, {"op", "="}, {"value", 3}}},
        {"steps", json::array({{{"action", "crm.set_status"},
                                {"params", {{"record", "contact"}, {"pipeline", "clients"}, {"status", "VIP"}}}}})}},
       {{"name", "status moved"},
        {"trigger", {{"event", "contact.status_changed"}}},
        {"steps", json::array({post_step("/status", {{"from", "{{data.previous_status|default:\"none\"}}"},
                                                     {"to", "{{data.status}}"},
                                                     {"who", "{{contact.id}}"}})})}},
       {{"name", "vip offer"},
        {"trigger", {{"event", "promo.due"}}},
        {"filter", {{"field", "contact.status"}, {"op", "="}, {"value", "VIP"}}},
        {"steps", json::array({post_step("/vip", {{"who", "{{contact.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "reg"}, {"type", "client.registered"}, {"contact", {{"id", "C7"}, {"status", "Новый"}}}});
  ASSERT_EQ(sink.wait_for(1).size(), 1u) << host.log();
  for (int visit = 1; visit <= 3; ++visit)
    post(host, {{"id", "visit-" + std::to_string(visit)},
                {"type", "visit.completed"},
                {"contact", {{"id", "C7"}}},
                {"data", {{"visit", visit}}}});
  ASSERT_EQ(sink.wait_for(2).size(), 2u) << host.log();
  post(host, {{"id", "promo-1"}, {"type", "promo.due"}, {"contact", {{"id", "C7"}}}});
  const auto got = sink.wait_for(3);
  ASSERT_EQ(got.size(), 3u) << host.log();
  EXPECT_EQ(json::parse(got[0].body), json::parse(R"({"from":"none","to":"Новый","who":"C7"})"));
  EXPECT_EQ(json::parse(got[1].body), json::parse(R"({"from":"Новый","to":"VIP","who":"C7"})"));
  EXPECT_EQ(got[2].uri, "/vip");
  EXPECT_EQ(admin_get(host, "/api/v1/contacts/C7")["data"]["status"], "VIP");
  // A status of no pipeline step is refused by validate, at its path.
  const auto dir = make_temp_dir("sb_contact_status");
  json config = host_config(sink, rules);
  config["rules"][0]["steps"][0]["params"]["status"] = "vip";
  std::ofstream(dir / "bad.json") << config.dump();
  auto [code, out] = run_switchboard({"validate", "--config", (dir / "bad.json").string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("/rules/0/steps/0/params/status"), std::string::npos) << out;
}

// SendPulse's "replace variable" and a deal field, written by rules: the
// change is an event with the old and new values, which the next rule reads.
TEST(CrmScenarios, AFieldARuleSetsIsAChangeTheNextRuleSees) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "paid"},
        {"trigger", {{"event", "order.paid"}}},
        {"steps",
         json::array(
             {{{"action", "crm.set_field"}, {"params", {{"field", "budget_deal"}, {"value", "{{data.sum}}"}}}},
              {{"action", "crm.set_field"}, {"params", {{"field", "last_order"}, {"value", "{{data.order}}"}}}},
              {{"action", "crm.remove_tag"}, {"params", {{"tag", "lead"}}}},
              {{"action", "crm.create_deal"},
               // Its manager by a CRM's numeric id, as crm.set_responsible takes one.
               {"params",
                {{"type", "order"}, {"title", "Заказ {{data.order}}"}, {"status", "new"}, {"responsible", 42}}}}})}},
       {{"name", "new order"},
        {"trigger", {{"event", "order.created"}}},
        {"steps", json::array({post_step("/order", {{"title", "{{title_deal}}"},
                                                    {"status", "{{entity.status}}"},
                                                    {"manager", "{{entity.responsible.0.id}}"}})})}},
       {{"name", "budget"},
        {"trigger", {{"event", "deal.field_changed"}}},
        {"steps", json::array({post_step("/budget", {{"from", "{{data.old}}"}, {"to", "{{data.new}}"}})})}},
       {{"name", "untagged"},
        {"trigger", {{"event", "contact.tag_removed"}}},
        {"steps", json::array({post_step("/untagged", {{"tag", "{{data.tag}}"}})})}}});
  json config = host_config(sink, rules);
  // Named by its file, the bundled crm plugin has the records as by its name.
  config["instances"]["crm"]["plugin"] = std::string(SB_PLUGIN_DIR) + "/crm.so";
  HostProcess host(config);
  post(host, {{"id", "o-1"},
              {"type", "order.paid"},
              {"contact", {{"id", "C2"}, {"tags", {"lead", "newsletter"}}}},
              {"entity", {{"type", "deal"}, {"id", "D2"}, {"fields", {{"budget", 500}}}}},
              {"data", {{"sum", 1500}, {"order", "A-17"}}}});
  const auto got = sink.wait_for(3);
  ASSERT_EQ(got.size(), 3u) << host.log();
  std::map<std::string, json> by_path;
  for (const auto& r : got) by_path[r.uri] = json::parse(r.body);
  EXPECT_EQ(by_path["/budget"], json::parse(R"({"from":500,"to":1500})"));
  EXPECT_EQ(by_path["/order"], json::parse(R"({"title":"Заказ A-17","status":"new","manager":"42"})"));
  EXPECT_EQ(by_path["/untagged"], json::parse(R"({"tag":"lead"})"));
  const json contact = admin_get(host, "/api/v1/contacts");
  ASSERT_EQ(contact["items"].size(), 1u);
  EXPECT_EQ(contact["items"][0]["data"]["fields"]["last_order"], "A-17");
  EXPECT_EQ(contact["items"][0]["data"]["tags"], json::parse(R"(["newsletter"])"));
}

// SendPulse's deals from a site's form: the form names no contact, so the
// rule makes one and gives the deal to it; rules on the new deal reach the
// person (and a tag goes to them by the address).
TEST(CrmScenarios, ADealARuleMakesFromAFormBelongsToTheContactItMade) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "form"},
        {"trigger", {{"event", "form.submitted"}}},
        {"steps", json::array({{{"action", "crm.create_contact"},
                                {"params", {{"contact", {{"email", "{{data.email}}"}, {"name", "{{data.name}}"}}}}}},
                               {{"action", "crm.create_deal"},
                                {"params", {{"title", "Заявка с сайта"}, {"contact", "email:{{data.email}}"}}}},
                               {{"action", "crm.add_tag"},
                                {"params", {{"tag", "site"}, {"contact", "email:{{data.email}}"}}}}})}},
       {{"name", "new deal"},
        {"trigger", {{"event", "deal.created"}}},
        {"steps", json::array({post_step("/deal", {{"title", "{{title_deal}}"},
                                                   {"client", "{{contact.name}}"},
                                                   {"email", "{{contact.emails.0.address}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "f-1"}, {"type", "form.submitted"}, {"data", {{"email", "anna@example.com"}, {"name", "Анна"}}}});
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(got[0].body),
            json::parse(R"({"title": "Заявка с сайта", "client": "Анна", "email": "anna@example.com"})"));
  // The tag comes with the rule's last step, which may end after the other rule posted.
  const json contact = admin_wait(host, "/api/v1/contacts/email:anna@example.com",
                                  [](const json& c) { return c["data"].contains("tags"); });
  EXPECT_EQ(contact["data"]["tags"], json::parse(R"(["site"])")) << contact.dump();
}

// Bitrix24's "change the responsible": a big deal goes to the head of sales;
// the hand-over is an event, which notifies the new manager with the old
// one's name, and the deal's {{Менеджер}} is the new manager from then on.
TEST(CrmScenarios, ADealHandedToAnotherManagerNotifiesTheNewOneAndKeepsThem) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "big deals to the head"},
        {"trigger", {{"event", "deal.created"}}},
        {"filter", {{"field", "entity.fields.budget"}, {"op", ">="}, {"value", 100000}}},
        {"steps", json::array({{{"action", "crm.set_responsible"},
                                {"params", {{"responsible", {{"id", "{{data.head}}"}, {"name", "Ольга"}}}}}},
                               post_step("/after", {{"manager", "{{Менеджер}}"}})})}},
       {{"name", "handed over"},
        {"trigger", {{"event", "deal.responsible_changed"}}},
        {"steps", json::array({post_step("/handed", {{"to", "{{data.responsible.0.id}}"},
                                                     {"from", "{{data.previous.0.name}}"},
                                                     {"deal", "{{entity.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "d-big"},
              {"type", "deal.created"},
              {"contact", {{"id", "C7"}}},
              {"entity",
               {{"type", "deal"},
                {"id", "D7"},
                {"fields", {{"budget", 250000}}},
                {"responsible", {{{"id", "m1"}, {"name", "Анна"}}}}}},
              {"data", {{"head", "m9"}}}});
  const auto got = sink.wait_for(2);
  ASSERT_EQ(got.size(), 2u) << host.log();
  std::map<std::string, json> by_path;
  for (const auto& r : got) by_path[r.uri] = json::parse(r.body);
  EXPECT_EQ(by_path["/handed"], json::parse(R"({"to":"m9","from":"Анна","deal":"D7"})"));
  EXPECT_EQ(by_path["/after"], json::parse(R"({"manager":"Ольга"})"));
  const json deals = admin_get(host, "/api/v1/entities?type=deal");
  ASSERT_EQ(deals["items"].size(), 1u);
  EXPECT_EQ(deals["items"][0]["data"]["responsible"], json::parse(R"([{"id":"m9","name":"Ольга"}])"));
}

// A change that cannot be made fails its step with the field at fault, and
// stores nothing.
TEST(CrmScenarios, AStatusOutsideThePipelineFailsTheStepNamingTheField) {
  HttpSink sink;
  json rules = json::array({{{"name", "bad status"},
                             {"trigger", {{"event", "visit.completed"}}},
                             {"steps", json::array({{{"action", "crm.set_status"},
                                                     {"params",
                                                      {{"entity", {{"type", "client"}, {"id", "{{contact.id}}"}}},
                                                       {"pipeline", "clients"},
                                                       {"status", "{{data.level}}"}}}}})}}});
  // A literal status outside the pipeline is a validate error (config_test); one from the event fails the step.
  HostProcess host(host_config(sink, rules));
  post(host,
       {{"id", "v-1"}, {"type", "visit.completed"}, {"contact", {{"id", "C3"}}}, {"data", {{"level", "Золотой"}}}});
  const json failed =
      admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << host.log();
  const std::string error = failed["executions"][0]["error"];
  EXPECT_NE(error.find("/status: 'Золотой' is not a status of pipeline 'clients'"), std::string::npos) << error;
  EXPECT_TRUE(admin_get(host, "/api/v1/entities?type=client")["items"].empty());
}

json task_step(const std::string& title, json extra = json::object()) {
  json params{{"title", title}};
  params.update(extra);
  return {{"action", "tasks.create"}, {"params", std::move(params)}};
}

json lead(const std::string& id, std::optional<std::string> status) {
  json event{{"id", id},
             {"type", "lead.changed"},
             {"contact", {{"id", "S1"}, {"name", "Пётр"}}},
             {"entity", {{"type", "lead"}, {"id", "L1"}, {"pipeline", "students"}, {"responsible", {{{"id", "m1"}}}}}}};
  if (status) event["entity"]["status"] = *status;
  return event;
}

json tasks_of(const HostProcess& host, size_t expected) {
  return admin_wait(host, "/api/v1/tasks", [&](const json& j) { return j["items"].size() >= expected; })["items"];
}

// A dead letter a rule's own mistake made (a task method the instance does
// not have) is retried on the mended rule, at the step it stopped at: the
// event is not lost to the fix. Without asking, a retry runs the version the
// execution began with, and fails again.
TEST(CrmScenarios, ADeadLetterIsRetriedOnTheMendedRule) {
  HttpSink sink;
  const auto rules_with = [](const std::string& method) {
    return json::array({{{"name", "call"},
                         {"trigger", {{"event", "client.registered"}}},
                         {"steps", json::array({post_step("/hello", {{"client", "{{contact.id}}"}}),
                                                task_step("Позвонить {{contact.id}}", {{"method", method}})})}}});
  };
  json config = host_config(sink, rules_with("visit"));
  HostProcess before(config);
  post(before,
       {{"id", "r-1"}, {"type", "client.registered"}, {"contact", {{"id", "C1"}, {"responsible", {{{"id", "m1"}}}}}}});
  const json failed =
      admin_wait(before, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << before.log();
  const int64_t id = failed["executions"][0]["id"];
  before.stop();
  // Mended with a step put before it: the step at its place is another one now.
  json moved = rules_with("call");
  moved[0]["steps"].insert(moved[0]["steps"].begin(), post_step("/first", json::object()));
  config["rules"] = moved;
  HostProcess edited(config, {}, before.dir());
  const HttpResult refused =
      http_request(edited.port(), "POST", "/api/v1/executions/" + std::to_string(id) + "/retry",
                   R"({"version": "current"})", {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_EQ(refused.status, 409) << refused.body;
  edited.stop();
  config["rules"] = rules_with("call");  // mended
  HostProcess host(config, {}, before.dir());
  const auto retry = [&](const std::string& body) {
    return http_request(host.port(), "POST", "/api/v1/executions/" + std::to_string(id) + "/retry", body,
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  EXPECT_EQ(retry(R"({"version": "newest"})").status, 400);
  ASSERT_EQ(retry("").status, 200);  // its own version: the same mistake
  std::this_thread::sleep_for(300ms);
  admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  const HttpResult mended = retry(R"({"version": "current"})");
  ASSERT_EQ(mended.status, 200) << mended.body;
  const json done =
      admin_wait(host, "/api/v1/executions?state=done", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(done["executions"].size(), 1u) << admin_get(host, "/api/v1/executions/" + std::to_string(id)).dump();
  EXPECT_EQ(sink.count(), 1u);  // the step before it is not run again
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0]["title"], "Позвонить C1");
  EXPECT_EQ(tasks[0]["method"], "call");
  const json one = admin_get(host, "/api/v1/executions/" + std::to_string(id));
  EXPECT_TRUE(std::any_of(one["history"].begin(), one["history"].end(), [](const json& entry) {
    return entry.contains("version");
  })) << one.dump();
}

// A CRM that numbers its records (Bitrix24's deal 555) names them with
// numbers in its events' data: a template that is all "{{data.deal_id}}"
// keeps the number, and the crm, tasks and segments actions take it as the
// record's id, the text of the number.
TEST(CrmScenarios, NumericIdsFromAnEventNameTheRecordsOfTheActions) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "paid"},
        {"trigger", {{"event", "payment.received"}}},
        {"steps",
         json::array(
             {{{"action", "crm.set_status"},
               {"params", {{"entity", {{"type", "deal"}, {"id", "{{data.deal_id}}"}}}, {"status", "Оплачено"}}}},
              {{"action", "crm.add_tag"}, {"params", {{"contact", "{{data.client_id}}"}, {"tag", "paid"}}}},
              {{"action", "seg.add"}, {"params", {{"contact", "{{data.client_id}}"}, {"segment", "VIP"}}}},
              task_step("Позвонить", {{"about", {{"type", "deal"}, {"id", "{{data.deal_id}}"}}},
                                      {"assignee", {{"id", "{{data.manager_id}}"}}}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "d-1"},
              {"type", "deal.created"},
              {"contact", {{"id", 77}}},
              {"entity", {{"type", "deal"}, {"id", 555}, {"status", "Новая"}}}});
  post(host, {{"id", "p-1"},
              {"type", "payment.received"},
              {"contact", {{"id", 77}}},
              {"data", {{"deal_id", 555}, {"client_id", 77}, {"manager_id", 9}}}});
  const json done = admin_wait(host, "/api/v1/executions?rule=paid&state=done",
                               [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(done["executions"].size(), 1u) << admin_get(host, "/api/v1/executions?rule=paid").dump() << host.log();
  const HttpResult deal = http_request(host.port(), "GET", "/api/v1/entities/deal/555", "",
                                       {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_EQ(deal.json()["status"], "Оплачено") << deal.body;
  const json contact = admin_get(host, "/api/v1/contacts/77");
  EXPECT_EQ(contact["data"]["tags"], json::array({"paid"})) << contact.dump();
  EXPECT_EQ(admin_get(host, "/api/v1/segments/VIP/members")["items"].size(), 1u);
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0]["about"], json::parse(R"({"type": "deal", "id": "555"})"));
  EXPECT_EQ(tasks[0]["assignee"]["id"], "9");
}

// HolliHop, example 2: a rule on each of [Нет], "Первичный контакт" and
// "Записан на пробное" gives a lead that goes through all three three tasks.
TEST(CrmScenarios, HollihopSingleStatusRulesGiveOneTaskPerStatusEntered) {
  HttpSink sink;
  json rules = json::array();
  for (const json& status : {json(nullptr), json("Первичный контакт"), json("Записан на пробное")})
    rules.push_back({{"name", "task on " + (status.is_null() ? std::string("none") : status.get<std::string>())},
                     {"trigger", {{"entity", "lead"}, {"status", status}}},
                     {"steps", json::array({task_step("Позвонить: {{entity.status|default:\"Нет\"}}")})}});
  HostProcess host(host_config(sink, rules));
  post(host, lead("l-1", std::nullopt));  // created with no status: [Нет]
  post(host, lead("l-2", "Первичный контакт"));
  post(host, lead("l-3", "Записан на пробное"));
  const json tasks = tasks_of(host, 3);
  ASSERT_EQ(tasks.size(), 3u) << host.log();
  std::multiset<std::string> titles;
  for (const json& t : tasks) titles.insert(t["title"].get<std::string>());
  EXPECT_EQ(titles.size(), 3u);
  EXPECT_EQ(tasks[0]["assignee"]["id"], "m1");
  EXPECT_EQ(tasks[0]["status"], "open");
  EXPECT_EQ(tasks[0]["about"], json::parse(R"({"type":"lead","id":"L1"})"));
}

// HolliHop, example 3: one rule over the range gives exactly one task, in
// whatever order the lead moves.
TEST(CrmScenarios, HollihopOneRangeRuleGivesOneTaskWhateverTheOrder) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "range"},
        {"trigger", {{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", "Записан на пробное"}}},
        {"steps", json::array({task_step("Первый контакт")})}}});
  HostProcess host(host_config(sink, rules));
  post(host, lead("l-1", "Записан на пробное"));
  post(host, lead("l-2", "Первичный контакт"));
  post(host, lead("l-3", std::nullopt));
  post(host, lead("l-4", "Записан на пробное"));
  tasks_of(host, 1);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(tasks_of(host, 1).size(), 1u) << host.log();
}

// MatrixCRM's own words for a task: "Сегодня до 18:00", priority
// "Средняя", a reminder "за 1 час" (the account's time zone, Omsk).
TEST(CrmScenarios, MatrixATaskWrittenInTheReferenceCrmsWords) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "call back"},
        {"trigger", {{"entity", "deal"}, {"status", "Ждёт звонка"}}},
        {"steps", json::array({task_step(
                      "Перезвонить",
                      {{"deadline", "Сегодня 18:00"},
                       {"priority", "Средняя"},
                       {"reminder", "за 1 час"},
                       {"assignee", "all"},
                       {"tags", {"звонок"}},
                       {"comments", "Клиент просил звонить после обеда ({{entity.id}})"},
                       {"attachments", {{{"url", "https://files.example.com/d7.pdf"}, {"name", "Договор.pdf"}}}}})})}},
       {{"name", "remind earlier"},
        {"trigger", {{"event", "task.remind_earlier"}}},
        {"steps", json::array({{{"action", "tasks.update"},
                                {"params", {{"id", "{{data.task}}"}, {"reminder", "за 2 часа"}}}}})}}});
  HostProcess host(host_config(sink, rules));
  post(host, json::parse(R"({"id": "d-7", "type": "deal.status_changed",
                             "entity": {"type": "deal", "id": "D7", "status": "Ждёт звонка"}})"));
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  EXPECT_EQ(tasks[0]["priority"], "medium");
  EXPECT_EQ(tasks[0]["deadline"].get<std::string>().substr(10), "T12:00:00Z");  // 18:00 in Omsk
  EXPECT_EQ(tasks[0]["reminder"].get<std::string>().substr(10), "T11:00:00Z");
  // The seed's "additional parameters": tags, comments (kept as a list) and attachments.
  EXPECT_EQ(tasks[0]["tags"], json::array({"звонок"}));
  EXPECT_EQ(tasks[0]["comments"], json::array({"Клиент просил звонить после обеда (D7)"}));
  EXPECT_EQ(tasks[0]["attachments"],
            json::parse(R"([{"url":"https://files.example.com/d7.pdf","name":"Договор.pdf"}])"));
  // "за 2 часа" with no new deadline: before the one the task has.
  const std::string id = tasks[0]["id"];
  post(host, {{"id", "r-7"}, {"type", "task.remind_earlier"}, {"data", {{"task", id}}}});
  const json earlier = admin_wait(host, "/api/v1/tasks", [&](const json& j) {
    for (const json& t : j["items"])
      if (t["id"] == id && t.value("reminder", "").ends_with("T10:00:00Z")) return true;
    return false;
  });
  bool moved = false;
  for (const json& t : earlier["items"]) moved = moved || t.value("reminder", "").ends_with("T10:00:00Z");
  EXPECT_TRUE(moved) << earlier.dump() << host.log();
}

// HolliHop's "task template, chosen from those in the settings": the task's
// words live in the config's templates, and the step's own params win.
TEST(CrmScenarios, HollihopATaskFromATemplateInTheSettings) {
  HttpSink sink;
  json rules = json::array({{{"name", "first call"},
                             {"trigger", {{"entity", "lead"}, {"status", "Первичный контакт"}}},
                             {"steps", json::array({{{"action", "tasks.create"},
                                                     {"template", "call the lead"},
                                                     {"params", {{"priority", "high"}}}}})}}});
  json config = host_config(sink, rules);
  config["templates"] = {{"call the lead",
                          {{"channel", "task"},
                           {"description", "Пригласить {{contact.name}} на пробное занятие"},
                           {"title", "Позвонить, пригласить на пробное: {{contact.name}}"},
                           {"priority", "low"},
                           {"deadline", "today 18:00"},
                           {"assignee", "all"}}}};
  HostProcess host(config);
  post(host, json::parse(R"({"id": "l-1", "type": "lead.created", "contact": {"id": "S1", "name": "Пётр"},
                             "entity": {"type": "lead", "id": "L1", "status": "Первичный контакт"}})"));
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  EXPECT_EQ(tasks[0]["title"], "Позвонить, пригласить на пробное: Пётр");
  EXPECT_EQ(tasks[0]["description"], "Пригласить Пётр на пробное занятие");     // a task template's is the task's
  EXPECT_EQ(tasks[0]["priority"], "high");                                      // the step's own
  EXPECT_EQ(tasks[0]["deadline"].get<std::string>().substr(10), "T12:00:00Z");  // 18:00 in Omsk
}

// Bitrix24: a task for every responsible manager of the deal, due today at
// 18:00 in the account's time zone; a manager closes one through the API,
// and a rule on the task's status hears of it.
TEST(CrmScenarios, BitrixATaskForEveryResponsibleManagerThatTheApiCloses) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "follow up"},
        {"trigger", {{"entity", "deal"}, {"status", "Ждёт звонка"}}},
        {"steps", json::array({task_step("Позвонить по сделке {{entity.id}}", {{"deadline", "today 18:00"},
                                                                               {"method", "call"},
                                                                               {"priority", "high"},
                                                                               {"reminder", "1 hour before"},
                                                                               {"assignee", "each_responsible"}})})}},
       {{"name", "remind earlier"},
        {"trigger", {{"event", "task.remind_earlier"}}},
        {"steps", json::array({{{"action", "tasks.update"},
                                {"params", {{"id", "{{data.task}}"}, {"reminder", "{{data.before}} before"}}}}})}},
       {{"name", "task done"},
        {"trigger", {{"entity", "task"}, {"status", "done"}}},
        {"steps", json::array({post_step(
                      "/done", {{"task", "{{entity.fields.title}}"}, {"by", "{{entity.responsible.0.id}}"}})})}},
       {{"name", "deadline moved"},
        {"trigger", {{"event", "task.field_changed"}}},
        {"filter", {{"data.field", "deadline"}}},
        {"steps", json::array({post_step("/moved", {{"task", "{{entity.id}}"},
                                                    {"to", "{{data.new}}"},
                                                    {"manager", "{{entity.responsible.0.name}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, json::parse(R"({"id": "d-1", "type": "deal.status_changed",
                             "entity": {"type": "deal", "id": "D9", "status": "Ждёт звонка",
                                        "responsible": [{"id": "m1", "name": "Ольга"}, {"id": "m2", "name": "Иван"}]}})"));
  const json tasks = tasks_of(host, 2);
  ASSERT_EQ(tasks.size(), 2u) << host.log();
  std::set<std::string> managers;
  for (const json& t : tasks) {
    managers.insert(t["assignee"]["id"].get<std::string>());
    EXPECT_EQ(t["title"], "Позвонить по сделке D9");
    EXPECT_EQ(t["method"], "call");
    EXPECT_EQ(t["priority"], "high");
    const std::string deadline = t["deadline"];  // 18:00 in Omsk is 12:00 UTC
    EXPECT_EQ(deadline.substr(10), "T12:00:00Z");
    EXPECT_EQ(t["reminder"].get<std::string>().substr(10), "T11:00:00Z");
  }
  EXPECT_EQ(managers, (std::set<std::string>{"m1", "m2"}));

  const std::string id = tasks[0]["id"];
  // "2 hours before" with no new deadline: before the one the task has.
  post(host, {{"id", "r-1"}, {"type", "task.remind_earlier"}, {"data", {{"task", id}, {"before", "2 hours"}}}});
  const json earlier = admin_wait(host, "/api/v1/tasks", [&](const json& j) {
    for (const json& t : j["items"])
      if (t["id"] == id && t.value("reminder", "").ends_with("T10:00:00Z")) return true;
    return false;
  });
  EXPECT_EQ(std::count_if(earlier["items"].begin(), earlier["items"].end(),
                          [](const json& t) { return t.value("reminder", "").ends_with("T10:00:00Z"); }),
            1)
      << earlier.dump();
  post(host, {{"id", "r-2"}, {"type", "task.remind_earlier"}, {"data", {{"task", "nope"}, {"before", "1 hour"}}}});
  const json failed =
      admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << host.log();
  EXPECT_NE(failed["executions"][0]["error"].get<std::string>().find("there is no task 'nope'"), std::string::npos)
      << failed.dump();
  const auto patch = [&](const std::string& task, const std::string& body) {
    std::string encoded;
    Poco::URI::encode(task, "/:?#[]@!$&'()*+,;= ", encoded);
    return http_request(host.port(), "PATCH", "/api/v1/tasks/" + encoded, body,
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  EXPECT_EQ(patch(id, R"({"status":"finished"})").status, 400);
  EXPECT_EQ(patch("nope", R"({"status":"done"})").status, 404);
  EXPECT_EQ(patch(id, R"({"status":"done","result":7})").status, 400);
  // Not JSON, or a key this does not change: said so.
  const HttpResult broken = patch(id, R"({"status":)");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(broken.json()["error"]["code"], "invalid_json");
  const HttpResult other = patch(id, R"({"status":"cancelled","deadline":"tomorrow"})");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.json()["error"]["message"].get<std::string>().rfind("/deadline: expected an RFC 3339 time", 0), 0u)
      << other.body;
  // Put off and given to another manager: a rule on the deadline's change
  // hears of it and names the new manager.
  ASSERT_EQ(patch(id, R"({"deadline":"2030-01-01T10:00:00Z","assignee":{"id":"m9","name":"Анна"}})").status, 200);
  const auto moved = sink.wait_for(1);
  ASSERT_EQ(moved.size(), 1u) << host.log();
  EXPECT_EQ(moved[0].uri, "/moved");
  EXPECT_EQ(json::parse(moved[0].body),
            json({{"task", id}, {"to", format_time_ms(*parse_time_ms("2030-01-01T10:00:00Z"))}, {"manager", "Анна"}}));
  const HttpResult done = patch(id, R"({"status":"done","result":"Дозвонились, записан на пятницу"})");
  ASSERT_EQ(done.status, 200) << done.body;
  auto got = sink.wait_for(2);
  ASSERT_EQ(got.size(), 2u) << host.log();
  got.erase(got.begin());
  EXPECT_EQ(json::parse(got[0].body)["task"], "Позвонить по сделке D9");
  EXPECT_EQ(json::parse(got[0].body)["by"], "m9");
  const json closed = admin_get(host, "/api/v1/tasks?status=done")["items"];
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]["result"], "Дозвонились, записан на пятницу");  // what came of it
  // One task by its id, as the list shows it.
  std::string encoded;
  Poco::URI::encode(id, "/:?#[]@!$&'()*+,;= ", encoded);
  const json one = admin_get(host, "/api/v1/tasks/" + encoded);
  EXPECT_EQ(one, closed[0]);
  EXPECT_EQ(
      http_request(host.port(), "GET", "/api/v1/tasks/nope", "", {{"Authorization", std::string("Bearer ") + kAdmin}})
          .status,
      404);
  const HttpResult removal = http_request(host.port(), "DELETE", "/api/v1/tasks/" + encoded, "",
                                          {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_EQ(removal.status, 405);
  EXPECT_EQ(removal.headers.at("allow"), "GET, PATCH");
  EXPECT_EQ(admin_get(host, "/api/v1/tasks?status=open&field.assignee.id=" +
                                tasks[1]["assignee"]["id"].get<std::string>())["items"]
                .size(),
            1u);
}

// HolliHop, "Исполнитель: Ответственные": one task, every responsible
// manager of the lead named in it; each finds it among their own tasks.
TEST(CrmScenarios, HollihopOneTaskNamesEveryResponsibleManager) {
  HttpSink sink;
  json rules = json::array({{{"name", "call"},
                             {"trigger", {{"entity", "lead"}, {"status", "Первичный контакт"}}},
                             {"steps", json::array({task_step("Позвонить {{contact.name}}")})}}});
  HostProcess host(host_config(sink, rules));
  json event = lead("l-1", "Первичный контакт");
  event["entity"]["responsible"] = json::parse(R"([{"id": "m1", "name": "Ольга"}, {"id": "7", "name": "Иван"}])");
  post(host, event);
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(admin_get(host, "/api/v1/tasks")["items"].size(), 1u);  // not one per manager
  EXPECT_EQ(tasks[0]["title"], "Позвонить Пётр");
  EXPECT_EQ(tasks[0]["assignee"]["id"], "m1");
  EXPECT_EQ(tasks[0]["assignees"], json::parse(R"([{"id": "m1", "name": "Ольга"}, {"id": "7", "name": "Иван"}])"));
  EXPECT_EQ(admin_get(host, "/api/v1/tasks?field.assignees.id=7")["items"].size(), 1u);
  EXPECT_EQ(admin_get(host, "/api/v1/tasks?field.assignees.id=m1")["items"].size(), 1u);
  EXPECT_TRUE(admin_get(host, "/api/v1/tasks?field.assignees.id=m9")["items"].empty());
}

// MatrixCRM: "a client registered → a task for the manager". An event about
// a contact alone: the task goes to the contact's responsible manager, and
// names the contact it is about; a contact with none fails naming it.
TEST(CrmScenarios, MatrixANewClientsTaskGoesToTheClientsOwnManager) {
  HttpSink sink;
  json rules = json::array({{{"name", "welcome call"},
                             {"trigger", {{"event", "contact.created"}}},
                             {"steps", json::array({task_step("Позвонить {{contact.name}}")})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "c-1"},
              {"type", "contact.created"},
              {"contact", {{"id", "C1"}, {"name", "Пётр"}, {"responsible", {{{"id", "m1"}, {"name", "Ольга"}}}}}}});
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  EXPECT_EQ(tasks[0]["title"], "Позвонить Пётр");
  EXPECT_EQ(tasks[0]["assignee"]["id"], "m1");
  EXPECT_EQ(tasks[0]["about"], (json{{"type", "contact"}, {"id", "C1"}}));
  post(host, {{"id", "c-2"}, {"type", "contact.created"}, {"contact", {{"id", "C2"}, {"name", "Анна"}}}});
  const json failed =
      admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << host.log();
  const std::string error = failed["executions"][0]["error"];
  EXPECT_NE(error.find("/assignee: the contact C2 has no responsible manager"), std::string::npos) << error;
  // No "ad_channels" in this config: the report says what to configure.
  const HttpResult report = http_request(host.port(), "GET", "/api/v1/analytics/channels", "",
                                         {{"Authorization", std::string("Bearer ") + kAdmin}});
  EXPECT_EQ(report.status, 404);
  EXPECT_EQ(report.json()["error"]["code"], "not_configured");
}

// HolliHop's assignee modes by the names its settings show ("Ответственные",
// "Для всех"); a misspelt mode is an error naming the one meant, not a
// manager called "responsibles".
TEST(CrmScenarios, HollihopAssigneeModesByTheirRussianNames) {
  HttpSink sink;
  const auto rule = [](const std::string& status, const std::string& assignee) {
    return json{{"name", assignee},
                {"trigger", {{"entity", "lead"}, {"status", status}}},
                {"steps", json::array({task_step("Задача: " + assignee, {{"assignee", assignee}})})}};
  };
  json rules = json::array({rule("Первичный контакт", "Ответственные"), rule("Записан на пробное", "Для всех"),
                            rule("Учится", "responsibles")});
  HostProcess host(host_config(sink, rules));
  json event = lead("l-1", "Первичный контакт");
  event["entity"]["responsible"] = json::parse(R"([{"id": "m1", "name": "Ольга"}, {"id": "m2", "name": "Иван"}])");
  post(host, event);
  post(host, lead("l-2", "Записан на пробное"));
  post(host, lead("l-3", "Учится"));
  const json tasks = tasks_of(host, 2);
  ASSERT_EQ(tasks.size(), 2u) << host.log();
  std::map<std::string, json> by_title;
  for (const json& t : tasks) by_title[t["title"]] = t;
  EXPECT_EQ(by_title["Задача: Ответственные"]["assignees"].size(), 2u) << tasks.dump();
  EXPECT_TRUE(by_title["Задача: Для всех"]["assignee"].is_null()) << tasks.dump();
  const json failed =
      admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << host.log();
  EXPECT_NE(failed["executions"][0]["error"].get<std::string>().find("(did you mean 'responsible'?)"),
            std::string::npos)
      << failed.dump();
}

// MatrixCRM's tasks as its help writes them: "Ответственный: {{Менеджер}}"
// is the client's manager (found by the name the template gives), and
// "{{Специалист}}" the specialist the booking names, who is no manager of
// the record: a manager known by that name.
TEST(CrmScenarios, MatrixATaskForTheManagerOrTheSpecialistNamedByATemplate) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "new client"},
        {"trigger", {{"event", "contact.created"}}},
        {"steps",
         json::array({task_step("Позвонить новому клиенту",
                                {{"assignee", "{{Менеджер}}"}, {"priority", "Высокая"}, {"deadline", "+1 day"}})})}},
       {{"name", "consultation"},
        {"trigger", {{"event", "booking.created"}}},
        {"steps", json::array({task_step("Консультация по услуге",
                                         {{"assignee", "{{Специалист}}"}, {"deadline", "В течение недели"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, json::parse(R"({"id": "c-1", "type": "contact.created", "contact": {"id": "C1", "name": "Анна",
      "responsible": [{"id": "m1", "name": "Ольга", "email": "olga@example.com"}]}})"));
  post(host, json::parse(R"({"id": "b-1", "type": "booking.created", "contact": {"id": "C1"},
      "entity": {"type": "booking", "id": "B1", "fields": {"specialist": "Ирина"},
                 "responsible": [{"id": "m2", "name": "Олег"}]}})"));
  const json tasks = tasks_of(host, 2);
  ASSERT_EQ(tasks.size(), 2u) << host.log();
  std::map<std::string, json> by_title;
  for (const json& t : tasks) by_title[t["title"]] = t;
  EXPECT_EQ(by_title["Позвонить новому клиенту"]["assignee"],
            json::parse(R"({"id": "m1", "name": "Ольга", "email": "olga@example.com"})"));
  EXPECT_EQ(by_title["Позвонить новому клиенту"]["priority"], "high");
  EXPECT_EQ(by_title["Консультация по услуге"]["assignee"], json::parse(R"({"id": "Ирина", "name": "Ирина"})"));
  EXPECT_EQ(admin_get(host, "/api/v1/tasks?field.assignees.id=m1")["items"].size(), 1u);
  // A CRM's numeric manager id, as a template keeps it: that manager.
  post(host, json::parse(R"({"id": "b-2", "type": "booking.created", "contact": {"id": "C1"},
      "entity": {"type": "booking", "id": "B2", "fields": {"specialist": 77},
                 "responsible": [{"id": 77, "name": "Олег"}]}})"));
  const json third = admin_wait(host, "/api/v1/tasks?field.assignees.id=77",
                                [](const json& j) { return !j["items"].empty(); })["items"];
  ASSERT_EQ(third.size(), 1u) << host.log();
  EXPECT_EQ(third[0]["assignee"], json::parse(R"({"id": "77", "name": "Олег"})"));
}

// A task about a deal named by the step (not the event's own) goes to that
// deal's responsible manager; given to another later, it names them.
TEST(CrmScenarios, ATaskAboutANamedDealGoesToItsManagerAndAReassignmentNamesTheNewOne) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "call back"},
        {"trigger", {{"event", "call.finished"}}},
        {"steps", json::array({task_step("Перезвонить", {{"about", {{"type", "deal"}, {"id", "{{data.deal}}"}}}})})}},
       {{"name", "for all"},
        {"trigger", {{"event", "call.missed"}}},
        {"steps",
         json::array({task_step("Для всех", {{"about", {{"type", "deal"}, {"id", "D7"}}}, {"assignee", "all"}})})}},
       {{"name", "hand over"},
        {"trigger", {{"event", "task.handed_over"}}},
        {"steps",
         json::array({{{"action", "tasks.update"},
                       {"params", {{"id", "{{data.task}}"}, {"assignee", {{"id", "m6"}, {"name", "Олег"}}}}}}})}}});
  HostProcess host(host_config(sink, rules));
  post(host, json::parse(R"({"id": "d7", "type": "deal.updated",
      "entity": {"type": "deal", "id": "D7", "responsible": [{"id": "m5", "name": "Анна", "email": "anna@shop.test"}]}})"));
  post(host, json::parse(R"({"id": "c1", "type": "call.finished", "contact": {"id": "S1"}, "data": {"deal": "D7"}})"));
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  EXPECT_EQ(tasks[0]["assignee"]["id"], "m5") << tasks[0].dump();
  EXPECT_EQ(tasks[0]["about"], json::parse(R"({"type": "deal", "id": "D7"})"));
  post(host, {{"id", "h1"}, {"type", "task.handed_over"}, {"data", {{"task", tasks[0]["id"]}}}});
  const json handed = admin_wait(host, "/api/v1/tasks", [](const json& j) {
    return !j["items"].empty() && j["items"][0]["assignee"]["id"] == "m6";
  })["items"];
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_EQ(handed[0]["assignee"], json::parse(R"({"id": "m6", "name": "Олег"})")) << handed[0].dump();
  EXPECT_EQ(handed[0]["responsible"], json::parse(R"([{"id": "m6", "name": "Олег"}])")) << handed[0].dump();
  // For all, about the deal named: no manager, and still about that deal.
  post(host, json::parse(R"({"id": "c2", "type": "call.missed", "contact": {"id": "S1"}})"));
  const json both = tasks_of(host, 2);
  ASSERT_EQ(both.size(), 2u) << host.log();
  for (const json& t : both)
    if (t["title"] == "Для всех") {
      EXPECT_EQ(t["about"], json::parse(R"({"type": "deal", "id": "D7"})")) << t.dump();
      EXPECT_TRUE(t.value("assignee", json()).is_null()) << t.dump();
    }
}

// A client's task (no deal: the task is about the contact) is cancelled by
// the client's next event as create found it; a rule that completes a task
// cancelled since leaves it cancelled; a reminder a template leaves empty
// is no reminder.
TEST(CrmScenarios, AClientsTaskIsCancelledByTheirNextEventAndStaysCancelled) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "call"},
        {"trigger", {{"event", "client.registered"}}},
        {"steps", json::array({task_step("Позвонить {{contact.id}}", {{"reminder", "{{data.remind|}}"}})})}},
       {{"name", "booked"},
        {"trigger", {{"event", "client.booked"}}},
        {"steps", json::array({{{"action", "tasks.cancel"}, {"params", json::object()}}})}},
       {{"name", "close"},
        {"trigger", {{"event", "task.close"}}},
        {"steps",
         json::array({{{"action", "tasks.complete"}, {"params", {{"id", "{{data.task}}"}, {"result", "late"}}}}})}}});
  HostProcess host(host_config(sink, rules));
  const json client{{"id", "CR1"}, {"responsible", {{{"id", "m1"}}}}};
  post(host, {{"id", "c-1"}, {"type", "client.registered"}, {"contact", client}});
  const json tasks = tasks_of(host, 1);
  ASSERT_EQ(tasks.size(), 1u) << host.log();
  EXPECT_EQ(tasks[0]["about"]["type"], "contact");
  EXPECT_FALSE(tasks[0].contains("reminder")) << tasks[0].dump();
  const std::string id = tasks[0]["id"];
  post(host, {{"id", "c-2"}, {"type", "client.booked"}, {"contact", client}});
  admin_wait(host, "/api/v1/tasks?status=cancelled", [](const json& j) { return j["items"].size() == 1; });
  post(host, {{"id", "c-3"}, {"type", "task.close"}, {"data", {{"task", id}}}});
  admin_wait(host, "/api/v1/executions?rule=close&state=done",
             [](const json& j) { return j["executions"].size() == 1; });
  const json cancelled = admin_get(host, "/api/v1/tasks?status=cancelled")["items"];
  ASSERT_EQ(cancelled.size(), 1u) << host.log();
  EXPECT_FALSE(cancelled[0].contains("result")) << cancelled.dump();
  EXPECT_TRUE(admin_get(host, "/api/v1/tasks?status=done")["items"].empty());
}

// SendPulse: "the deal is paid — delete the related tasks". The deal's open
// tasks are cancelled (and stay listed); one already done stays done, and
// another deal's task is untouched. A rule on a task's status hears of each.
TEST(CrmScenarios, SendPulseAPaidDealCancelsItsOpenTasksOnly) {
  HttpSink sink;
  const json cancel{{"name", "Cancel"}, {"action", "tasks.cancel"}, {"params", json::object()}};
  json rules = json::array(
      {{{"name", "call"},
        {"trigger", {{"entity", "deal"}, {"status", "Новая"}}},
        {"steps", json::array({task_step("Позвонить по сделке {{entity.id}}", {{"assignee", "each_responsible"}})})}},
       {{"name", "paid"},
        {"trigger", {{"entity", "deal"}, {"status", "Оплачено"}}},
        {"steps", json::array({cancel, post_step("/paid", {{"deal", "{{entity.id}}"},
                                                           {"cancelled", "{{steps.Cancel.output.tasks}}"}})})}},
       {{"name", "task cancelled"},
        {"trigger", {{"entity", "task"}, {"status", "cancelled"}}},
        {"steps", json::array({post_step("/cancelled", {{"task", "{{entity.id}}"}})})}},
       {{"name", "drop one"},
        {"trigger", {{"event", "task.drop"}}},
        {"steps", json::array({{{"name", "Drop"}, {"action", "tasks.cancel"}, {"params", {{"id", "{{data.task}}"}}}},
                               post_step("/dropped", {{"cancelled", "{{steps.Drop.output.tasks}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  const auto deal = [](const std::string& event, const std::string& id, const std::string& status) {
    return json{
        {"id", event},
        {"type", "deal.status_changed"},
        {"entity",
         {{"type", "deal"}, {"id", id}, {"status", status}, {"responsible", {{{"id", "m1"}}, {{"id", "m2"}}}}}}};
  };
  post(host, deal("d-1", "D1", "Новая"));
  post(host, deal("d-2", "D2", "Новая"));
  const json tasks = tasks_of(host, 4);
  ASSERT_EQ(tasks.size(), 4u) << host.log();
  std::vector<std::string> d1, d2;
  for (const json& t : tasks) (t["about"]["id"] == "D1" ? d1 : d2).push_back(t["id"]);
  ASSERT_EQ(d1.size(), 2u);
  std::string encoded;
  Poco::URI::encode(d1[0], "/:?#[]@!$&'()*+,;= ", encoded);
  ASSERT_EQ(http_request(host.port(), "PATCH", "/api/v1/tasks/" + encoded, R"({"status":"done"})",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            200);

  post(host, deal("d-3", "D1", "Оплачено"));
  const auto got = sink.wait_for(2);
  ASSERT_EQ(got.size(), 2u) << host.log();
  std::map<std::string, json> by_path;
  for (const auto& r : got) by_path[r.uri] = json::parse(r.body);
  EXPECT_EQ(by_path["/paid"]["deal"], "D1");
  EXPECT_EQ(by_path["/paid"]["cancelled"], json::array({d1[1]}));
  EXPECT_EQ(by_path["/cancelled"]["task"], d1[1]);
  const auto status_of = [&](const std::string& id) {
    const json listed = admin_get(host, "/api/v1/tasks");
    for (const json& t : listed["items"])
      if (t["id"] == id) return t["status"].get<std::string>();
    return std::string("missing");
  };
  EXPECT_EQ(status_of(d1[0]), "done");
  EXPECT_EQ(status_of(d1[1]), "cancelled");
  // When each was cancelled: the task analytics' as-it-stood reports read it.
  const json cancelled_tasks = admin_get(host, "/api/v1/tasks?status=cancelled");  // kept: the loop reads into it
  for (const json& t : cancelled_tasks["items"])
    EXPECT_TRUE(t.contains("cancelled_at") && t["cancelled_at"].is_string()) << t.dump();
  EXPECT_EQ(status_of(d2[0]), "open");
  EXPECT_EQ(status_of(d2[1]), "open");

  // Another deal's two tasks go the same way; a deal with none cancels nothing, and says so.
  post(host, deal("d-4", "D2", "Оплачено"));
  post(host, deal("d-5", "D3", "Оплачено"));
  const auto more = sink.wait_for(6);
  ASSERT_EQ(more.size(), 6u) << host.log();
  std::set<std::string> cancelled;
  std::map<std::string, json> paid;
  for (size_t i = 2; i < more.size(); ++i) {
    const json body = json::parse(more[i].body);
    if (more[i].uri == "/cancelled") cancelled.insert(body["task"].get<std::string>());
    if (more[i].uri == "/paid") paid[body["deal"]] = body["cancelled"];
  }
  EXPECT_EQ(cancelled, (std::set<std::string>{d2[0], d2[1]}));
  EXPECT_EQ(paid["D3"], json::array());

  // One task named by id, done since: it stays done, and the output says none was cancelled.
  post(host, json{{"id", "drop-1"}, {"type", "task.drop"}, {"data", {{"task", d1[0]}}}});
  const auto dropped = sink.wait_for(7);
  ASSERT_EQ(dropped.size(), 7u) << host.log();
  EXPECT_EQ(dropped[6].uri, "/dropped");
  EXPECT_EQ(json::parse(dropped[6].body)["cancelled"], json::array());
  EXPECT_EQ(status_of(d1[0]), "done");
  EXPECT_EQ(paid["D2"].size(), 2u);
}

// A reply books a trial lesson for a lead still at first contact (or one not
// seen before), but never moves a student back: "if_status" holds the change
// to the statuses named, and the step's output says whether it was made.
TEST(CrmScenarios, AReplyBooksATrialOnlyForALeadStillAtFirstContact) {
  HttpSink sink;
  json rules =
      json::array({{{"name", "reply"},
                    {"trigger", {{"event", "message.received"}}},
                    {"steps", json::array({{{"name", "Book"},
                                            {"action", "crm.set_status"},
                                            {"params",
                                             {{"entity", {{"type", "lead"}, {"id", "{{data.lead}}"}}},
                                              {"pipeline", "students"},
                                              {"status", "Записан на пробное"},
                                              {"if_status", {"Первичный контакт", nullptr}}}}},
                                           post_step("/replied", {{"lead", "{{data.lead}}"},
                                                                  {"booked", "{{steps.Book.output.changed}}"}})})}},
                   {{"name", "booked"},
                    {"trigger", {{"entity", "lead"}, {"status", "Записан на пробное"}}},
                    {"steps", json::array({post_step("/booked", {{"lead", "{{entity.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, lead("l-1", "Первичный контакт"));
  post(host, json{{"id", "l-2"},
                  {"type", "lead.changed"},
                  {"entity", {{"type", "lead"}, {"id", "L2"}, {"pipeline", "students"}, {"status", "Учится"}}}});
  const auto reply = [&](const std::string& id, const std::string& lead) {
    post(host, json{{"id", id}, {"type", "message.received"}, {"data", {{"lead", lead}}}});
  };
  reply("m-1", "L2");  // a student: stays one
  const auto first = sink.wait_for(1);
  ASSERT_EQ(first.size(), 1u) << host.log();
  EXPECT_EQ(first[0].uri, "/replied");
  EXPECT_EQ(json::parse(first[0].body), (json{{"lead", "L2"}, {"booked", false}}));
  reply("m-2", "L1");  // at first contact: booked
  reply("m-3", "L3");  // not seen before (no status): booked
  const auto got = sink.wait_for(5);
  ASSERT_EQ(got.size(), 5u) << host.log();
  std::multiset<std::string> seen;
  for (size_t i = 1; i < got.size(); ++i) seen.insert(got[i].uri + " " + json::parse(got[i].body).dump());
  EXPECT_EQ(seen, (std::multiset<std::string>{R"(/booked {"lead":"L1"})", R"(/booked {"lead":"L3"})",
                                              R"(/replied {"booked":true,"lead":"L1"})",
                                              R"(/replied {"booked":true,"lead":"L3"})"}));
  const json leads = admin_get(host, "/api/v1/entities?type=lead");
  std::map<std::string, json> status;
  for (const json& e : leads["items"]) status[e["id"].get<std::string>()] = e["status"];
  EXPECT_EQ(status["L1"], "Записан на пробное");
  EXPECT_EQ(status["L2"], "Учится");
  EXPECT_EQ(status["L3"], "Записан на пробное");
}

// "responsible" mode with nobody responsible fails the step with the field.
TEST(CrmScenarios, ATaskForTheResponsibleManagerOfADealWithNoneFailsNamingTheField) {
  HttpSink sink;
  json rules = json::array({{{"name", "follow up"},
                             {"trigger", {{"event", "deal.created"}}},
                             {"steps", json::array({task_step("Позвонить", {{"deadline", "+1 day"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, {{"id", "d-1"}, {"type", "deal.created"}, {"entity", {{"type", "deal"}, {"id", "D1"}}}});
  const json failed =
      admin_wait(host, "/api/v1/executions?state=failed", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(failed["executions"].size(), 1u) << host.log();
  const std::string error = failed["executions"][0]["error"];
  EXPECT_NE(error.find("/assignee: the deal D1 has no responsible manager"), std::string::npos) << error;
  EXPECT_TRUE(admin_get(host, "/api/v1/tasks")["items"].empty());
}

// An exception written as a branch with nothing in it (MatrixCRM's
// "исключения"): bookings made in the office get no SMS, every other does.
TEST(CrmScenarios, AnExceptionIsAnIfWhoseThenDoesNothing) {
  HttpSink sink;
  json rules =
      json::array({{{"name", "confirm"},
                    {"trigger", {{"event", "booking.created"}}},
                    {"steps", json::array({{{"if", {{"entity.fields.method", "offline"}}},
                                            {"then", json::array()},
                                            {"else", json::array({post_step("/sms", {{"to", "{{entity.id}}"}})})}},
                                           post_step("/done", {{"booking", "{{entity.id}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  post(host, json::parse(R"({"id": "b-1", "type": "booking.created",
                             "entity": {"type": "booking", "id": "B1", "fields": {"method": "offline"}}})"));
  post(host, json::parse(R"({"id": "b-2", "type": "booking.created",
                             "entity": {"type": "booking", "id": "B2", "fields": {"method": "call_in"}}})"));
  const auto got = sink.wait_for(3);
  std::multiset<std::string> seen;
  for (const auto& r : got) seen.insert(r.uri + " " + json::parse(r.body).dump());
  EXPECT_EQ(seen, (std::multiset<std::string>{R"(/done {"booking":"B1"})", R"(/done {"booking":"B2"})",
                                              R"(/sms {"to":"B2"})"}))
      << host.log();
}

// MatrixCRM "booking methods": a rule routes each booking to an advertising
// channel by its method, first match first (offline; then any call); the
// channels' report counts records, sales, conversion, average check and ROI.
TEST(CrmScenarios, MatrixBookingMethodsRouteBookingsToChannelsWithTheirRoi) {
  HttpSink sink;
  const auto channel = [](const std::string& name) {
    return json{{"action", "crm.set_field"}, {"params", {{"record", "entity"}, {"field", "channel"}, {"value", name}}}};
  };
  json rules = json::array(
      {{{"name", "booking method"},
        {"trigger", {{"event", "booking.created"}}},
        {"steps",
         json::array({{{"if", {{"entity.fields.method", "offline"}}},
                       {"then", json::array({channel("Оффлайн записи")})},
                       {"else", json::array({{{"if",
                                               {{"field", "entity.fields.method"},
                                                {"op", "in"},
                                                {"value", {"call_in", "call_out", "call_center"}}}},
                                              {"then", json::array({channel("Записи по телефону")})}}})}}})}}});
  json config = host_config(sink, rules);
  config["ad_channels"] = {{"entity", "booking"},
                           {"sale_statuses", {"done"}},
                           {"amount", "amount"},
                           {"costs", {{"Оффлайн записи", 1000}, {"Записи по телефону", 2000}, {"Instagram", 500}}}};
  HostProcess host(config);
  const auto booking = [&](const std::string& id, const std::string& method) {
    post(host, {{"id", "new-" + id},
                {"type", "booking.created"},
                {"entity", {{"type", "booking"}, {"id", id}, {"status", "new"}, {"fields", {{"method", method}}}}}});
  };
  const auto sold = [&](const std::string& id, int amount) {
    post(host, {{"id", "done-" + id},
                {"type", "booking.status_changed"},
                {"entity", {{"type", "booking"}, {"id", id}, {"status", "done"}, {"fields", {{"amount", amount}}}}}});
  };
  booking("B1", "offline");
  booking("B2", "offline");
  booking("B3", "call_in");
  booking("B4", "call_center");
  booking("B5", "site");  // no channel's method
  booking("B6", "call_out");
  sold("B1", 3000);
  sold("B3", 5000);
  sold("B4", 1000);
  // An amount as a CRM's form writes it.
  post(host,
       {{"id", "done-B6"},
        {"type", "booking.status_changed"},
        {"entity", {{"type", "booking"}, {"id", "B6"}, {"status", "done"}, {"fields", {{"amount", "1 500,50"}}}}}});
  json report;
  for (const auto deadline = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < deadline;) {
    report = admin_get(host, "/api/v1/analytics/channels");
    if (report["total"]["sales"] == 4 && report["channels"].contains("Оффлайн записи") &&
        report["channels"]["Оффлайн записи"]["records"] == 2 &&
        report["channels"]["Записи по телефону"]["records"] == 3)
      break;
    std::this_thread::sleep_for(50ms);
  }
  const json& offline = report["channels"]["Оффлайн записи"];
  EXPECT_EQ(offline["records"], 2) << report.dump() << host.log();
  EXPECT_EQ(offline["sales"], 1);
  EXPECT_DOUBLE_EQ(offline["conversion"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(offline["revenue"].get<double>(), 3000);
  EXPECT_DOUBLE_EQ(offline["average_check"].get<double>(), 3000);
  EXPECT_DOUBLE_EQ(offline["roi"].get<double>(), 2.0);  // (3000 - 1000) / 1000
  const json& calls = report["channels"]["Записи по телефону"];
  EXPECT_EQ(calls["sales"], 3);
  EXPECT_EQ(calls["sales_without_amount"], 0);
  EXPECT_DOUBLE_EQ(calls["revenue"].get<double>(), 7500.5);
  EXPECT_DOUBLE_EQ(calls["average_check"].get<double>(), 2500.17);  // in cents
  EXPECT_DOUBLE_EQ(calls["roi"].get<double>(), (7500.5 - 2000) / 2000);
  EXPECT_EQ(report["channels"][""]["records"], 1);  // B5: no channel took it
  EXPECT_EQ(report["channels"]["Instagram"]["records"], 0);
  EXPECT_DOUBLE_EQ(report["channels"]["Instagram"]["roi"].get<double>(), -1.0);  // it cost and brought nothing
  EXPECT_EQ(report["total"]["records"], 6);
  EXPECT_DOUBLE_EQ(report["total"]["revenue"].get<double>(), 10500.5);
  EXPECT_EQ(report["complete"], true);
  EXPECT_EQ(offline["revenue"].dump(), "3000");  // money: whole amounts as integers, else cents
  EXPECT_DOUBLE_EQ(report["total"]["roi"].get<double>(), (10500.5 - 3500) / 3500);  // over the channels with a cost
  // Exactly `limit` records read: still complete.
  EXPECT_EQ(admin_get(host, "/api/v1/analytics/channels?limit=6")["complete"], true);
  EXPECT_EQ(admin_get(host, "/api/v1/analytics/channels?limit=5")["complete"], false);
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/analytics/channels?updated_after=soon", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            400);
  // The bookings made in a period: all of them today, none in a later one.
  const json made = admin_get(host, "/api/v1/analytics/channels?created_after=2020-01-01T00:00:00Z");
  EXPECT_EQ(made["total"]["records"], 6) << made.dump();
  EXPECT_EQ(made["created_after"], "2020-01-01T00:00:00.000Z");
  EXPECT_EQ(admin_get(host, "/api/v1/analytics/channels?created_after=2999-01-01T00:00:00Z")["total"]["records"], 0);
}

// A booking reminder waits for the booking's time as the booking stands
// then: one moved later waits again for its new time; one cancelled
// meanwhile is not reminded (the rule reads its status after the wait).
TEST(CrmScenarios, ABookingReminderFollowsAMovedBookingAndSkipsACancelledOne) {
  HttpSink sink;
  const json cancelled = {{"field", "entity.status"}, {"op", "in"}, {"value", {"cancelled"}}};
  json rules = json::array(
      {{{"name", "reminder"},
        {"trigger", {{"event", "booking.created"}}},
        {"steps",
         json::array({{{"name", "before"}, {"wait_until", "entity.fields.starts_at"}, {"offset", "-1s"}},
                      {{"if", {{"not", cancelled}}},
                       {"then", json::array({post_step("/remind", {{"booking", "{{entity.id}}"},
                                                                   {"at", "{{entity.fields.starts_at}}"}})})}}})}}});
  HostProcess host(host_config(sink, rules));
  const int64_t start = now_ms();
  const auto booking = [&](const std::string& event, const std::string& type, const std::string& id, json entity) {
    entity["type"] = "booking";
    entity["id"] = id;
    post(host, {{"id", event}, {"type", type}, {"entity", std::move(entity)}});
  };
  const std::string moved_to = format_time_ms(start + 4500);
  booking("r1", "booking.created", "R1",
          {{"status", "new"}, {"fields", {{"starts_at", format_time_ms(start + 2500)}}}});
  booking("r2", "booking.created", "R2",
          {{"status", "new"}, {"fields", {{"starts_at", format_time_ms(start + 2500)}}}});
  booking("r1-moved", "booking.updated", "R1", {{"fields", {{"starts_at", moved_to}}}});
  booking("r2-cancelled", "booking.status_changed", "R2", {{"status", "cancelled"}});

  const auto got = sink.wait_for(1, 15s);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_GE(now_ms() - start, 3400);  // a second before the new time, not the first
  EXPECT_EQ(json::parse(got[0].body), (json{{"booking", "R1"}, {"at", moved_to}}));
  const json moved = admin_wait(host, "/api/v1/executions?rule=reminder&state=done",
                                [](const json& j) { return j["executions"].size() == 2; });
  ASSERT_EQ(moved["executions"].size(), 2u) << moved.dump();
  for (const json& e : moved["executions"]) {
    const json history = admin_get(host, "/api/v1/executions/" + std::to_string(e["id"].get<int64_t>()))["history"];
    ASSERT_GE(history.size(), 2u) << history.dump();
    EXPECT_EQ(history[0]["outcome"], "waiting") << history.dump();
    if (e["event_id"] == "r1") {
      EXPECT_EQ(history[1]["outcome"], "waiting") << history.dump();  // the new time
      EXPECT_EQ(history[1]["until"], format_time_ms(start + 3500)) << history.dump();
      EXPECT_EQ(history[2]["outcome"], "the time came") << history.dump();
    } else {
      EXPECT_EQ(history[1]["outcome"], "the time came") << history.dump();
    }
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 1u);  // R2 was cancelled
}

// Today's date in Omsk (UTC+6 all year), as "YYYY-MM-DD" or with another year.
std::string omsk_today(int year = 0) {
  const std::time_t now = std::time(nullptr) + 6 * 3600;
  std::tm tm{};
  gmtime_r(&now, &tm);
  char out[11];
  std::strftime(out, sizeof out, "%Y-%m-%d", &tm);
  std::string date = out;
  return year ? std::to_string(year) + date.substr(4) : date;
}

// A birthday greeting at a local time in Omsk, sent once even across a
// restart that day.
TEST(CrmScenarios, ABirthdayGreetingInOmskTimeIsSentOnceEvenAcrossARestart) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "birthday"},
        {"trigger", {{"special_date", "contact.fields.birthday"}, {"at", "00:00"}}},  // passed already today
        {"steps",
         json::array({{{"action", "wa.send_text"},
                       {"params",
                        {{"to", "{{contact.phones.0.number}}"},
                         {"text", "{{contact.name}}, с днём рождения! {{data.years}} — отличный возраст"}}}}})}}});
  json config = host_config(sink, rules);
  config["time_triggers"] = {{"check_every", "100ms"}};
  auto first = std::make_unique<HostProcess>(config);
  const auto dir = first->dir();
  post(*first, {{"id", "c-1"},
                {"type", "contact.updated"},
                {"contact",
                 {{"id", "B1"},
                  {"name", "Анна"},
                  {"timezone", "Asia/Omsk"},
                  {"phones", {{{"number", "+7 913 000-00-01"}}}},
                  {"fields", {{"birthday", omsk_today(1990)}}}}}});
  post(*first,
       {{"id", "c-2"},
        {"type", "contact.updated"},
        {"contact", {{"id", "B2"}, {"timezone", "Asia/Omsk"}, {"fields", {{"birthday", "1990-01-01T00:00:00Z"}}}}}});
  // The contacts are read once an hour: a restart reads them now.
  first->stop();
  HostProcess second(config, {}, dir);
  admin_wait(second, "/api/v1/executions?state=done&rule=birthday",
             [](const json& j) { return j["executions"].size() == 1; });
  std::vector<json> sent = outbox(second);
  ASSERT_EQ(sent.size(), 1u) << second.log();
  const std::string text = sent[0]["body"]["text"]["body"];
  EXPECT_EQ(text.substr(0, text.find('!')), "Анна, с днём рождения");
  EXPECT_NE(text.find(std::to_string(std::stoi(omsk_today().substr(0, 4)) - 1990) + " —"), std::string::npos) << text;
  second.stop();
  HostProcess third(config, {}, dir);  // the same day again
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(outbox(third).size(), 1u) << third.log();
  EXPECT_EQ(admin_get(third, "/api/v1/executions?rule=birthday")["executions"].size(), 1u);
}

// MatrixCRM's dynamic segments: "birthday this month" and "average check
// over 10,000" (an aggregate the host keeps from the orders). A contact moves as soon as an event changes it, once;
// each refresh (on the schedule, and at once for a segment new or defined
// anew) records the segment's size.
TEST(CrmScenarios, MatrixCrmDynamicSegmentsMoveContactsAsTheyChangeAndKeepTheirSize) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "entered"},
        {"trigger", {{"event", "segment.entered"}}},
        {"steps",
         json::array({post_step("/entered", {{"segment", "{{data.segment}}"}, {"who", "{{contact.id}}"}})})}}});
  json config = host_config(sink, rules);
  config["time_triggers"] = {{"check_every", "100ms"}};
  config["segments"]["birthdays"] = {
      {"description", "Именинники: день рождения в этом месяце"},
      {"filter", {{"field", "contact.fields.birthday"}, {"op", "anniversary"}, {"value", "this_month"}}}};
  config["segments"]["big_spenders"] = {
      {"description", "Клиенты со средним чеком более 10000"},
      {"filter", {{"field", "contact.aggregates.check.average"}, {"op", ">"}, {"value", 10000}}},
      {"refresh", "every day at 03:00"}};
  // A field by its short name, as a rule's filter reads it: contact.fields.Город.
  config["segments"]["omsk"] = {{"description", "Клиенты из Омска"}, {"filter", {{"Город", "Омск"}}}};
  config["aggregates"] = {{"check", {{"event", "order.paid"}, {"value", "data.amount"}}}};
  const int month = std::stoi(omsk_today().substr(5, 2));
  char far_birthday[16];
  std::snprintf(far_birthday, sizeof far_birthday, "1985-%02d-15", (month + 5) % 12 + 1);
  auto first = std::make_unique<HostProcess>(config);
  const auto dir = first->dir();
  post(*first, {{"id", "a-1"},
                {"type", "order.paid"},
                {"contact", {{"id", "A"}, {"fields", {{"birthday", omsk_today(1990)}, {"Город", "Омск"}}}}},
                {"data", {{"amount", 12000}}}});
  post(*first, {{"id", "b-1"},
                {"type", "order.paid"},
                {"contact", {{"id", "B"}, {"fields", {{"birthday", far_birthday}, {"Город", "Москва"}}}}},
                {"data", {{"amount", 5000}}}});
  const auto members = [](const HostProcess& host, const std::string& segment, size_t n) {
    std::set<std::string> ids;
    const json page = admin_wait(host, "/api/v1/segments/" + segment + "/members",
                                 [n](const json& j) { return j["items"].size() == n; });
    for (const json& c : page["items"]) ids.insert(c["data"]["id"].get<std::string>());
    return ids;
  };
  EXPECT_EQ(members(*first, "birthdays", 1), std::set<std::string>{"A"});
  EXPECT_EQ(members(*first, "big_spenders", 1), std::set<std::string>{"A"});
  EXPECT_EQ(members(*first, "omsk", 1), std::set<std::string>{"A"});
  // B's second order lifts the average check to 17,500.
  post(*first, {{"id", "b-2"}, {"type", "order.paid"}, {"contact", {{"id", "B"}}}, {"data", {{"amount", 30000}}}});
  EXPECT_EQ(members(*first, "big_spenders", 2), (std::set<std::string>{"A", "B"}));
  std::multiset<std::string> entered;
  for (const auto& r : sink.wait_for(4)) {
    const json body = json::parse(r.body);
    entered.insert(body.value("segment", "?") + " " + body.value("who", "?"));
  }
  EXPECT_EQ(entered, (std::multiset<std::string>{"big_spenders A", "big_spenders B", "birthdays A", "omsk A"}));

  // Restarted with big_spenders defined anew (its schedule): that one is
  // refreshed at once and finds them in already (sizes, and no one moved
  // twice); birthdays, unchanged, waits for its next scheduled refresh.
  first->stop();
  config["segments"]["big_spenders"]["refresh"] = "every day at 04:00";
  HostProcess second(config, {}, dir);
  const json history =
      admin_wait(second, "/api/v1/segments/big_spenders/history", [](const json& j) { return j["items"].size() == 2; });
  ASSERT_EQ(history["items"].size(), 2u) << second.log();
  EXPECT_EQ(history["items"][0]["size"], 2);  // newest first
  EXPECT_EQ(history["items"][0]["entered"], 0);
  EXPECT_EQ(history["items"][0]["left"], 0);
  std::map<std::string, json> listed;
  const json segments = admin_get(second, "/api/v1/segments");
  for (const json& s : segments["items"]) listed[s["name"]] = s;
  EXPECT_EQ(listed["big_spenders"]["size"], 2);  // the last refresh's
  EXPECT_EQ(listed["big_spenders"]["kind"], "dynamic");
  EXPECT_EQ(listed["birthdays"]["description"], "Именинники: день рождения в этом месяце");
  // A static one is counted once a day (here: when first seen; it has no members).
  EXPECT_EQ(listed["VIP"]["size"], 0) << segments.dump();
  EXPECT_EQ(admin_get(second, "/api/v1/segments/VIP/history")["items"].size(), 1u);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(admin_get(second, "/api/v1/segments/birthdays/history")["items"].size(), 1u);
  EXPECT_EQ(sink.count(), 4u);
}

// MatrixCRM's "manual addition, as the manager decides" on a dynamic
// segment: a contact put in by hand stays in, and one taken out stays out,
// as their orders change what the filter says; a reset lets the filter
// decide again.
TEST(CrmScenarios, AManagersChoiceOnADynamicSegmentStandsUntilReset) {
  HttpSink sink;  // hears of each order once the router has routed it (and checked its contact)
  json config =
      host_config(sink, json::array({{{"name", "orders"},
                                      {"trigger", {{"event", "order.paid"}}},
                                      {"steps", json::array({post_step("/order", {{"id", "{{event.id}}"}})})}}}));
  config["segments"]["big_spenders"] = {
      {"filter", {{"field", "contact.aggregates.check.average"}, {"op", ">"}, {"value", 10000}}}};
  config["aggregates"] = {{"check", {{"event", "order.paid"}, {"value", "data.amount"}}}};
  HostProcess host(config);
  const auto order = [&](const std::string& id, const std::string& who, int amount) {
    post(host, {{"id", id}, {"type", "order.paid"}, {"contact", {{"id", who}}}, {"data", {{"amount", amount}}}});
  };
  // The members, once they are `expected` (or as they are after 15 s).
  const auto members = [&](const std::set<std::string>& expected) {
    const auto ids_of = [](const json& page) {
      std::set<std::string> ids;
      for (const json& c : page["items"]) ids.insert(c["data"]["id"].get<std::string>());
      return ids;
    };
    return ids_of(admin_wait(host, "/api/v1/segments/big_spenders/members",
                             [&](const json& j) { return ids_of(j) == expected; }));
  };
  const auto change = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    return http_request(host.port(), method, "/api/v1/segments/big_spenders/members" + path, body,
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  order("a-1", "A", 12000);
  order("b-1", "B", 5000);
  EXPECT_EQ(members({"A"}), std::set<std::string>{"A"});

  const HttpResult added = change("POST", "", R"({"contact":"B"})");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.json(), json::parse(R"({"segment":"big_spenders","contact":"id:B","member":true})"));
  ASSERT_EQ(change("DELETE", "/A").status, 200);
  EXPECT_EQ(members({"B"}), std::set<std::string>{"B"});
  // Their next orders: the filter would swap them; the choice stands.
  order("a-2", "A", 50000);
  order("b-2", "B", 100);
  ASSERT_EQ(sink.wait_for(4).size(), 4u) << host.log();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(members({"B"}), std::set<std::string>{"B"});
  const json contact = admin_get(host, "/api/v1/contacts/A");
  EXPECT_EQ(contact["data"]["excluded_segments"], json::array({"big_spenders"}));

  // Reset: the filter decides at once (A is in by its average, B out).
  const HttpResult reset = change("DELETE", "/A?reset=true");
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_EQ(reset.json()["by_filter"], true);
  ASSERT_EQ(change("DELETE", "/B?reset=true").status, 200);
  EXPECT_EQ(members({"A"}), std::set<std::string>{"A"});
  EXPECT_EQ(http_request(host.port(), "DELETE", "/api/v1/segments/VIP/members/A?reset=true", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            400);
}

// Bitrix24: a deal overdue by one day gets a task for every responsible
// manager, due today at 18:00.
TEST(CrmScenarios, BitrixADealOverdueByADayGetsATaskForEveryResponsibleManager) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "overdue deal"},
        {"trigger",
         {{"overdue", "deal"},
          {"field", "entity.fields.due"},
          {"by", "1d"},
          {"closed", {"Сделка успешна", "Сделка провалена"}}}},
        {"steps", json::array({task_step("Просрочена сделка {{entity.id}}",
                                         {{"deadline", "today 18:00"}, {"assignee", "each_responsible"}})})}}});
  json config = host_config(sink, rules);
  config["time_triggers"] = {{"check_every", "100ms"}};
  HostProcess host(config);
  const auto past = [](int hours) {
    const std::time_t t = std::time(nullptr) - hours * 3600;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(out);
  };
  const json responsible = json::parse(R"([{"id": "m1", "name": "Ольга"}, {"id": "m2", "name": "Иван"}])");
  post(host, {{"id", "d-1"},
              {"type", "deal.created"},
              {"entity",
               {{"type", "deal"},
                {"id", "LATE"},
                {"status", "В работе"},
                {"responsible", responsible},
                {"fields", {{"due", past(25)}}}}}});
  post(host, {{"id", "d-2"},
              {"type", "deal.created"},  // late by less than a day
              {"entity",
               {{"type", "deal"}, {"id", "RECENT"}, {"responsible", responsible}, {"fields", {{"due", past(2)}}}}}});
  post(host, {{"id", "d-3"},
              {"type", "deal.created"},  // closed
              {"entity",
               {{"type", "deal"},
                {"id", "WON"},
                {"status", "Сделка успешна"},
                {"responsible", responsible},
                {"fields", {{"due", past(48)}}}}}});
  const json tasks = tasks_of(host, 2);
  ASSERT_EQ(tasks.size(), 2u) << host.log();
  std::set<std::string> managers;
  for (const json& t : tasks) {
    managers.insert(t["assignee"]["id"].get<std::string>());
    EXPECT_EQ(t["title"], "Просрочена сделка LATE");
    EXPECT_EQ(t["deadline"].get<std::string>().substr(10), "T12:00:00Z");  // 18:00 in Omsk
  }
  EXPECT_EQ(managers, (std::set<std::string>{"m1", "m2"}));
  std::this_thread::sleep_for(500ms);  // checked again and again: still two
  EXPECT_EQ(tasks_of(host, 2).size(), 2u);
}

TEST(CrmScenarios, ValidateListsTheTimeTriggersAndNamesABadOneByItsPath) {
  HttpSink sink;
  const auto dir = make_temp_dir("sb_validate_time");
  json rules = json::array({{{"name", "morning"},
                             {"trigger", {{"schedule", "every weekday at 09:00"}, {"timezone", "Europe/Moscow"}}},
                             {"steps", json::array({post_step("/digest", {{"at", "{{data.scheduled_for}}"}})})}}});
  json config = host_config(sink, rules);
  config["data_dir"] = dir.string();
  std::ofstream(dir / "good.json") << config.dump();
  auto [code, out] = run_switchboard({"validate", "--config", (dir / "good.json").string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("rule 'morning' runs on schedule \"every weekday at 09:00\" (Europe/Moscow) -> schedule.fired"),
            std::string::npos)
      << out;
  config["rules"][0]["trigger"]["schedule"] = "every weekday at 9";
  config["segments"]["regulars"] = {{"filter", {{"field", "contact.fields.visits"}, {"op", "has"}, {"value", 10}}},
                                    {"refresh", "every day at 03:00"}};
  std::ofstream(dir / "bad.json") << config.dump();
  std::tie(code, out) = run_switchboard({"validate", "--config", (dir / "bad.json").string()});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("/rules/0/trigger/schedule"), std::string::npos) << out;
  EXPECT_NE(out.find("'every weekday at 9' is not a schedule"), std::string::npos) << out;
  EXPECT_NE(out.find("/segments/regulars/filter/op: segment 'regulars': unknown operator 'has'"), std::string::npos)
      << out;
}

// The reference CRMs' task analytics: how many of the tasks set were done,
// on time or late, how many are overdue, how long they took, in all and per
// manager. Tasks are set by a rule, done by another rule (tasks.complete)
// and by a manager in the admin API, one is cancelled.
TEST(CrmScenarios, TaskAnalyticsCountCompletionRateAndTimePerManager) {
  HttpSink sink;
  json rules = json::array(
      {{{"name", "set"},
        {"trigger", {{"event", "lead.created"}}},
        {"steps", json::array({task_step("Позвонить {{contact.name}}", {{"deadline", "{{data.deadline}}"}})})}},
       {{"name", "close"},
        {"trigger", {{"event", "call.done"}}},
        {"steps", json::array({{{"action", "tasks.complete"}, {"params", {{"id", "{{data.task}}"}}}}})}},
       // The same figures each Monday, week against week (not run here: the host takes it).
       {{"name", "weekly tasks"},
        {"trigger", {{"report", "tasks"}, {"schedule", "every monday at 09:00"}, {"period", "week"}, {"alert", "20%"}}},
        {"steps", json::array({post_step("/report", {{"text", "{{data.text}}"}})})}}});
  HostProcess host(host_config(sink, rules));
  const auto lead_for = [&](int n, const std::string& manager, const std::string& deadline) {
    post(host, {{"id", "l-" + std::to_string(n)},
                {"type", "lead.created"},
                {"contact", {{"id", "C" + std::to_string(n)}, {"name", "Клиент " + std::to_string(n)}}},
                {"entity",
                 {{"type", "lead"},
                  {"id", "L" + std::to_string(n)},
                  {"responsible", {{{"id", manager}, {"name", manager == "m1" ? "Анна" : "Пётр"}}}}}},
                {"data", {{"deadline", deadline}}}});
  };
  const std::string past = "2020-01-01T00:00:00Z", future = "2099-01-01T00:00:00Z";
  lead_for(1, "m1", future);  // done by a rule, on time
  lead_for(2, "m1", past);    // done by the manager, late
  lead_for(3, "m1", past);    // overdue
  lead_for(4, "m2", future);  // open
  lead_for(5, "m2", future);  // cancelled
  const json tasks = tasks_of(host, 5);
  ASSERT_EQ(tasks.size(), 5u) << host.log();
  std::map<std::string, std::string> task_of;  // lead -> task id
  for (const json& t : tasks) {
    EXPECT_TRUE(t.contains("created_at")) << t.dump();
    task_of[t["about"]["id"]] = t["id"];
  }
  post(host, {{"id", "call-1"}, {"type", "call.done"}, {"data", {{"task", task_of["L1"]}}}});
  const auto patch = [&](const std::string& task, const std::string& status) {
    std::string encoded;
    Poco::URI::encode(task, "/:?#[]@!$&'()*+,;= ", encoded);
    const HttpResult r = http_request(host.port(), "PATCH", "/api/v1/tasks/" + encoded, json{{"status", status}}.dump(),
                                      {{"Authorization", std::string("Bearer ") + kAdmin}});
    EXPECT_EQ(r.status, 200) << r.body;
  };
  patch(task_of["L2"], "done");
  patch(task_of["L5"], "cancelled");
  const json report = admin_wait(host, "/api/v1/analytics/tasks",
                                 [](const json& j) { return j["total"]["done"] == 2 && j["total"]["cancelled"] == 1; });
  const json& total = report["total"];
  EXPECT_EQ(total["created"], 5) << report.dump();
  EXPECT_EQ(total["open"], 2);
  EXPECT_EQ(total["overdue"], 1);
  EXPECT_EQ(total["done_on_time"], 1);
  EXPECT_EQ(total["done_late"], 1);
  EXPECT_EQ(total["completion_rate"], 0.5);  // 2 done of the 4 not cancelled
  EXPECT_TRUE(total["hours_to_complete"]["median"].is_number()) << report.dump();
  EXPECT_LT(total["hours_to_complete"]["average"].get<double>(), 1.0);
  const json& anna = report["assignees"]["m1"];
  EXPECT_EQ(anna["name"], "Анна");
  EXPECT_EQ(anna["created"], 3);
  EXPECT_EQ(anna["done"], 2);
  EXPECT_EQ(anna["overdue"], 1);
  EXPECT_EQ(anna["completion_rate"], 0.667);
  EXPECT_EQ(report["assignees"]["m2"]["completion_rate"], 0.0);
  EXPECT_EQ(report["complete"], true);
  // Each way of completing a task says when: the rule's and the manager's.
  std::map<std::string, std::string> completed;                          // task id -> when
  const json done_tasks = admin_get(host, "/api/v1/tasks?status=done");  // kept: the loop reads into it
  for (const json& t : done_tasks["items"]) {
    ASSERT_TRUE(t.contains("completed_at")) << t.dump();
    completed[t["id"]] = t["completed_at"];
  }
  // Done again (a retried PATCH, a second complete), a task keeps the time
  // it was first done; reopened, it has none. (A second later: the plugin
  // writes whole seconds.)
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  patch(task_of["L2"], "done");
  post(host, {{"id", "call-1-again"}, {"type", "call.done"}, {"data", {{"task", task_of["L1"]}}}});
  patch(task_of["L4"], "in_progress");
  const json closed = admin_wait(host, "/api/v1/executions?rule=close", [](const json& j) {
    return j["executions"].size() == 2 && j["executions"][0]["state"] == "done";
  });
  // Completing it again is done all the same: the step still names the task.
  const json again = admin_get(host, "/api/v1/executions/" + closed["executions"][0]["id"].dump());
  ASSERT_FALSE(again["history"].empty()) << again.dump();
  EXPECT_EQ(again["history"].back()["external_id"], task_of["L1"]) << again.dump();
  const json done_again = admin_get(host, "/api/v1/tasks?status=done");
  for (const json& t : done_again["items"]) EXPECT_EQ(t["completed_at"], completed[t["id"]]) << t.dump();
  patch(task_of["L1"], "open");
  const json reopened = admin_get(host, "/api/v1/tasks?status=open");
  for (const json& t : reopened["items"]) EXPECT_FALSE(t.contains("completed_at")) << t.dump();
  // The same for a cancel: its time kept when cancelled again, gone when reopened.
  const auto cancelled_at = [&] {
    const json listed = admin_get(host, "/api/v1/tasks?status=cancelled");
    return listed["items"].size() == 1 ? listed["items"][0].value("cancelled_at", json()) : json();
  };
  const json first_cancel = cancelled_at();
  ASSERT_TRUE(first_cancel.is_string()) << admin_get(host, "/api/v1/tasks?status=cancelled").dump();
  patch(task_of["L5"], "cancelled");
  EXPECT_EQ(cancelled_at(), first_cancel);
  patch(task_of["L5"], "open");
  const json open_again = admin_get(host, "/api/v1/tasks?status=open");  // kept: the loop reads into it
  for (const json& t : open_again["items"]) EXPECT_FALSE(t.contains("cancelled_at")) << t.dump();
  // Bounds on the creation time: none were created before 2020.
  const json none = admin_get(host, "/api/v1/analytics/tasks?created_before=2020-01-01T00:00:00Z");
  EXPECT_EQ(none["total"]["created"], 0) << none.dump();
  EXPECT_TRUE(none["total"]["completion_rate"].is_null());
  EXPECT_EQ(admin_get(host, "/api/v1/analytics/tasks?created_after=2020-01-01T00:00:00Z")["total"]["created"], 5);
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/analytics/tasks?created_after=yesterday", "",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            400);
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/analytics/tasks").status, 401);
  // A period that ends before it begins, a bound given twice, a status no task has: said.
  for (const char* path :
       {"/api/v1/analytics/tasks?created_after=2027-01-01T00:00:00Z&created_before=2026-01-01T00:00:00Z",
        "/api/v1/analytics/tasks?created_after=2020-01-01T00:00:00Z&created_after=2021-01-01T00:00:00Z",
        "/api/v1/tasks?status=bogus", "/api/v1/tasks?limit=1&limit=2"}) {
    const HttpResult refused =
        http_request(host.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdmin}});
    EXPECT_EQ(refused.status, 400) << path << ": " << refused.body;
  }
}

}  // namespace
}  // namespace sb::test
