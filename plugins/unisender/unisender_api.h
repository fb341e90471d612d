// UniSender's API as the plugin uses it: one form POST per call to
// {base_url}/{lang}/api/{method} with format=json and the api_key in the
// body, and what its answers mean for the step.
#pragma once

#include <string>
#include <switchboard/plugin.hpp>
#include <utility>
#include <vector>

namespace unisender {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The request for `method` with `fields` after format and api_key.
switchboard::HttpRequest api_request(const std::string& base_url, const std::string& lang, const std::string& method,
                                     const std::string& api_key, const Fields& fields);

// {"result": {...}} → done (person_id as the external id when there is one);
// {"error", "code"} → retry for a limit or a temporary failure, permanent
// otherwise, with UniSender's message and code. With `absent_is_done`
// (exclude), a contact UniSender does not have is done: it is not in the
// lists, which is what was asked, and a repeated call changes nothing.
switchboard::ActionResult api_result(const switchboard::HttpResponse& response, bool absent_is_done = false);

}  // namespace unisender
