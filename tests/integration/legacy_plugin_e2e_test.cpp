// A plugin built against the frozen ABI 1.0 header (abi/fixtures/
// legacy_services.c) runs unchanged in this host: its webhook route emits an
// event (1.0-sized sb_event) that starts a rule, and its action keeps state
// in KV and fetches a URL with the host's HTTP client (1.0-sized request).
#include <gtest/gtest.h>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

TEST(LegacyPlugin, AOneZeroTriggerAndActionRunInThisHost) {
  HttpSink sink;
  json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"instances",
       {{"legacy", {{"plugin", std::string(SB_FIXTURE_DIR) + "/legacy_services.so"}}},
        {"notify", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
      {"rules",
       {{{"name", "legacy"},
         {"trigger", {{"event", "legacy.received"}}},
         {"steps",
          {{{"name", "Fetch"}, {"action", "legacy.fetch"}, {"params", {{"url", sink.url() + "/ping"}}}},
           {{"action", "notify.post"},
            {"params",
             {{"url", "/kept"},
              {"body",
               {{"status", "{{steps.Fetch.output.status}}"}, {"kept", "{{steps.Fetch.output.kept.url}}"}}}}}}}}}}}};
  HostProcess host(config);
  const HttpResult accepted = http_request(host.port(), "POST", "/webhooks/legacy", R"({"order":"A-1"})",
                                           {{"Content-Type", "application/json"}});
  ASSERT_EQ(accepted.status, 202) << accepted.body << host.log();
  const auto got = sink.wait_for(2);
  ASSERT_EQ(got.size(), 2u) << host.log();
  EXPECT_EQ(got[0].method, "GET");
  EXPECT_EQ(got[0].uri, "/ping");
  EXPECT_EQ(got[1].uri, "/kept");
  EXPECT_EQ(json::parse(got[1].body), (json{{"status", 200}, {"kept", sink.url() + "/ping"}}));
}

}  // namespace
}  // namespace sb::test
