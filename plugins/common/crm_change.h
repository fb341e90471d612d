// How the bundled record plugins (crm, tasks, segments) turn the answers of
// switchboard.crm/1 into a step's outcome.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
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

// A CRM's numeric ids (Bitrix24's 12345, or a template that is all
// "{{data.deal_id}}" and so keeps the number) as the text of the number, at
// these JSON Pointers: the host keeps ids as text, and 555 is "555".
inline void ids_as_text(nlohmann::json& params, std::initializer_list<const char*> pointers) {
  for (const char* pointer : pointers) {
    const nlohmann::json::json_pointer at(pointer);
    if (params.contains(at) && params[at].is_number_integer()) params[at] = params[at].dump();
  }
}

}  // namespace switchboard_plugins
