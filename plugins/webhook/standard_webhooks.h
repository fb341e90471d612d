// Standard Webhooks signatures (https://www.standardwebhooks.com): the sender
// signs "{webhook-id}.{webhook-timestamp}.{raw body}" with HMAC-SHA256 and
// lists one or more "v1,<base64>" entries in the webhook-signature header.
//
// Pure functions with no host dependency, so that the verification rules can
// be tested against the specification's public vectors on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace standard_webhooks {

// The key bytes of a secret written as "whsec_<base64>" or as bare base64
// (padding optional); nullopt when it is not base64 or decodes to nothing.
std::optional<std::string> decode_secret(std::string_view secret);

// The "v1,<base64>" signature entry for one message, signed with `key` (the
// decoded bytes, not the "whsec_" text).
std::string sign(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view body);

// Checks one delivery. Returns nullopt when it is authentic, else the reason
// it is not, fit to show the sender: a reason never contains the secret or the
// expected signature. An empty id, timestamp or signature_header counts as a
// missing header. `timestamp` is in Unix seconds and must lie within
// `tolerance_s` of `now_s` either way. Entries of an unknown version are
// skipped; one matching v1 entry is enough.
std::optional<std::string> verify(std::string_view secret, std::string_view id, std::string_view timestamp,
                                  std::string_view body, std::string_view signature_header, int64_t now_s,
                                  int64_t tolerance_s);

}  // namespace standard_webhooks
