// How an action ended, as the host keeps it (a copy of sb_action_result).
#pragma once

#include <switchboard/plugin.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sb {

struct InstanceHost;

struct ActionOutcome {
  sb_outcome outcome = SB_OUTCOME_DONE;
  std::string external_id;
  std::string reason;
  std::string provider_code;
  uint32_t retry_after_s = 0;
  nlohmann::json output;  // null when the plugin gave none
  // The host gave the call up because an operator cancelled its execution:
  // not the provider's answer; nothing to retry or count.
  bool cancelled = false;

  bool ok() const { return outcome == SB_OUTCOME_DONE; }
  nlohmann::json to_json() const;

  static ActionOutcome failure(sb_outcome outcome, std::string reason) {
    ActionOutcome o;
    o.outcome = outcome;
    o.reason = std::move(reason);
    return o;
  }
  static ActionOutcome given_up_for_cancel() {
    ActionOutcome o = failure(SB_OUTCOME_RETRY, "the execution was cancelled");
    o.cancelled = true;
    return o;
  }
  // What a plugin said (a reason, an exception's text) as the host keeps it:
  // cut at 8 KiB, and masked as a log line is.
  static std::string plugin_text(std::string_view said);
  // Copies and sanitises what a plugin reported; never throws on garbage.
  // `from` names the instance in what is logged about it.
  static ActionOutcome from_plugin(const sb_action_result* result, const InstanceHost& from);
};

// "done", "retry", "unreachable", "permanent", "invalid_params".
std::string_view outcome_name(sb_outcome outcome);

}  // namespace sb
