#include "addressing.h"

#include <algorithm>
#include <cctype>

#include "json_fields.h"

namespace email {

using nlohmann::json;

namespace {

std::optional<Mailbox> checked(Mailbox mailbox, const std::string& what, std::string& error) {
  if (valid_address(mailbox.address)) return mailbox;
  error = what + " '" + one_line(mailbox.address) + "' is not an email address";
  return std::nullopt;
}

}  // namespace

bool same_address(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_the_contact(const Mailbox& to, const json& subject) {
  const json& emails = switchboard_plugins::field_at(switchboard_plugins::field_at(subject, "contact"), "emails");
  if (emails.is_array())
    for (const json& email : emails)
      if (same_address(switchboard_plugins::string_at(email, "address"), to.address)) return true;
  return false;
}

std::optional<Mailbox> recipient(const json& to, const json& subject, std::string& error) {
  const json& contact = subject.is_object() && subject.contains("contact") ? subject["contact"] : json();
  if (to.is_string()) {
    Mailbox mailbox = parse_mailbox(to.get<std::string>());
    // The contact's name only on the contact's own address (not on a manager's).
    if (mailbox.name.empty() && is_the_contact(mailbox, subject))
      mailbox.name = switchboard_plugins::string_at(contact, "name");
    return checked(std::move(mailbox), "the recipient", error);
  }
  const std::string type = to.is_object() ? to.value("type", "any") : "any";
  const bool last = to.is_object() && to.value("pick", "first") == "last";
  const auto chosen = switchboard_plugins::contact_item(subject, "emails", "address", type, last);
  if (!chosen) {
    error =
        type == "any" ? "the contact has no email address" : "the contact has no email address of type '" + type + "'";
    return std::nullopt;
  }
  return checked({switchboard_plugins::string_at(contact, "name"), *chosen}, "the contact's address", error);
}

std::optional<Mailbox> sender(const std::string& from, const std::string& fallback, const json& subject,
                              std::string& error) {
  if (from == "responsible") {
    const json& entity = subject.is_object() && subject.contains("entity") ? subject["entity"] : json();
    const json& responsible = entity.is_object() && entity.contains("responsible") ? entity["responsible"] : json();
    // The first responsible manager, as Bitrix24 takes it; the system sender when that one has no address.
    if (responsible.is_array() && !responsible.empty() &&
        !switchboard_plugins::string_at(responsible[0], "email").empty())
      return checked({switchboard_plugins::string_at(responsible[0], "name"),
                      switchboard_plugins::string_at(responsible[0], "email")},
                     "the responsible manager's address", error);
  } else if (!from.empty()) {
    return checked(parse_mailbox(from), "the sender", error);
  }
  if (fallback.empty()) {
    error = from == "responsible" ? "the entity has no responsible manager with an email address, and the instance "
                                    "has no 'default_from'"
                                  : "no sender: set 'from' or 'default_from'";
    return std::nullopt;
  }
  return checked(parse_mailbox(fallback), "the default sender", error);
}

}  // namespace email
