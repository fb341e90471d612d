#include "metrics/Metrics.h"

#include <gtest/gtest.h>

namespace sb {
namespace {

TEST(Metrics, CountersKeepEveryDigit) {
  Metrics m;
  m.counter_add("events_total", {{"type", "lead.created"}}, 1234567);
  m.counter_add("events_total", {{"type", "lead.created"}}, 1);
  EXPECT_NE(m.prometheus_text().find("events_total{type=\"lead.created\"} 1234568\n"), std::string::npos)
      << m.prometheus_text();
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m;
  for (double v : {0.003, 0.02, 0.02, 7.0, 30.0}) m.observe("latency_seconds", {}, v);
  const std::string text = m.prometheus_text();
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.025\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"10\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_count 5\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  m.counter_add("x_total", {{"rule", "say \"hi\"\n"}});
  EXPECT_NE(m.prometheus_text().find(R"(x_total{rule="say \"hi\"\n"} 1)"), std::string::npos) << m.prometheus_text();
}

TEST(Metrics, NamesAreChecked) {
  EXPECT_TRUE(Metrics::valid_name("sent_total"));
  EXPECT_FALSE(Metrics::valid_name("Sent"));
  EXPECT_FALSE(Metrics::valid_name("1st"));
  EXPECT_FALSE(Metrics::valid_name(""));
}

}  // namespace
}  // namespace sb
