// Standard Webhooks signatures (https://www.standardwebhooks.com): the sender
// signs "{webhook-id}.{webhook-timestamp}.{raw body}" with HMAC-SHA256 and
// lists one or more "v1,<base64>" entries in the webhook-signature header;
// or, asymmetric, with an Ed25519 key whose public half ("whpk_<base64>")
// the receiver holds, in "v1a,<base64>" entries.
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

// The 32 key bytes of an Ed25519 public key written "whpk_<base64>";
// nullopt for anything else.
std::optional<std::string> decode_public_key(std::string_view public_key);

// As verify, for "v1a" entries signed with the Ed25519 key whose public
// half is `public_key` ("whpk_<base64>"). Only the public key is held here:
// one that leaks lets nobody sign.
std::optional<std::string> verify_asymmetric(std::string_view public_key, std::string_view id,
                                             std::string_view timestamp, std::string_view body,
                                             std::string_view signature_header, int64_t now_s, int64_t tolerance_s);

}  // namespace standard_webhooks
