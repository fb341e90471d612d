#include "analytics/ChannelCounts.h"

#include <algorithm>
#include <cmath>

#include "analytics/EntityPages.h"
#include "util/Text.h"

namespace sb {

using nlohmann::json;

namespace {

// A / B, or null when B is none.
json ratio(double a, double b) { return b > 0 ? json(a / b) : json(); }

// A number at entity.fields.<name>: a JSON number, or text as CRMs write it
// ("1500.50", "1 500,50"); else none.
std::optional<double> number_in(const json& fields, const std::string& name) {
  const auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  // Read as filters and goals read one: "12 000", "1,5"; not "12,000", which
  // could be twelve as well as twelve thousand (a sale without an amount).
  if (it->is_string()) return number_in_text(it->get_ref<const std::string&>());
  return std::nullopt;
}

}  // namespace

json money(double amount) {
  const double cents = std::round(amount * 100);
  if (!std::isfinite(cents)) return json();
  if (std::fabs(cents) < 9e17 && std::fmod(cents, 100) == 0) return static_cast<int64_t>(cents / 100);
  return cents / 100;
}

json ChannelFigures::to_json(const std::optional<double>& cost) const {
  json out{
      {"records", records},
      {"sales", sales},
      {"sales_without_amount", sales_without_amount},
      {"conversion", ratio(static_cast<double>(sales), static_cast<double>(records))},
      {"revenue", money(revenue)},
      // Of the sales whose amount is known: one written without it is
      // not a sale worth nothing.
      {"average_check",
       sales > sales_without_amount ? money(revenue / static_cast<double>(sales - sales_without_amount)) : json()}};
  out["cost"] = cost ? money(*cost) : json();
  out["roi"] = cost ? ratio(revenue - *cost, *cost) : json();
  return out;
}

json ChannelCounts::to_json(const Config::AdChannelsConfig& config) const {
  json named = json::object();
  double total_cost = 0, costed_revenue = 0;
  for (const auto& [name, figures] : channels) {
    const auto cost = config.costs.find(name);
    named[name] = figures.to_json(cost != config.costs.end() ? std::optional(cost->second) : std::nullopt);
  }
  // A channel that cost money and brought nothing is a finding too.
  for (const auto& [name, cost] : config.costs) {
    if (!named.contains(name)) named[name] = ChannelFigures{}.to_json(cost);
    total_cost += cost;
    if (const auto figures = channels.find(name); figures != channels.end()) costed_revenue += figures->second.revenue;
  }
  json summed = total.to_json(std::nullopt);
  // The whole return on what was spent: the channels with a cost only.
  if (!config.costs.empty()) {
    summed["cost"] = money(total_cost);
    summed["roi"] = ratio(costed_revenue - total_cost, total_cost);
  }
  return json{{"channels", std::move(named)}, {"total", std::move(summed)}};
}

std::optional<ChannelCounts> count_channels(Store& store, const Config::AdChannelsConfig& config, RecordQuery query,
                                            size_t most, const std::function<bool()>& stopping,
                                            std::optional<int64_t> sold_by_ms) {
  ChannelCounts counts;
  query.entity_type = config.entity;
  const auto complete = read_entities(store, query, most, stopping, [&](const StoredEntity& entity) {
    const json data = json::parse(entity.data_json, nullptr, false);
    const json fields =
        data.is_object() && data.contains("fields") && data["fields"].is_object() ? data["fields"] : json::object();
    const auto named = fields.find(config.field);
    const std::string channel = named != fields.end() && named->is_string() ? named->get<std::string>() : "";
    const bool sale = entity.status &&
                      std::find(config.sale_statuses.begin(), config.sale_statuses.end(), *entity.status) !=
                          config.sale_statuses.end() &&
                      (!sold_by_ms || entity.updated_at_ms <= *sold_by_ms);
    const std::optional<double> amount = sale ? number_in(fields, config.amount) : std::nullopt;
    for (ChannelFigures* figures : {&counts.channels[channel], &counts.total}) {
      ++figures->records;
      figures->sales += sale;
      figures->sales_without_amount += sale && !amount;
      figures->revenue += amount.value_or(0);
    }
  });
  if (!complete) return std::nullopt;
  counts.complete = *complete;
  return counts;
}

}  // namespace sb
