// switchboard.crm/1 over the built-in store: a query reads the filter as a
// rule does, with the account's time zone for a date alone.
#include <gtest/gtest.h>

#include <future>

#include "crm/CrmService.h"
#include "events/EventParser.h"
#include "integration/test_support.h"
#include "store/SqliteStore.h"
#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;

// Whatever the hour, the date is chosen so that the account's clock and UTC
// disagree (as in PipelineTest.ARulesFilterReadsADateAloneOnTheAccountsClock).
TEST(CrmService, AnEntityQueryReadsADateAloneOnTheAccountsClock) {
  SqliteStore store{{test::make_temp_dir("sb_crm_service") / "switchboard.db"}};
  const int64_t now = now_ms();
  const bool late = (now / 3600000) % 24 >= 10;
  const std::string day = format_time_ms(now + (late ? 86400000LL : 0)).substr(0, 10);
  const json events{{"events",
                     {{{"id", "b1"},
                       {"type", "booking.updated"},
                       {"entity", {{"type", "booking"}, {"id", "B1"}, {"fields", {{"day", day}}}}}}}}};
  auto parsed = parse_events(events.dump(), now, 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  std::promise<AppendResult> appended;
  store.append_events(std::move(parsed.records), [&](AppendResult r) { appended.set_value(std::move(r)); });
  ASSERT_TRUE(appended.get_future().get().ok());

  const json filter{{"field", "entity.fields.day"}, {"op", late ? "before" : "after"}, {"value", "now"}};
  const auto found = [&](const json& account) {
    CrmService crm(store, {}, {}, account);
    const CrmAnswer a = crm.query_entities("booking", filter.dump(), "", 10);
    EXPECT_EQ(a.status, SB_OK) << a.text;
    return json::parse(a.text)["items"].size();
  };
  EXPECT_EQ(found({{"timezone", late ? "Pacific/Kiritimati" : "Pacific/Pago_Pago"}}), 1u);
  EXPECT_EQ(found(json::object()), 0u);  // in UTC the day has not begun / has
}

}  // namespace
}  // namespace sb
