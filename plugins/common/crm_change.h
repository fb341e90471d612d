// How the bundled record plugins (crm, tasks, segments) turn the answers of
// switchboard.crm/1 into a step's outcome.
#pragma once

#include <string>
#include <string_view>
#include <switchboard/plugin.hpp>

namespace switchboard_plugins {

// A change the host did not apply: the field at fault, or a store to retry.
inline switchboard::ActionResult change_failed(sb_status status, std::string_view why) {
  return status == SB_ERR_INVALID_ARGUMENT ? switchboard::ActionResult::invalid_params(std::string(why))
                                           : switchboard::ActionResult::retry(std::string(why));
}

// crm_apply refused the change itself (nothing will be called back).
inline switchboard::ActionResult change_refused(sb_status status) {
  if (status == SB_ERR_UNSUPPORTED)
    return switchboard::ActionResult::permanent(
        "this instance may not change the host's records: grant it switchboard.crm/1 (\"grants\": [\"crm\"])");
  // The host stopping (or its store away): the step runs again, not a dead letter.
  if (status == SB_ERR_UNAVAILABLE)
    return switchboard::ActionResult::retry("the host cannot take the change now (it may be stopping)");
  return switchboard::ActionResult::permanent("the host refused the change for this call");
}

}  // namespace switchboard_plugins
