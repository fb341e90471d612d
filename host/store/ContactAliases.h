// The keys a person is known by besides their contact's own: each email
// ("email:<address>", case-insensitive) and phone ("phone:<number>", its
// digits) they were named with. The store learns them (EventWrites.cpp), so
// that an event naming only an address or a number (an SMS or WhatsApp
// reply) reaches the contact that an earlier event named with it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb {

std::string email_alias(std::string_view address);
// "+7 (999) 000-11-22" -> "phone:+79990001122": the same number however written.
// One without a "+" is read in the account's country (set_phone_region):
// in Russia "8 (999) 000-11-22" and "79990001122" are "phone:+79990001122".
std::string phone_alias(std::string_view number);
// The account's country (ISO 3166 "RU"), set once when the host starts,
// before any thread reads it; "" (the default) reads no national forms.
void set_phone_region(std::string region);
const std::string& phone_region();
// What an alias says as written by a person ("Email:Ivan@Example.com"), as
// the store keeps it; anything else unchanged.
std::string normalized_alias(const std::string& key);

// The aliases of a contact object: its emails', then its phones', once each.
std::vector<std::string> contact_aliases(const nlohmann::json& contact);

bool is_id_key(const std::string& key);  // "id:<id>": a contact the CRM names, not an alias

// A stored contact's (alias, key) pairs, for a store upgraded from a
// version that kept no aliases: its emails and phones, and its own key when
// it has no id (a contact known only by an address finds itself).
std::vector<std::pair<std::string, std::string>> aliases_of_stored(const std::string& key,
                                                                   const std::string& data_json);

}  // namespace sb
