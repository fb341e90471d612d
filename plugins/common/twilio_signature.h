// X-Twilio-Signature: how Twilio signs the webhooks it sends (status
// callbacks, incoming messages), for the plugins that take them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard_plugins {

// base64(HMAC-SHA1(auth token, the URL Twilio called + each POST field's
// name and value, sorted by name, then value)).
std::string twilio_signature(const std::string& auth_token, const std::string& url,
                             std::vector<std::pair<std::string, std::string>> fields);

// The header against the signature, in constant time; a missing one fails.
// The URL is tried without its port and with the scheme's default one.
bool twilio_signature_matches(const std::string& auth_token, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& fields, std::string_view given);

// A request Twilio signed, as twilio-python's RequestValidator checks one:
// a body sent as JSON carries its SHA-256 (hex) in the query, bodySHA256,
// and the signature covers the URL with that query and no fields; a form's
// `fields` are signed beside the URL, as above. `query` is the query the
// request came with.
bool twilio_request_signed(const std::string& auth_token, const std::string& url, std::string_view query,
                           std::string_view body, const std::vector<std::pair<std::string, std::string>>& fields,
                           std::string_view given);

// The fields of a request Twilio sent: a form's, or, for a body it signed
// through its hash (JSON), the object's members as text.
std::vector<std::pair<std::string, std::string>> twilio_request_fields(std::string_view query, std::string_view body);

// A status callback URL as Twilio is to be given it: with connection
// overrides that have Twilio send a report again after a 5xx answer (by
// default it does so only when it could not connect), unless the URL
// carries overrides of its own. Twilio requests the URL without them; the
// signature over either is taken.
std::string twilio_callback_with_retries(const std::string& url);

}  // namespace switchboard_plugins
