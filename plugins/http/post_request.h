// One "post" call turned into the request it sends: the call's parameters
// checked and merged with the instance's base_url and headers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http_config.h"

namespace switchboard {
struct HttpRequest;
}

namespace http_plugin {

// Parameters the action rejects; the message becomes the step's reason.
class InvalidParams : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PostRequest {
  struct Header {
    std::string name;
    std::string value;
    bool from_config = false;  // from the instance config: possibly a secret
  };

  std::string method = "POST";
  std::string url;
  std::vector<Header> headers;
  std::optional<nlohmann::json> body;  // absent: no body is sent
  uint32_t timeout_ms = 0;
  std::string idempotency_key;

  // Throws InvalidParams.
  static PostRequest from_params(const HttpConfig& config, std::string_view params_json,
                                 std::string_view idempotency_key);

  // Signs the request as a Standard Webhooks sender does: webhook-id (the
  // step's idempotency key, the same on every retry), webhook-timestamp
  // (`now_s`) and webhook-signature over the body as it is sent. `key` is
  // the secret's decoded bytes.
  void sign(std::string_view key, int64_t now_s);

  switchboard::HttpRequest to_http_request() const;

  // What a dry run writes to the outbox: the request as it would be sent,
  // except that the instance's header values are "[redacted]".
  nlohmann::json to_outbox_record() const;

 private:
  std::string body_text() const;
};

}  // namespace http_plugin
