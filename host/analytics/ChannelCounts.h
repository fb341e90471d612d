// Advertising channels' figures (the reference CRMs' "booking methods"
// report): the records of the config's "ad_channels" entity type, grouped
// by the channel a field names (a rule sets it, by the booking method), each
// with records, sales, conversion, revenue, average check, cost and ROI.
// Read by the admin API (api/AnalyticsApi) and by scheduled reports
// (timers/TimeTriggers, a rule's "report" trigger).
//
// A sale is a record in one of "sale_statuses"; its value is the "amount"
// field (a number, or text as CRMs write it: "1 500,50"). A record with no
// channel counts under "" (unattributed). ROI is (revenue - cost) / cost,
// for a channel with a cost in "costs"; the total's, over the channels with
// a cost. Money is rounded to cents.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/Config.h"
#include "store/Store.h"

namespace sb {

struct ChannelFigures {
  int64_t records = 0;
  int64_t sales = 0;
  int64_t sales_without_amount = 0;  // a sale whose amount is missing or not a number
  double revenue = 0;

  // {"records", "sales", "sales_without_amount", "conversion", "revenue",
  //  "average_check", "cost", "roi"}; what has no value (no records, no
  //  cost) is null.
  nlohmann::json to_json(const std::optional<double>& cost) const;
};

struct ChannelCounts {
  std::map<std::string, ChannelFigures> channels;
  ChannelFigures total;
  bool complete = false;  // every record in the bounds was read

  // {"channels": {name: figures}, "total": figures}: a channel with a cost
  // that brought nothing is listed too.
  nlohmann::json to_json(const Config::AdChannelsConfig& config) const;
};

// Counts the records of `config.entity` within `query`'s bounds (made in a
// period: created_after_ms / created_before_ms; changed: updated_*),
// reading at most `most`; none when `stopping` says so between pages. With
// `sold_by_ms`, a record in a sale status counts as a sale only if it last
// changed by then: a period before this one, as it stood as long after its
// end as this one is now (its records had longer to be sold).
std::optional<ChannelCounts> count_channels(Store& store, const Config::AdChannelsConfig& config, RecordQuery query,
                                            size_t most, const std::function<bool()>& stopping = {},
                                            std::optional<int64_t> sold_by_ms = std::nullopt);

// Money in cents: a whole amount as an integer (3000), else two decimals;
// null when it is not finite.
nlohmann::json money(double amount);

}  // namespace sb
