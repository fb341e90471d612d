// The WhatsApp Business Cloud API, as this plugin speaks it: the messages
// it sends (POST /{version}/{phone-number-id}/messages) and what the answers
// mean for a rule's step.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchboard/plugin.hpp>

namespace whatsapp {

struct Config {
  std::string phone_number_id;
  std::string access_token;
  std::string base_url = "https://graph.facebook.com";
  std::string api_version = "v25.0";
  std::string default_country;
  uint32_t timeout_ms = 10000;
  bool dry_run = false;
  // The webhook; empty path = none.
  std::string webhook_path, verify_token, app_secret;

  static Config parse(std::string_view config_json);  // throws switchboard::ConfigError
  std::string messages_url() const { return base_url + "/" + api_version + "/" + phone_number_id + "/messages"; }
};

// The body of a send_text or send_template call, or why there is none: the
// step's invalid_params reason. The recipient is written as WhatsApp wants
// it, the E.164 digits without '+'.
struct Message {
  nlohmann::json body;
  std::string problem;
  bool invalid_number = false;  // the problem is the number: unreachable, not a broken rule
};
Message build_message(std::string_view action, const nlohmann::json& params, const std::string& default_country);

// The body of a mark_read call: the received message (its wamid) shows two
// blue ticks to the person who sent it.
Message build_read_receipt(const nlohmann::json& params);

// A send's answer: done with the wamid as the external id; rate limits,
// 5xx and transport errors retry (Retry-After honoured); a recipient
// WhatsApp cannot reach is unreachable (so a fallback moves on); other
// errors are permanent, with Meta's code and message.
switchboard::ActionResult map_send_response(const switchboard::HttpResponse& response);

}  // namespace whatsapp
