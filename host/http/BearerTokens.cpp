#include "http/BearerTokens.h"

#include <openssl/crypto.h>
#include <strings.h>

#include "util/Text.h"

namespace sb {

namespace {
ServerResponse unauthorized(const std::string& why) {
  ServerResponse r = error_response(401, "unauthorized", why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}
}  // namespace

std::optional<ServerResponse> BearerTokens::refuse(const ServerRequest& request) const {
  if (tokens_.empty()) return unauthorized("this API is off: no tokens are configured (" + setting_ + ")");
  std::string_view value;
  for (const auto& [key, v] : request.headers)
    if (strcasecmp(key.c_str(), "authorization") == 0) value = trim_blanks(v);
  if (value.empty()) return unauthorized("missing Authorization header");
  if (value.size() < 7 || strncasecmp(value.data(), "bearer ", 7) != 0)
    return unauthorized("expected 'Authorization: Bearer <token>'");
  const std::string_view token = trim_blanks(value.substr(7));
  bool match = false;
  for (const std::string& t : tokens_)
    match |= t.size() == token.size() && CRYPTO_memcmp(t.data(), token.data(), t.size()) == 0;
  if (!match) return unauthorized("invalid bearer token");
  return std::nullopt;
}

}  // namespace sb
