// Interactive messages (send_buttons, send_list): the Cloud API's
// "interactive" object built from a step's parameters, within Meta's limits,
// so that what Meta would refuse fails the step as a broken rule and is not
// sent. A tapped button or row comes back as message.replied with its
// reply_id (whatsapp_webhook.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace whatsapp {

// {"type": "button", "body": ..., "action": {"buttons": [...]}} from
// text, buttons (1 to 3: a title, or {id, title}), header and footer; or a
// problem (`out` untouched).
std::string reply_buttons(const nlohmann::json& params, nlohmann::json& out);

// {"type": "list", ...} from text, button, rows or sections, header and footer.
std::string list_of_rows(const nlohmann::json& params, nlohmann::json& out);

}  // namespace whatsapp
