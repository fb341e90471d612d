// The reference CRMs' automation scenarios, end to end through the real
// binary: events posted to the events API, rules on the changes the store
// derives from them (and, later, the CRM actions rules take), and what
// reached the provider.
#include <gtest/gtest.h>

#include <thread>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "crm-scenarios-token-51e0";

json host_config(const HttpSink& sink, json rules) {
  ::setenv("SB_TEST_CRM_TOKEN", kToken, 1);
  return json{{"plugin_dirs", {SB_PLUGIN_DIR}},
              {"secrets", {{"events", {{"env", "SB_TEST_CRM_TOKEN"}}}}},
              {"api", {{"event_tokens", {{{"$secret", "events"}}}}}},
              {"instances", {{"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
              {"rules", std::move(rules)}};
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

}  // namespace
}  // namespace sb::test
