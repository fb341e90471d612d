// The voice providers, each behind one small interface, as the sms plugin's
// gateways: the request that places a call, what the answer means for the
// step, and how the provider's status reports are checked and read. Adding
// a provider is one class in providers.cpp and one name in make_provider().
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <switchboard/plugin.hpp>
#include <vector>

#include "call.h"

namespace telephony {

// What a status report turned out to be.
struct Report {
  int http_status = 200;  // the answer to the provider
  std::string refused;    // why it was not taken (401/400), for the log
  std::optional<Outcome> outcome;
  std::string fetch_key = {};  // a checked request for the data kept under this key (KeptData)
  std::string echo = {};       // answered as it is (text/plain): a provider's check of the URL
  // The outcome is of a call this instance placed only if the store keeps
  // this key (KeptData, put when it was placed): else it is nobody's.
  std::string placed_key = {};
};

// Data the provider's side fetches after the request (a scenario's call):
// the plugin keeps it in the host's store (switchboard.kv/1) before the
// request goes, so that whichever node the fetch reaches has it.
struct KeptData {
  std::string key;
  std::string value;    // {"until": <unix s>, "call": {...}}
  int64_t until_s = 0;  // ... that "until"
  // Other calls keep the same key (Zadarma's number called): a call that
  // fails does not take it away from them; it goes once its until passed.
  bool shared = false;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // Why the provider would refuse this call whatever happens (its size), or
  // nothing: checked before request(), and in a dry run too.
  virtual std::optional<std::string> refusal(const Call& call) const = 0;
  // Nothing when the request cannot be made (the reason in `error`).
  virtual std::optional<switchboard::HttpRequest> request(const Call& call, int64_t now_s, std::string& error,
                                                          std::optional<KeptData>& kept) const = 0;
  // Done with the call id as the external id (the one its reports name);
  // retry, unreachable or permanent otherwise.
  virtual switchboard::ActionResult result(const switchboard::HttpResponse& response, const Call& call) const = 0;
  // A report posted to the instance's callback_path: verified, then read.
  virtual Report report(const switchboard::InboundRequest& request) const = 0;
  // What a dry run writes to the outbox of the request: no credential.
  virtual nlohmann::json preview(const Call& call) const = 0;
};

// The provider the instance config names ("twilio", "voximplant"), with its
// credentials. Throws switchboard::ConfigError.
std::unique_ptr<Provider> make_provider(const nlohmann::json& config);

// call.answered, call.no_answer, call.busy, call.failed (and call.completed
// with the duration): the events a report becomes, ids "<call id>:<event>".
struct CallEvent {
  std::string type, id;
  nlohmann::json payload;
};
std::vector<CallEvent> call_events(const Outcome& outcome, const std::string& provider);

// Voximplant: the token a call's scenario sends back with its reports
// (base64url HMAC-SHA256 of the call id under callback_secret).
std::string callback_token(const std::string& secret, const std::string& call_id);

}  // namespace telephony
