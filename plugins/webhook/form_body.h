// A form post (application/x-www-form-urlencoded) as the JSON object a rule
// reads: "data[FIELDS][ID]=7&event=ONCRMDEALADD" (Bitrix24's outgoing
// webhooks, amoCRM's, a site's form) is {"data": {"FIELDS": {"ID": "7"}},
// "event": "ONCRMDEALADD"}, as PHP reads it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace webhook {

// True for a Content-Type of application/x-www-form-urlencoded (any case,
// with or without parameters).
bool is_form(std::string_view content_type);

// The form's fields as an object: each name's brackets are levels
// ("a[b][c]"), "[]" appends to a list, a level whose keys are 0, 1, ... is a
// list, a later field at the same place wins. Every value is a text. Nothing, with `why` set, past the bounds (1,000
// fields, 32 levels).
std::optional<nlohmann::json> form_object(std::string_view body, std::string& why);

}  // namespace webhook
