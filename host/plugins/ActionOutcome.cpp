#include "plugins/ActionOutcome.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "log/Logger.h"
#include "plugins/HostServices.h"
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
// A reason is shown in every list of executions and dead letters, and
// logged: a page of text says what went wrong; more is a plugin's dump.
constexpr size_t kMaxReason = 8 << 10;
// An external id is a provider's message or call id, which callbacks are
// matched by: longer is not one.
constexpr size_t kMaxExternalId = 1 << 10;
constexpr uint32_t kLongestRetryAfterS = 86'400;  // a day
std::string text(sb_str s, size_t most = kMaxText) {
  if (!s.ptr || s.len == 0) return {};
  return std::string(s.ptr, s.len < most ? s.len : most);
}

}  // namespace

std::string ActionOutcome::plugin_text(std::string_view said) {
  if (said.size() <= kMaxReason) return Logger::instance().redactor()(std::string(said));
  // Cut on a UTF-8 character's start, saying how long it was.
  size_t end = kMaxReason;
  while (end > 0 && (static_cast<unsigned char>(said[end]) & 0xC0) == 0x80) --end;
  return Logger::instance().redactor()(std::string(said.substr(0, end))) + "... (cut: the plugin's text was " +
         std::to_string(said.size()) + " bytes)";
}

ActionOutcome ActionOutcome::from_plugin(const sb_action_result* r, const InstanceHost& from) {
  if (!r || r->struct_size < offsetof(sb_action_result, outcome) + sizeof(r->outcome))
    return failure(SB_OUTCOME_PERMANENT, "plugin completed with no result");
  ActionOutcome o;
  // Read the bytes, not the enum: a plugin may have stored any value there,
  // and loading an out-of-range enum is undefined behaviour.
  std::underlying_type_t<sb_outcome> raw;
  static_assert(sizeof raw == sizeof r->outcome);
  std::memcpy(&raw, &r->outcome, sizeof raw);
  const long long value = static_cast<std::make_signed_t<decltype(raw)>>(raw);  // -7, not 4294967289
  if (value < SB_OUTCOME_DONE || value > SB_OUTCOME_DEFERRED)
    return failure(SB_OUTCOME_PERMANENT, "plugin returned an unknown outcome " + std::to_string(value));
  o.outcome = static_cast<sb_outcome>(value);
  // What a plugin says is kept in the execution's history and shown by the
  // admin API (and a completed route's answer): masked as a log line is, so
  // that a provider echoing the token it was sent leaks nothing.
  const Logger::Redactor redact = Logger::instance().redactor();
  if (SB_HAS_FIELD(r, sb_action_result, external_id) && r->external_id.ptr && r->external_id.len > kMaxExternalId) {
    if (const uint64_t n = ++from.external_ids_too_long; n == 1 || n % 1000 == 0)  // not a line per send
      log_warn("plugins", "an action's external id is over 1 KiB: not kept",
               {{"plugin", from.plugin}, {"instance", from.instance}, {"bytes", r->external_id.len}, {"times", n}});
  } else if (SB_HAS_FIELD(r, sb_action_result, external_id)) {
    o.external_id = redact(text(r->external_id));
  }
  if (SB_HAS_FIELD(r, sb_action_result, reason)) o.reason = plugin_text(text(r->reason));
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
        if (const uint64_t n = ++from.outputs_not_json; n == 1 || n % 1000 == 0)  // not a line per send
          log_warn("plugins", "an action's output is not JSON: kept as text",
                   {{"plugin", from.plugin},
                    {"instance", from.instance},
                    {"times", n},
                    {"start", redact(out.substr(0, 80))}});
      }
      if (redact.any_in(out)) redact(o.output);
    }
  }
  // A 1.0 plugin's way of saying it: one meaning, whichever way it came.
  if (o.outcome == SB_OUTCOME_RETRY && o.provider_code == SB_PROVIDER_CODE_DEFERRED) o.outcome = SB_OUTCOME_DEFERRED;
  return o;
}

}  // namespace sb
