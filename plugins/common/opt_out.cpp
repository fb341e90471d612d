#include "opt_out.h"

#include <array>

namespace switchboard_plugins {

namespace {

// Lower case for ASCII and Russian letters (UTF-8), so that "Стоп" is "стоп".
std::string folded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (c == 0xd0 && next >= 0x90 && next <= 0x9f) {  // А-П
      out += static_cast<char>(0xd0);
      out += static_cast<char>(next + 0x20);
      ++i;
    } else if (c == 0xd0 && next >= 0xa0 && next <= 0xaf) {  // Р-Я
      out += static_cast<char>(0xd1);
      out += static_cast<char>(next - 0x20);
      ++i;
    } else if (c == 0xd0 && next == 0x81) {  // Ё
      out += "\xd1\x91";
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string_view trimmed(std::string_view s) {
  auto junk = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '.' || c == '!'; };
  while (!s.empty() && junk(s.front())) s.remove_prefix(1);
  while (!s.empty() && junk(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

OptReply opt_reply(std::string_view text, bool tapped) {
  static constexpr std::array<std::string_view, 10> kOut = {"stop", "stopall", "unsubscribe", "cancel",     "end",
                                                            "quit", "optout",  "стоп",        "отписаться", "отписка"};
  // A button's title says what it answers: "Cancel" a booking, "End" a
  // chat, "Yes" to an offer. Only a button that names the opt-out does.
  static constexpr std::array<std::string_view, 7> kTappedOut = {"stop", "stopall",    "unsubscribe", "optout",
                                                                 "стоп", "отписаться", "отписка"};
  static constexpr std::array<std::string_view, 4> kIn = {"start", "unstop", "yes", "старт"};
  const std::string word = folded(trimmed(text));
  if (tapped) {
    for (std::string_view k : kTappedOut)
      if (word == k) return OptReply::kOut;
    return OptReply::kNone;
  }
  for (std::string_view k : kOut)
    if (word == k) return OptReply::kOut;
  for (std::string_view k : kIn)
    if (word == k) return OptReply::kIn;
  return OptReply::kNone;
}

nlohmann::json opt_event_payload(OptReply reply, const std::string& channel, nlohmann::json contact,
                                 const std::string& message_id, std::string_view text) {
  // false: opted out of every category of the channel; null: the opt-out forgotten (merge patch).
  contact["preferences"][channel]["all"] = reply == OptReply::kOut ? nlohmann::json(false) : nlohmann::json(nullptr);
  return {{"contact", std::move(contact)},
          {"data", {{"channel", channel}, {"message_id", message_id}, {"keyword", std::string(text)}}}};
}

}  // namespace switchboard_plugins
