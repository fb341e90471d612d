// Who a message goes to and who it comes from, read from what the call is
// about (ActionCall::subject_json), as Bitrix24's email action offers it:
// the contact's address of a type (work, private, newsletter, any), the first
// or the last one; the sender a fixed address or the entity's responsible
// manager (the first one).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mime.h"

namespace email {

// The recipient for the action's `to`: an address string ("a@b.ru",
// "Иван <a@b.ru>") or {"type": ..., "pick": "first" | "last"}. On failure,
// `error` says why (for the step's reason).
std::optional<Mailbox> recipient(const nlohmann::json& to, const nlohmann::json& subject, std::string& error);

// The address as SMTP without SMTPUTF8 takes it: a domain in Unicode
// ("школа.рф") in its ASCII form ("xn--80atdl2c.xn--p1ai", IDNA 2008);
// none, with `error`, for a local part beyond ASCII or a domain that is not
// a valid name.
std::optional<std::string> ascii_address(const std::string& address, std::string& error);
// The same, or the address as it is where it has no ASCII form (for comparisons and names, not for sending).
std::string ascii_or_as_is(const std::string& address);

// The same address, whatever the case of its letters.
bool same_address(const std::string& a, const std::string& b);

// Whether `to` is one of the contact's own addresses (any case): only then
// is a message to it the contact's, to unsubscribe from or to track.
bool is_the_contact(const Mailbox& to, const nlohmann::json& subject);

// The sender for `from` ("responsible" or an address); `fallback` is the
// system default sender, used when the entity has no responsible manager
// with an address.
std::optional<Mailbox> sender(const std::string& from, const std::string& fallback, const nlohmann::json& subject,
                              std::string& error);

}  // namespace email
