// The SMS gateways, each behind one small interface: how to send one message
// (the HTTP request) and what the answer means for the step. Adding a
// gateway is one class here and one name in make_gateway().
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <switchboard/plugin.hpp>

namespace sms {

struct Message {
  std::string to;  // E.164, "+79990001122"
  std::string text;
  std::string idempotency_key;
  std::string from;  // the step's sender, else the instance's
};

class Gateway {
 public:
  virtual ~Gateway() = default;
  virtual std::string name() const = 0;
  virtual switchboard::HttpRequest request(const Message& message) const = 0;
  // Done with the gateway's message id as the external id; retry,
  // unreachable (a number the gateway cannot reach) or permanent otherwise.
  virtual switchboard::ActionResult result(const switchboard::HttpResponse& response, const Message& message) const = 0;
  // The "status" action: the gateway's request for what became of the
  // message it numbered `id` (sent to `to`, E.164), and its answer as done
  // with {"status": "delivered" | ..., "status_code"} (the words its
  // delivery reports use), or why not.
  virtual switchboard::HttpRequest status_request(const std::string& id, const std::string& to) const = 0;
  virtual switchboard::ActionResult status_result(const switchboard::HttpResponse& response,
                                                  const std::string& id) const = 0;
};

// The gateway the instance config names ("smsru", "smsc", "twilio"), with
// its credentials. Throws switchboard::ConfigError.
std::unique_ptr<Gateway> make_gateway(const nlohmann::json& config);

}  // namespace sms
