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

// What one channel's records add up to.
struct ChannelFigures {
  int64_t records = 0;
  int64_t sales = 0;
  double revenue = 0;

  json to_json(const std::optional<double>& cost) const {
    const auto ratio = [](double a, double b) { return b > 0 ? json(a / b) : json(); };
    json out{{"records", records},
             {"sales", sales},
             {"conversion", ratio(static_cast<double>(sales), static_cast<double>(records))},
             {"revenue", revenue},
             {"average_check", ratio(revenue, static_cast<double>(sales))}};
    out["cost"] = cost ? json(*cost) : json();
    out["roi"] = cost ? ratio(revenue - *cost, *cost) : json();
    return out;
  }
};

// A number at entity.fields.<name>, or a numeric string; else none.
std::optional<double> number_in(const json& fields, const std::string& name) {
  const auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  if (!it->is_string()) return std::nullopt;
  const std::string& text = it->get_ref<const std::string&>();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

AnalyticsApi::AnalyticsApi(Store& store, std::vector<std::string> admin_tokens, Config::ChannelsConfig channels)
    : store_(store), tokens_(std::move(admin_tokens), "api.admin_tokens"), config_(std::move(channels)) {}

void AnalyticsApi::channels(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  if (config_.entity.empty())
    return reply(error_response(404, "not_configured",
                                "no \"channels\" in the config: name the entity type whose records are attributed "
                                "(\"channels\": {\"entity\": \"booking\"})"));
  worker_.post([this, request = std::move(request), reply = std::move(reply)]() mutable {
    try {
      count_channels(request, std::move(reply));
    } catch (const StoreError& e) {
      reply(error_response(503, "unavailable", std::string("the store could not be read: ") + e.what()));
    }
  });
}

void AnalyticsApi::count_channels(const ServerRequest& request, ServerConnection::Reply reply) {
  RecordQuery query;
  query.entity_type = config_.entity;
  query.limit = 1000;
  size_t most = kDefaultRecords;
  try {
    for (const auto& [key, value] : Poco::URI(request.target).getQueryParameters()) {
      if (key == "updated_after") {
        query.updated_after_ms = parse_time_ms(value);
        if (!query.updated_after_ms)
          return reply(error_response(400, "bad_request",
                                      "updated_after: expected an RFC 3339 time such as 2026-12-01T00:00:00Z"));
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
      const double amount = sale ? number_in(fields, config_.amount).value_or(0) : 0;
      for (ChannelFigures* figures : {&by_channel[channel], &total}) {
        ++figures->records;
        figures->sales += sale;
        figures->revenue += amount;
      }
      query.after = entity_cursor_key(entity.type, entity.id);
    }
    read += page.size();
    if (page.size() < query.limit) complete = true;
  }
  json channels = json::object();
  double total_cost = 0;
  bool any_cost = false;
  for (const auto& [name, figures] : by_channel) {
    const auto cost = config_.costs.find(name);
    channels[name] = figures.to_json(cost != config_.costs.end() ? std::optional(cost->second) : std::nullopt);
  }
  // A channel that cost money and brought nothing is a finding too.
  for (const auto& [name, cost] : config_.costs) {
    if (!channels.contains(name)) channels[name] = ChannelFigures{}.to_json(cost);
    total_cost += cost;
    any_cost = true;
  }
  json body{{"entity", config_.entity},
            {"channels", std::move(channels)},
            {"total", total.to_json(any_cost ? std::optional(total_cost) : std::nullopt)},
            {"complete", complete}};
  if (query.updated_after_ms) body["updated_after"] = format_time_ms(*query.updated_after_ms);
  reply(json_response(200, body));
}

}  // namespace sb
