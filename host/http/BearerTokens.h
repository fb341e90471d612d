// "Authorization: Bearer <token>" against a set of configured tokens,
// compared in constant time (every token, whatever matched first).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http/ServerConnection.h"

namespace sb {

class BearerTokens {
 public:
  // `setting` names the config key, for the error when no token is set.
  BearerTokens(std::vector<std::string> tokens, std::string setting)
      : tokens_(std::move(tokens)), setting_(std::move(setting)) {}

  // Empty when the request carries one of the tokens; otherwise a 401 answer
  // saying why (never echoing what was sent).
  std::optional<ServerResponse> refuse(const ServerRequest& request) const;

 private:
  std::vector<std::string> tokens_;
  std::string setting_;
};

}  // namespace sb
