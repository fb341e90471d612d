#include "addressing.h"

#include <idn2.h>

#include <algorithm>
#include <cctype>

#include "json_fields.h"

namespace email {

using nlohmann::json;

namespace {

std::optional<Mailbox> checked(Mailbox mailbox, const std::string& what, std::string& error) {
  if (!valid_address(mailbox.address)) {
    error = what + " '" + one_line(mailbox.address) + "' is not an email address";
    return std::nullopt;
  }
  auto ascii = ascii_address(mailbox.address, error);
  if (!ascii) {
    error = what + " " + error;
    return std::nullopt;
  }
  mailbox.address = std::move(*ascii);
  return mailbox;
}

}  // namespace

std::optional<std::string> ascii_address(const std::string& address, std::string& error) {
  const size_t at = address.rfind('@');
  const auto ascii = [](std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  };
  if (at == std::string::npos || ascii(address)) return address;
  if (!ascii(std::string_view(address).substr(0, at))) {
    error = "'" + one_line(address) + "' has letters beyond ASCII before the @, which needs SMTPUTF8 (not used here)";
    return std::nullopt;
  }
  char* domain = nullptr;
  const int status = idn2_to_ascii_8z(address.c_str() + at + 1, &domain, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (status != IDN2_OK) {
    error = "'" + one_line(address) + "' has a domain that is not a valid international name (" +
            idn2_strerror(status) + ")";
    return std::nullopt;
  }
  std::string out = address.substr(0, at + 1) + domain;
  idn2_free(domain);
  return out;
}

std::string ascii_or_as_is(const std::string& address) {
  std::string error;
  return ascii_address(address, error).value_or(address);
}

bool same_address(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_the_contact(const Mailbox& to, const json& subject) {
  // Compared in their ASCII forms: a contact's info@школа.рф is the info@xn--... a message goes to.
  const std::string address = ascii_or_as_is(to.address);
  const json& emails = switchboard_plugins::field_at(switchboard_plugins::field_at(subject, "contact"), "emails");
  if (emails.is_array())
    for (const json& email : emails)
      if (same_address(ascii_or_as_is(switchboard_plugins::string_at(email, "address")), address)) return true;
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
    // The entity's first responsible manager, as Bitrix24 takes it; else the
    // contact's (a client who registered has no deal yet, as {{Менеджер}});
    // the system sender when neither has an address.
    for (const char* record : {"entity", "contact"}) {
      const json& r = subject.is_object() && subject.contains(record) ? subject[record] : json();
      const json& responsible = r.is_object() && r.contains("responsible") ? r["responsible"] : json();
      if (!responsible.is_array() || responsible.empty()) continue;
      if (switchboard_plugins::string_at(responsible[0], "email").empty()) break;
      auto manager = checked({switchboard_plugins::string_at(responsible[0], "name"),
                              switchboard_plugins::string_at(responsible[0], "email")},
                             "the responsible manager's address", error);
      // A CRM's typo in the manager's card ("olga at school") does not lose
      // the client's letter: the system sender sends it, as for a manager
      // with no address.
      if (manager || fallback.empty()) return manager;
      break;
    }
  } else if (!from.empty()) {
    return checked(parse_mailbox(from), "the sender", error);
  }
  if (fallback.empty()) {
    error = from == "responsible" ? "neither the entity nor the contact has a responsible manager with an email "
                                    "address, and the instance has no 'default_from'"
                                  : "no sender: set 'from' or 'default_from'";
    return std::nullopt;
  }
  return checked(parse_mailbox(fallback), "the default sender", error);
}

}  // namespace email
