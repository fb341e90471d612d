// Every recipe in config/recipes/ runs end to end through the real binary,
// as an admin would try it: its dry-run channels write to the outbox.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>
#include <thread>

#include "integration/test_support.h"
#include "util/Time.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "recipes-token-41c9";

json recipe(const std::string& name) {
  ::setenv("SB_EVENTS_TOKEN", kToken, 1);
  ::setenv("UNISENDER_API_KEY", "recipe-key", 1);
  std::ifstream in(std::string(SB_SOURCE_DIR) + "/config/recipes/" + name + ".json");
  json config = json::parse(in);
  config["plugin_dirs"] = {SB_PLUGIN_DIR};
  return config;
}

void post(const HostProcess& host, const json& event) {
  const HttpResult r = http_request(host.port(), "POST", "/api/v1/events", event.dump(),
                                    {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(r.status, 202) << r.body;
}

std::string in(int64_t ms_from_now) { return format_time_ms(now_ms() + ms_from_now); }

const json kMaria = {{"id", "C1"},
                     {"name", "Мария"},
                     {"emails", {{{"address", "maria@example.com"}}}},
                     {"phones", {{{"number", "+79990001122"}}}}};

TEST(Recipes, WelcomeSendsTheWelcomeEmailAtOnce) {
  HostProcess host(recipe("welcome"));
  post(host, {{"id", "client-1"}, {"type", "client.created"}, {"contact", kMaria}});
  const auto sent = wait_for_outbox(host, 1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0]["channel"], "email");
  EXPECT_EQ(sent[0]["subject"], "Мария, добро пожаловать в Студия танцев «Ритм»!");
  EXPECT_NE(sent[0]["html"].get<std::string>().find("https://switchboard.example.com/t/c/"), std::string::npos);
  EXPECT_EQ(sent[0]["category"], "marketing");
}

// A zone whose clock reads 15:00 now, give or take the hour: inside the
// reminder's daytime window whenever the test runs.
std::string zone_at_three_pm() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  int offset = 15 - utc.tm_hour;  // hours east of UTC
  if (offset > 14) offset -= 24;
  if (offset < -12) offset += 24;
  // Etc/GMT-5 is UTC+5 (POSIX signs).
  return offset == 0 ? "Etc/UTC" : "Etc/GMT" + std::string(offset > 0 ? "-" : "+") + std::to_string(std::abs(offset));
}

TEST(Recipes, BookingReminderComesTheDayBefore) {
  HostProcess host(recipe("booking-reminder"));
  json maria = kMaria;
  maria["timezone"] = zone_at_three_pm();
  post(host, {{"id", "booking-1"},
              {"type", "booking.created"},
              {"entity",
               {{"type", "booking"},
                {"id", "B1"},
                {"fields", {{"service", "Стрижка"}, {"starts_at", in(86'400'000 + 5000)}}}}},
              {"contact", maria}});
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(wait_for_outbox(host, 0).size(), 0u);  // nothing yet: the reminder waits for the day before
  const auto sent = wait_for_outbox(host, 2, 15s);
  ASSERT_EQ(sent.size(), 2u) << host.log();
  std::set<std::string> channels;
  for (const json& s : sent) channels.insert(s["channel"].get<std::string>());
  EXPECT_EQ(channels, (std::set<std::string>{"email", "sms"}));
  for (const json& s : sent) {
    if (s["channel"] == "sms") {
      EXPECT_NE(s["text"].get<std::string>().find("Напоминаем: Стрижка "), std::string::npos) << s;
      EXPECT_NE(s["text"].get<std::string>().find(" в "), std::string::npos) << s;  // the day and the time
    }
  }
}

TEST(Recipes, WinBackReachesAClientWhoseLastVisitIsOld) {
  HostProcess host(recipe("win-back"));
  post(host, {{"id", "visit-old"}, {"type", "visit.completed"}, {"time", in(-90LL * 86'400'000)}, {"contact", kMaria}});
  post(host, {{"id", "visit-recent"},
              {"type", "visit.completed"},
              {"time", in(-86'400'000)},
              {"contact", {{"id", "C2"}, {"emails", {{{"address", "ivan@example.com"}}}}}}});
  const auto sent = wait_for_outbox(host, 1);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(wait_for_outbox(host, 0).size(), 1u) << host.log();  // not the client who came yesterday
  EXPECT_EQ(sent[0]["to"], "Мария <maria@example.com>");
  EXPECT_EQ(sent[0]["subject"], "Мария скучаем! Неделя занятий за полцены");
}

TEST(Recipes, VipCongratulationOnTheTenthVisitOnce) {
  HostProcess host(recipe("vip-congratulation"));
  for (int i = 1; i <= 10; ++i)
    post(host, {{"id", "visit-" + std::to_string(i)}, {"type", "visit.completed"}, {"contact", kMaria}});
  const auto sent = wait_for_outbox(host, 1);
  post(host, {{"id", "visit-11"}, {"type", "visit.completed"}, {"contact", kMaria}});
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(wait_for_outbox(host, 0).size(), 1u) << host.log();  // the eleventh visit: still one
  EXPECT_EQ(sent[0]["subject"], "Мария, вы теперь VIP");
  EXPECT_NE(sent[0]["text"].get<std::string>().find("10-й визит"), std::string::npos) << sent[0];
}

TEST(Recipes, HolliHopConfirmsAWaitingLeadAndMovesARefusedOne) {
  HostProcess host(recipe("hollihop-lead-status"));
  post(host, {{"id", "lead-1"},
              {"type", "lead.status_changed"},
              {"entity",
               {{"type", "lead"},
                {"id", "L1"},
                {"pipeline", "students"},
                {"status", "Ждет начала занятий"},
                {"fields", {{"group", "B1-вечер"}, {"starts_at", "2026-12-07T19:00:00+03:00"}}},
                {"responsible", {{{"id", "7"}, {"name", "Ольга Петрова"}, {"email", "olga@school.example"}}}}}},
              {"contact", kMaria}});
  auto sent = wait_for_outbox(host, 1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0]["subject"], "Мария, вы записаны на занятия");
  EXPECT_EQ(sent[0]["from"], "Ольга Петрова <olga@school.example>");  // the lead's responsible manager
  EXPECT_NE(sent[0]["text"].get<std::string>().find("группу B1-вечер"), std::string::npos) << sent[0];
  EXPECT_NE(sent[0]["text"].get<std::string>().find("07.12.2026 в 19:00"), std::string::npos) << sent[0];

  post(host, {{"id", "lead-2"},
              {"type", "lead.status_changed"},
              {"entity", {{"type", "lead"}, {"id", "L2"}, {"pipeline", "students"}, {"status", "Отказ"}}},
              {"contact", {{"id", "C3"}, {"emails", {{{"address", "petr@example.com"}}}}}}});
  sent = wait_for_outbox(host, 3);
  ASSERT_EQ(sent.size(), 3u) << host.log();
  EXPECT_EQ(sent[1]["method"], "subscribe");
  EXPECT_EQ(sent[1]["fields"]["list_ids"], "135");
  EXPECT_EQ(sent[2]["method"], "exclude");
  EXPECT_EQ(sent[2]["fields"]["list_ids"], "134");
}

}  // namespace
}  // namespace sb::test
