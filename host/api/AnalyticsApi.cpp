#include "api/AnalyticsApi.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "store/Store.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

// Money in cents: a whole amount as an integer (3000), else two decimals.
json money(double amount) {
  const double cents = std::round(amount * 100);
  if (!std::isfinite(cents)) return json();
  if (std::fabs(cents) < 9e17 && std::fmod(cents, 100) == 0) return static_cast<int64_t>(cents / 100);
  return cents / 100;
}

// A / B, or null when B is none.
json ratio(double a, double b) { return b > 0 ? json(a / b) : json(); }

// What one channel's records add up to.
struct ChannelFigures {
  int64_t records = 0;
  int64_t sales = 0;
  int64_t sales_without_amount = 0;  // a sale whose amount is missing or not a number
  double revenue = 0;

  json to_json(const std::optional<double>& cost) const {
    json out{{"records", records},
             {"sales", sales},
             {"sales_without_amount", sales_without_amount},
             {"conversion", ratio(static_cast<double>(sales), static_cast<double>(records))},
             {"revenue", money(revenue)},
             {"average_check", sales > 0 ? money(revenue / static_cast<double>(sales)) : json()}};
    out["cost"] = cost ? money(*cost) : json();
    out["roi"] = cost ? ratio(revenue - *cost, *cost) : json();
    return out;
  }
};

// A number at entity.fields.<name>: a JSON number, or text as CRMs write it
// ("1500.50", "1 500,50"); else none.
std::optional<double> number_in(const json& fields, const std::string& name) {
  const auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  if (!it->is_string()) return std::nullopt;
  std::string text;
  const std::string& raw = it->get_ref<const std::string&>();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == ' ') continue;
    if (raw.compare(i, 2, "\xC2\xA0") == 0 || raw.compare(i, 3, "\xE2\x80\xAF") == 0) {  // (narrow) no-break space
      i += raw[i] == '\xC2' ? 1 : 2;
      continue;
    }
    text += raw[i] == ',' ? '.' : raw[i];
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

}  // namespace

AnalyticsApi::AnalyticsApi(Store& store, std::vector<std::string> admin_tokens, Config::AdChannelsConfig channels,
                           AdminWorker& worker)
    : store_(store),
      tokens_(std::move(admin_tokens), "api.admin_tokens"),
      config_(std::move(channels)),
      worker_(worker) {}

void AnalyticsApi::channels(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  if (config_.entity.empty())
    return reply(error_response(404, "not_configured",
                                "no \"ad_channels\" in the config: name the entity type whose records are attributed "
                                "(\"ad_channels\": {\"entity\": \"booking\"})"));
  worker_.answer(std::move(reply), [this, request = std::move(request)](ServerConnection::Reply& reply) {
    count_channels(request, reply);
  });
}

void AnalyticsApi::count_channels(const ServerRequest& request, ServerConnection::Reply& reply) {
  RecordQuery query;
  query.entity_type = config_.entity;
  query.limit = 1000;
  size_t most = kDefaultRecords;
  try {
    for (const auto& [key, value] : Poco::URI(request.target).getQueryParameters()) {
      if (key == "updated_after" || key == "updated_before") {
        auto& bound = key == "updated_after" ? query.updated_after_ms : query.updated_before_ms;
        bound = parse_time_ms(value);
        if (!bound)
          return reply(
              error_response(400, "bad_request", key + ": expected an RFC 3339 time such as 2026-12-01T00:00:00Z"));
      } else if (key == "limit") {
        size_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size() || n == 0 || n > kMostRecords)
          return reply(
              error_response(400, "bad_request", "limit: expected 1 to " + std::to_string(kMostRecords) + " records"));
        most = n;
      } else {
        return reply(error_response(400, "bad_request", "unknown parameter '" + key + "'"));
      }
    }
  } catch (const Poco::Exception&) {
    return reply(error_response(400, "bad_request", "malformed query string"));
  }
  std::map<std::string, ChannelFigures> by_channel;
  ChannelFigures total;
  size_t read = 0;
  bool complete = false;
  while (!complete && read < most) {
    if (worker_.stopping()) return reply(error_response(503, "unavailable", "the host is shutting down"));
    query.limit = std::min<size_t>(1000, most - read);
    const std::vector<StoredEntity> page = store_.entities_page(query);
    for (const StoredEntity& entity : page) {
      const json data = json::parse(entity.data_json, nullptr, false);
      const json fields =
          data.is_object() && data.contains("fields") && data["fields"].is_object() ? data["fields"] : json::object();
      const auto named = fields.find(config_.field);
      const std::string channel = named != fields.end() && named->is_string() ? named->get<std::string>() : "";
      const bool sale = entity.status && std::find(config_.sale_statuses.begin(), config_.sale_statuses.end(),
                                                   *entity.status) != config_.sale_statuses.end();
      const std::optional<double> amount = sale ? number_in(fields, config_.amount) : std::nullopt;
      for (ChannelFigures* figures : {&by_channel[channel], &total}) {
        ++figures->records;
        figures->sales += sale;
        figures->sales_without_amount += sale && !amount;
        figures->revenue += amount.value_or(0);
      }
      query.after = entity_cursor_key(entity.type, entity.id);
    }
    read += page.size();
    if (page.size() < query.limit) complete = true;
  }
  // `limit` read: complete when no record is left after the last.
  if (!complete) {
    query.limit = 1;
    complete = store_.entities_page(query).empty();
  }
  json channels = json::object();
  double total_cost = 0, costed_revenue = 0;
  for (const auto& [name, figures] : by_channel) {
    const auto cost = config_.costs.find(name);
    channels[name] = figures.to_json(cost != config_.costs.end() ? std::optional(cost->second) : std::nullopt);
  }
  // A channel that cost money and brought nothing is a finding too.
  for (const auto& [name, cost] : config_.costs) {
    if (!channels.contains(name)) channels[name] = ChannelFigures{}.to_json(cost);
    total_cost += cost;
    if (const auto figures = by_channel.find(name); figures != by_channel.end())
      costed_revenue += figures->second.revenue;
  }
  json summed = total.to_json(std::nullopt);
  // The whole return on what was spent: the channels with a cost only.
  if (!config_.costs.empty()) {
    summed["cost"] = money(total_cost);
    summed["roi"] = ratio(costed_revenue - total_cost, total_cost);
  }
  json body{{"entity", config_.entity},
            {"channels", std::move(channels)},
            {"total", std::move(summed)},
            {"complete", complete}};
  if (query.updated_after_ms) body["updated_after"] = format_time_ms(*query.updated_after_ms);
  if (query.updated_before_ms) body["updated_before"] = format_time_ms(*query.updated_before_ms);
  reply(json_response(200, body));
}

}  // namespace sb
