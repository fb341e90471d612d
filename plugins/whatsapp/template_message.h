// Template messages (send_template): the Cloud API's "template" object built
// from a step's parameters: the body's values by position ({{1}}) or by name
// ({{first_name}}), the header's (a text value, an image, a video, a
// document or a location) and the buttons' (a quick reply's payload, a URL's
// suffix, a coupon code). What Meta would refuse fails the step unsent.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace whatsapp {

// {"name", "language": {"code"}, "components"?: [...]}; or a problem (`out`
// untouched).
std::string template_object(const nlohmann::json& params, nlohmann::json& out);

}  // namespace whatsapp
