#include "executor/History.h"

#include "util/Time.h"

namespace sb::history {

using nlohmann::json;

std::string appended(std::string history_json, const std::string& entry_json) {
  // "[...]" or "[]": the entry goes before the closing bracket.
  const auto close = history_json.find_last_of(']');
  if (close == std::string::npos) return "[" + entry_json + "]";
  history_json.resize(close);
  const auto last = history_json.find_last_not_of(" \t\r\n");
  if (last != std::string::npos && history_json[last] != '[') history_json += ',';
  return history_json + entry_json + "]";
}

json last_step(const std::string& history_json) { return last_entry(history_json).value("step", json()); }

json last_entry(const std::string& history_json) {
  const json history = json::parse(history_json, nullptr, false);
  if (!history.is_array() || history.empty() || !history.back().is_object()) return json::object();
  return history.back();
}

json event_arrived(json step, json event, int64_t at_ms, bool to_else) {
  json entry{{"step", std::move(step)},
             {"outcome", "event arrived"},
             {"at", format_time_ms(at_ms)},
             {"event", std::move(event)}};
  if (to_else) entry["branch"] = "else";
  return entry;
}

json branch_end(int64_t execution, const std::string& event_id, const char* state, const std::string& error,
                json history) {
  return {{"execution", execution},
          {"event_id", event_id},
          {"state", state},
          {"error", error},
          {"history", std::move(history)}};
}

json branches_ended(json step, json branch_ends, int64_t at_ms) {
  return {{"step", std::move(step)},
          {"outcome", "branches ended"},
          {"at", format_time_ms(at_ms)},
          {"branches", std::move(branch_ends)}};
}

json cancelled_with_parent(int64_t at_ms) {
  return {{"outcome", "cancelled with its parent"}, {"at", format_time_ms(at_ms)}};
}

json failed(json step, const std::string& reason, int64_t at_ms) {
  return {{"step", std::move(step)}, {"outcome", "permanent"}, {"reason", reason}, {"at", format_time_ms(at_ms)}};
}

}  // namespace sb::history
