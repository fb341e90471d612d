// A channel's figures as the channels report gives them.
#include <gtest/gtest.h>

#include "analytics/ChannelCounts.h"

namespace sb {
namespace {

// The average check is over the sales whose amount is known: a sale the CRM
// wrote without one is no sale worth nothing.
TEST(ChannelFigures, TheAverageCheckIsOverTheSalesWithAnAmount) {
  ChannelFigures figures;
  figures.records = 8;
  figures.sales = 4;
  figures.sales_without_amount = 1;
  figures.revenue = 9500.5;
  const nlohmann::json out = figures.to_json(2000.0);
  EXPECT_DOUBLE_EQ(out["average_check"].get<double>(), 3166.83) << out.dump();  // 9500.5 / 3, in cents
  EXPECT_DOUBLE_EQ(out["conversion"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(out["roi"].get<double>(), (9500.5 - 2000) / 2000);

  figures.sales_without_amount = 4;  // no amount known: no average
  figures.revenue = 0;
  EXPECT_TRUE(figures.to_json(std::nullopt)["average_check"].is_null());
  EXPECT_TRUE(ChannelFigures{}.to_json(std::nullopt)["conversion"].is_null());
}

}  // namespace
}  // namespace sb
