// The unisender plugin through the C ABI against an emulator of UniSender's
// API: it checks what UniSender checks (the method's path, a form body in
// UTF-8, format=json, a known api_key, list ids, a contact) and answers as
// UniSender does, errors included.
#include <gtest/gtest.h>
#include <switchboard/testing/fake_host.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "form.h"

namespace {

using nlohmann::json;

constexpr char kKey[] = "uni-key-123";

// The contacts the emulated account holds (by email or phone), as subscribe
// leaves them.
std::set<std::string> g_known{"anna@example.com", "+79990001122"};

bool g_english = false;

// UniSender, as far as these three methods go.
fake::Response emulate(const fake::Sent& request) {
  auto error = [](const std::string& message, const std::string& code) {
    return fake::Response{200, "application/json", json{{"error", message}, {"code", code}}.dump()};
  };
  const std::string prefix = "https://api.unisender.test/ru/api/";
  if (request.method != "POST" || request.url.rfind(prefix, 0) != 0) return error("Unknown method", "unknown_method");
  const std::string method = request.url.substr(prefix.size());
  if (request.header("Content-Type") != "application/x-www-form-urlencoded")
    return error("Expected a form", "invalid_arg");
  std::map<std::string, std::string> form;
  for (const auto& [k, v] : switchboard_plugins::form_decode(request.body)) form[k] = v;
  if (form["format"] != "json") return error("format is required", "invalid_arg");
  if (form["api_key"] != kKey) return error("Invalid API key", "invalid_api_key");
  auto ids_ok = [&](bool required) {
    const std::string ids = form["list_ids"];
    if (ids.empty()) return !required;
    return ids.find_first_not_of("0123456789,") == std::string::npos && ids.front() != ',' && ids.back() != ',';
  };
  if (method == "subscribe") {
    if (!ids_ok(true)) return error("list_ids is required", "invalid_arg");
    if (form["fields[email]"].empty() && form["fields[phone]"].empty())
      return error("fields[email] or fields[phone] is required", "invalid_arg");
    // A phone in international form; at most 10 tags.
    if (const std::string phone = form["fields[phone]"];
        !phone.empty() && (phone[0] != '+' || phone.find_first_not_of("0123456789", 1) != std::string::npos))
      return error("fields[phone]: invalid phone number", "invalid_arg");
    if (std::count(form["tags"].begin(), form["tags"].end(), ',') >= 10)
      return error("Allowed number of tags is 10", "invalid_arg");
    if (form.count("double_optin") && form["double_optin"] != "0" && form["double_optin"] != "3" &&
        form["double_optin"] != "4")
      return error("double_optin: invalid value", "invalid_arg");
    g_known.insert(form["fields[email]"]);
    g_known.insert(form["fields[phone]"]);
    return {200, "application/json", R"({"result":{"person_id":4242}})"};
  }
  if (method == "exclude" || method == "unsubscribe") {
    if (form["contact_type"] != "email" && form["contact_type"] != "phone")
      return error("contact_type is required", "invalid_arg");
    if (form["contact"].empty()) return error("contact is required", "invalid_arg");
    if (!ids_ok(false)) return error("list_ids: invalid", "invalid_arg");
    // In the language the URL asks for (/ru/api/ here, the plugin's default;
    // g_english: as the English API words it).
    if (!g_known.count(form["contact"]))
      return {200, "application/json",
              json{{"error", (g_english ? "Contact \"" : "Контакт \"") + form["contact"] +
                                 (g_english ? "\" not found" : "\" не найден")},
                   {"code", "unspecified"},
                   {"result", ""}}
                  .dump()};
    return {200, "application/json", R"({"result":{}})"};
  }
  return error("Unknown method", "unknown_method");
}

const json kSubject = json::parse(R"({"contact": {"id": "C1", "name": "Анна Смирнова",
    "emails": [{"address": "anna@example.com"}], "phones": [{"number": "+79990001122"}], "tags": ["vip", "йога"]}})");

class UnisenderPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"unisender"};

  std::unique_ptr<fake::Instance> create(const std::string& key = kKey) {
    const json config{{"api_key", key},
                      {"base_url", "https://api.unisender.test"},
                      {"lists", {{"welcome", 134}, {"winback", 135}}},
                      {"default_country", "RU"}};
    auto instance = std::make_unique<fake::Instance>(library, host, config.dump());
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }
  // Invokes, lets the emulator answer, and returns the result.
  fake::Result call(fake::Instance& instance, const std::string& action, const json& params,
                    const json& subject = kSubject) {
    const size_t sent = host.sent.size(), results = host.results.size();
    EXPECT_EQ(instance.invoke(action, params.dump(), "e1:r:s0", 0, subject.dump()), SB_OK);
    if (host.results.size() > results) return host.results.back();
    EXPECT_EQ(host.sent.size(), sent + 1);
    const fake::Response answer = emulate(host.sent.back());
    host.finish_http(host.sent.size() - 1, answer.status, {{"Content-Type", answer.content_type}}, answer.body);
    return host.results.back();
  }
  std::map<std::string, std::string> form(size_t index) const {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : switchboard_plugins::form_decode(host.sent.at(index).body)) out[k] = v;
    return out;
  }
};

TEST_F(UnisenderPluginTest, SubscribeSendsTheContactsFieldsToTheNamedLists) {
  auto instance = create();
  const fake::Result r =
      call(*instance, "subscribe", {{"lists", {"welcome", 200}}, {"double_optin", 3}, {"overwrite", 2}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(r.external_id, "4242");
  EXPECT_EQ(host.sent[0].url, "https://api.unisender.test/ru/api/subscribe");
  EXPECT_EQ(host.sent[0].body.rfind("format=json&api_key=uni-key-123&", 0), 0u) << host.sent[0].body;
  const auto f = form(0);
  EXPECT_EQ(f.at("list_ids"), "134,200");
  EXPECT_EQ(f.at("fields[email]"), "anna@example.com");
  EXPECT_EQ(f.at("fields[phone]"), "+79990001122");
  EXPECT_EQ(f.at("fields[Name]"), "Анна Смирнова");  // UTF-8, percent-encoded on the wire
  EXPECT_EQ(f.at("tags"), "vip,йога");
  EXPECT_EQ(f.at("double_optin"), "3");
  EXPECT_EQ(f.at("overwrite"), "2");
  EXPECT_NE(host.sent[0].body.find("fields%5BName%5D=%D0%90%D0%BD%D0%BD%D0%B0"), std::string::npos);
  // A field of the step's own that is one of those replaces it: each field once.
  ASSERT_EQ(
      call(*instance, "subscribe", {{"lists", "welcome"}, {"fields", {{"Name", "Аня"}, {"city", "Омск"}}}}).outcome,
      SB_OUTCOME_DONE);
  const std::string body = host.sent.back().body;
  EXPECT_EQ(body.find("fields%5BName%5D"), body.rfind("fields%5BName%5D")) << body;
  EXPECT_EQ(form(host.sent.size() - 1).at("fields[Name]"), "Аня");
  EXPECT_EQ(form(host.sent.size() - 1).at("fields[city]"), "Омск");
}

// A CRM's phone as written ("8 (999) ...") goes in international form, and
// a contact's tags up to UniSender's 10 (a comma in one would make two).
TEST_F(UnisenderPluginTest, APhoneGoesInInternationalFormAndAtMostTenTags) {
  auto instance = create();
  json subject = json::parse(R"({"contact": {"emails": [{"address": "anna@example.com"}],
      "phones": [{"number": "8 (999) 000-11-22"}], "tags": ["a", "b,c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]}})");
  ASSERT_EQ(call(*instance, "subscribe", {{"lists", "welcome"}}, subject).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(form(0).at("fields[phone]"), "+79990001122");
  EXPECT_EQ(form(0).at("tags"), "a,b c,d,e,f,g,h,i,j,k");
  // Not a number: left out while the email goes, so the subscription does.
  subject["contact"]["phones"][0]["number"] = "уточнить";
  ASSERT_EQ(call(*instance, "subscribe", {{"lists", "welcome"}}, subject).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(form(1).count("fields[phone]"), 0u);
  const json phone_only = json::parse(R"({"contact": {"phones": [{"number": "8 999 000 11 22"}]}})");
  ASSERT_EQ(call(*instance, "exclude", json::object(), phone_only).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(form(2).at("contact"), "+79990001122");
}

TEST_F(UnisenderPluginTest, ExcludeAndUnsubscribeNameTheContactByEmailOrPhone) {
  auto instance = create();
  ASSERT_EQ(call(*instance, "exclude", {{"lists", "welcome"}}).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.sent[0].url, "https://api.unisender.test/ru/api/exclude");
  EXPECT_EQ(form(0), (std::map<std::string, std::string>{{"format", "json"},
                                                         {"api_key", kKey},
                                                         {"contact_type", "email"},
                                                         {"contact", "anna@example.com"},
                                                         {"list_ids", "134"}}));
  const json phone_only = json::parse(R"({"contact": {"phones": [{"number": "+79990001122"}]}})");
  ASSERT_EQ(call(*instance, "unsubscribe", json::object(), phone_only).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(form(1).at("contact_type"), "phone");
  EXPECT_EQ(form(1).at("contact"), "+79990001122");
  EXPECT_EQ(form(1).count("list_ids"), 0u);  // every list
}

// Excluding or unsubscribing a contact UniSender does not have (never
// subscribed, or gone already) leaves them out of the lists, as asked: done,
// not a failure.
TEST_F(UnisenderPluginTest, ExcludingAContactUniSenderDoesNotHaveIsDone) {
  auto instance = create();
  const json stranger = json::parse(R"({"contact": {"emails": [{"address": "nobody@example.com"}]}})");
  const fake::Result r = call(*instance, "exclude", {{"lists", "welcome"}}, stranger);
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(json::parse(r.output_json)["absent"], true);
  const fake::Result gone = call(*instance, "unsubscribe", {{"lists", "welcome"}}, stranger);
  ASSERT_EQ(gone.outcome, SB_OUTCOME_DONE) << gone.reason;
  EXPECT_EQ(json::parse(gone.output_json)["absent"], true);
  g_english = true;
  const fake::Result english = call(*instance, "exclude", {{"lists", "welcome"}}, stranger);
  g_english = false;
  EXPECT_EQ(english.outcome, SB_OUTCOME_DONE) << english.reason;
  // Any other refusal is still one.
  auto wrong_key = create("wrong");
  const fake::Result refused = call(*wrong_key, "exclude", {{"lists", "welcome"}}, stranger);
  EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(refused.provider_code, "invalid_api_key");
}

TEST_F(UnisenderPluginTest, UniSendersErrorsMapToRetryOrPermanentWithItsMessage) {
  auto wrong_key = create("not-the-key");
  fake::Result r = call(*wrong_key, "subscribe", {{"lists", "welcome"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "invalid_api_key");
  EXPECT_EQ(r.reason, "Invalid API key");
  auto instance = create();
  auto answer = [&](int status, const std::string& body, fake::Headers headers = {}) {
    EXPECT_EQ(instance->invoke("subscribe", json{{"lists", "welcome"}}.dump(), "k", 0, kSubject.dump()), SB_OK);
    host.finish_http(host.sent.size() - 1, status, headers, body);
    return host.results.back();
  };
  r = answer(200, R"({"error":"Too many requests","code":"api_call_limit_exceeded_for_api_key"})");
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.retry_after_s, 60u);
  EXPECT_EQ(answer(200, R"({"error":"Try later","code":"retry_later"})").outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(answer(200, R"({"error":"No money","code":"not_enough_money"})").outcome, SB_OUTCOME_PERMANENT);
  // UniSender's "unspecified" errors are of the kind that stays.
  r = answer(200, R"({"error":"list ids [5] has no confirmation letters","code":"unspecified"})");
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.reason, "list ids [5] has no confirmation letters");
  EXPECT_EQ(answer(503, "").outcome, SB_OUTCOME_RETRY);
  // An overloaded UniSender's Retry-After is kept to.
  r = answer(429, "", {{"Retry-After", "120"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.retry_after_s, 120u);
  EXPECT_EQ(answer(503, "", {{"Retry-After", "45"}}).retry_after_s, 45u);
  EXPECT_EQ(answer(200, "<html>").outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(answer(404, "<html>Not Found</html>").outcome, SB_OUTCOME_PERMANENT);
  r = answer(200, R"({"result":{"person_id":1},"warnings":[{"warning":"tag ignored"}]})");
  EXPECT_EQ(r.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(json::parse(r.output_json)["warnings"][0]["warning"], "tag ignored");
}

TEST_F(UnisenderPluginTest, UnknownListsAndMissingContactsFailWithoutARequest) {
  auto instance = create();
  fake::Result r = call(*instance, "subscribe", {{"lists", {"welcome", "vip"}}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(r.reason, "/lists/1: unknown list \"vip\" (the instance's lists: welcome, winback)");
  r = call(*instance, "subscribe", {{"lists", "welcome"}}, json::parse(R"({"contact": {"id": "C9"}})"));
  EXPECT_EQ(r.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_TRUE(host.sent.empty());
}

TEST_F(UnisenderPluginTest, DryRunWritesTheCallWithoutTheKey) {
  fake::Instance instance(library, host, R"({"dry_run": true, "lists": {"winback": 135}})");
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  ASSERT_EQ(instance.invoke("subscribe", R"({"lists": "winback"})", "k", 0, kSubject.dump()), SB_OK);
  ASSERT_EQ(host.outbox.size(), 1u);
  const json record = json::parse(host.outbox[0]);
  EXPECT_EQ(record["method"], "subscribe");
  EXPECT_EQ(record["fields"]["list_ids"], "135");
  EXPECT_EQ(host.outbox[0].find("api_key"), std::string::npos);
  EXPECT_TRUE(host.sent.empty());
}

}  // namespace
