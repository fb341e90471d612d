#include "plugins/ActionOutcome.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "log/Logger.h"
#include "util/JsonText.h"

namespace sb {

using nlohmann::json;

std::string_view outcome_name(sb_outcome outcome) {
  switch (outcome) {
    case SB_OUTCOME_DONE:
      return "done";
    case SB_OUTCOME_RETRY:
      return "retry";
    case SB_OUTCOME_UNREACHABLE:
      return "unreachable";
    case SB_OUTCOME_PERMANENT:
      return "permanent";
    case SB_OUTCOME_INVALID_PARAMS:
      return "invalid_params";
    case SB_OUTCOME_DEFERRED:
      return "deferred";
  }
  return "permanent";
}

json ActionOutcome::to_json() const {
  json out = json::object();
  out["outcome"] = outcome_name(outcome);
  if (!external_id.empty()) out["external_id"] = external_id;
  if (!reason.empty()) out["reason"] = reason;
  if (!provider_code.empty()) out["provider_code"] = provider_code;
  if (retry_after_s) out["retry_after_s"] = retry_after_s;
  if (!output.is_null()) out["output"] = output;
  return out;
}

namespace {
constexpr size_t kMaxText = 1 << 20;
constexpr uint32_t kLongestRetryAfterS = 86'400;  // a day
std::string text(sb_str s) {
  if (!s.ptr || s.len == 0) return {};
  return std::string(s.ptr, s.len < kMaxText ? s.len : kMaxText);
}
}  // namespace

ActionOutcome ActionOutcome::from_plugin(const sb_action_result* r) {
  if (!r || r->struct_size < offsetof(sb_action_result, outcome) + sizeof(r->outcome))
    return failure(SB_OUTCOME_PERMANENT, "plugin completed with no result");
  ActionOutcome o;
  // Read the bytes, not the enum: a plugin may have stored any value there,
  // and loading an out-of-range enum is undefined behaviour.
  std::underlying_type_t<sb_outcome> raw;
  static_assert(sizeof raw == sizeof r->outcome);
  std::memcpy(&raw, &r->outcome, sizeof raw);
  const long long value = raw;
  if (value < SB_OUTCOME_DONE || value > SB_OUTCOME_DEFERRED)
    return failure(SB_OUTCOME_PERMANENT, "plugin returned an unknown outcome " + std::to_string(value));
  o.outcome = static_cast<sb_outcome>(value);
  if (SB_HAS_FIELD(r, sb_action_result, external_id)) o.external_id = text(r->external_id);
  // What a plugin says is kept in the execution's history and shown by the
  // admin API (and a completed route's answer): masked as a log line is, so
  // that a provider echoing the token it was sent leaks nothing.
  const Logger::Redactor redact = Logger::instance().redactor();
  if (SB_HAS_FIELD(r, sb_action_result, reason)) o.reason = redact(text(r->reason));
  if (SB_HAS_FIELD(r, sb_action_result, provider_code)) o.provider_code = redact(text(r->provider_code));
  // A provider's pause is honoured up to a day: a broken or hostile answer
  // ("Retry-After: 99999999999") must not park the step for a century.
  if (SB_HAS_FIELD(r, sb_action_result, retry_after_s))
    o.retry_after_s = std::min<uint32_t>(r->retry_after_s, kLongestRetryAfterS);
  if (SB_HAS_FIELD(r, sb_action_result, output_json) && r->output_json.ptr && r->output_json.len > kMaxText) {
    o.output = "(an output of " + std::to_string(r->output_json.len) + " bytes, over the 1 MiB kept)";
  } else if (SB_HAS_FIELD(r, sb_action_result, output_json)) {
    const std::string out = text(r->output_json);
    if (!out.empty()) {
      o.output = parse_bounded(out);
      if (o.output.is_discarded()) {
        o.output = out;  // keep what the plugin said, as text, and say so: steps.<name>.output.x reads nothing
        static std::atomic<uint64_t> seen{0};
        if (const uint64_t n = ++seen; n == 1 || n % 1000 == 0)  // not a line per send of a broken plugin
          log_warn("plugins", "an action's output is not JSON: kept as text",
                   {{"times", n}, {"start", redact(out.substr(0, 80))}});
      }
      if (redact.any_in(out)) redact(o.output);
    }
  }
  // A 1.0 plugin's way of saying it: one meaning, whichever way it came.
  if (o.outcome == SB_OUTCOME_RETRY && o.provider_code == SB_PROVIDER_CODE_DEFERRED) o.outcome = SB_OUTCOME_DEFERRED;
  return o;
}

}  // namespace sb
