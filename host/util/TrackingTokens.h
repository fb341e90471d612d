// The links behind /t/: what a tracked open, click or unsubscribe is about
// travels in the link itself, sealed with AES-256-GCM (the kind is its
// associated data), so a link can be neither read (it names the contact) nor
// forged, turned into another kind or pointed at another URL. No row is
// stored per link.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

struct TrackedLink {
  std::string kind;  // "open", "click" or "unsubscribe"
  std::string channel;
  std::string message_id;
  std::string contact_key;  // "" = none
  std::string event_id;     // the execution's event ...
  std::string rule;         // ... and rule ...
  std::string step;         // ... and the step that sent the message (its stable id)
  int64_t execution_id = 0;
  std::string url;  // a click's destination
};

class TrackingTokens {
 public:
  // `key`: any secret bytes (the cipher's key is derived from them); `base_url`: the host's public origin,
  // "https://sb.example.com" (no trailing slash needed).
  TrackingTokens(std::string key, std::string base_url);

  // "<base_url>/t/o/<token>" (open), ".../t/c/..." (click), ".../t/u/..." (unsubscribe).
  std::string url_for(const TrackedLink& link) const;
  // The link a token of `kind` stands for; nullopt when it is not one this
  // host signed for that kind.
  std::optional<TrackedLink> verify(std::string_view kind, std::string_view token) const;

  // A stable short id of a token (the id of the event one open or click of it becomes).
  static std::string id_of(std::string_view token);

  // The path letter of a kind ("o", "c", "u"), or "" for an unknown kind.
  static std::string_view letter_of(std::string_view kind);
  static std::string_view kind_of(std::string_view letter);

 private:
  std::string seal(std::string_view kind, std::string_view plain) const;
  std::optional<std::string> open(std::string_view kind, std::string_view token) const;

  const std::string key_;  // 32 bytes
  const std::string base_url_;
};

// A new random key, hex (for a host that was given none).
std::string random_tracking_key();

}  // namespace sb
