// Zadarma: its API places no call that speaks a text (providers.md); it
// connects two parties (POST-less GET /v1/request/callback/): the client and
// a manager's number, SIP or PBX extension, or a PBX scenario that plays a
// recording. Requests are signed as its official client signs them; the
// outcomes come as its PBX notifications (NOTIFY_OUT_END), signed too.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "providers.h"

namespace telephony {

// PHP's urlencode (RFC 1738, as http_build_query writes a query): letters,
// digits and "-_." as they are, a space as '+', the rest %XX.
std::string php_urlencode(std::string_view text);

// The Authorization header's signature of a request to `method`
// ("/v1/request/callback/") with `params`: base64 of the hex HMAC-SHA1,
// under the secret, of method + query + md5(query), the query being the
// params sorted by name.
std::string zadarma_signature(const std::string& secret, const std::string& method,
                              std::vector<std::pair<std::string, std::string>> params);

// A PBX notification's Signature header: base64 of the hex HMAC-SHA1 of
// `signed_fields` (NOTIFY_OUT_END: internal + destination + call_start).
std::string zadarma_notify_signature(const std::string& secret, const std::string& signed_fields);

std::unique_ptr<Provider> make_zadarma(const nlohmann::json& config);

}  // namespace telephony
