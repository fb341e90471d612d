// The "push" plugin: one action, "send", through Firebase Cloud Messaging
// HTTP v1. The service account's JWT is exchanged for an access token, which
// is cached until shortly before it expires and shared by every send; sends
// that arrive while it is being fetched wait for it.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>
#include <vector>

#include "deadline.h"
#include "fcm.h"
#include "form.h"
#include "json_fields.h"
#include "push_schemas.h"

namespace push {

namespace {
using nlohmann::json;
using switchboard::ActionResult;

using switchboard_plugins::dump;
}  // namespace

class Push : public switchboard::Plugin {
 public:
  Push(switchboard::Host& host, std::string_view config_json) : host_(host) {
    const json config = json::parse(config_json, nullptr, false);
    if (!config.is_object()) throw switchboard::ConfigError("the config must be a JSON object");
    account_ = ServiceAccount::from_config(config);
    base_url_ = config.value("base_url", "https://fcm.googleapis.com");
    timeout_ms_ = config.value("timeout_ms", 10000u);
    dry_run_ = config.value("dry_run", false);
    token_field_ = config.value("token_field", "fcm_token");
    if (!dry_run_ && (account_.project_id.empty() || account_.client_email.empty() || account_.private_key.empty()))
      throw switchboard::ConfigError(
          "'service_account' (the key file), or 'project_id', 'client_email' and 'private_key', are required unless "
          "'dry_run' is true");
    if (!dry_run_ && !service_account_jwt(account_, 0))
      throw switchboard::ConfigError("'private_key' is not an unencrypted PEM RSA private key (RS256 needs one)");
  }

  ~Push() override { tokens_->alive = false; }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    if (call.action != "send")
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("the parameters must be a JSON object"));
    // No token named: the contact's own, from the field the instance names
    // (contact.fields.fcm_token by default), as the other channels take the
    // contact's address or number. A list is the contact's devices: each
    // gets the message.
    std::vector<std::string> devices;
    if (params.contains("token")) {
      // The step's own: a value of another kind is the rule's to fix.
      auto named = device_tokens(params["token"]);
      if (!named) return done(ActionResult::invalid_params("'token' must be a device token or a list of them"));
      if (named->size() > kMaxDevices)
        return done(ActionResult::invalid_params("'token' lists " + std::to_string(named->size()) +
                                                 " devices, over the " + std::to_string(kMaxDevices) +
                                                 " one send goes to"));
      devices = std::move(*named);
    } else {
      // The contact's: what is not a token there is no device of theirs.
      const json subject = json::parse(call.subject_json, nullptr, false);
      const json& fields = switchboard_plugins::field_at(switchboard_plugins::field_at(subject, "contact"), "fields");
      devices = contact_device_tokens(switchboard_plugins::field_at(fields, token_field_.c_str()));
    }
    if (devices.empty()) return done(ActionResult::unreachable("the contact has no device token", "no_token"));
    // Of a contact's longer list, the latest (a list grows as devices come).
    if (devices.size() > kMaxDevices) devices.erase(devices.begin(), devices.end() - kMaxDevices);
    std::vector<json> messages;
    for (const std::string& device : devices) messages.push_back(fcm_message(params, device));
    if (auto problem = payload_problem(messages.front())) return done(ActionResult::invalid_params(*problem));
    if (dry_run_) {
      for (const json& message : messages) {
        const json record{{"channel", "push"}, {"body", message}, {"idempotency_key", call.idempotency_key}};
        if (!host_.outbox(dump(record))) return done(ActionResult::retry("the host's outbox did not take the record"));
      }
      return done(ActionResult::done("dry-run:" + std::string(call.idempotency_key)));
    }
    const int64_t deadline_ms = call.deadline_unix_ms;
    with_token([this, tokens = tokens_, messages = std::move(messages), deadline_ms, done](
                   const std::string& token, const TokenFailure& failed) mutable {
      if (!failed.reason.empty()) {
        const std::string why = "cannot get an FCM access token: " + failed.reason;
        return done(failed.refused.empty() ? ActionResult::retry(why) : ActionResult::permanent(why, failed.refused));
      }
      if (!tokens->alive) return done(ActionResult::retry("the instance stopped"));
      send_to_each(messages, token, deadline_ms, std::move(done));
    });
  }

 private:
  // Why no access token came: `refused` is Google's OAuth error when the
  // service account itself was refused (a deleted key, a bad signature),
  // which no retry cures, as google-auth retries none of them.
  struct TokenFailure {
    std::string reason;
    std::string refused;
  };
  using TokenWaiter = std::function<void(const std::string& token, const TokenFailure& failed)>;

  // One request per device, at once; the step ends when every one answered.
  void send_to_each(const std::vector<json>& messages, const std::string& token, int64_t deadline_ms,
                    switchboard::Completion done) {
    struct Devices {
      Devices(size_t n, switchboard::Completion d) : results(n), remaining(n), done(d) {}
      std::mutex mutex;
      std::vector<ActionResult> results;
      size_t remaining;
      switchboard::Completion done;
    };
    auto devices = std::make_shared<Devices>(messages.size(), done);
    for (size_t i = 0; i < messages.size(); ++i)
      send(messages[i], token, deadline_ms, [devices, i](ActionResult result) {
        std::unique_lock lock(devices->mutex);
        devices->results[i] = std::move(result);
        if (--devices->remaining > 0) return;
        lock.unlock();
        devices->done(combine_device_results(devices->results));
      });
  }

  void send(const json& message, const std::string& token, int64_t deadline_ms,
            std::function<void(ActionResult)> done) {
    switchboard::HttpRequest request;
    request.url = base_url_ + "/v1/projects/" + account_.project_id + "/messages:send";
    // Detailed errors (errorCode, the field at fault), as the Admin SDKs ask for them.
    request.headers = {
        {"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}, {"X-GOOG-API-FORMAT-VERSION", "2"}};
    request.body = dump(message);
    // The token may have taken part of the step's time: the send gets what is left.
    request.timeout_ms = switchboard_plugins::timeout_within_deadline(timeout_ms_, deadline_ms, host_.now_unix_ms());
    host_.count("push_sends_total");
    auto on_response = [tokens = tokens_, token, done](const switchboard::HttpResponse& response) mutable {
      // Expired or revoked: the retry fetches a new one. Not for an APNs or
      // web push credential FCM could not use (THIRD_PARTY_AUTH_ERROR, also 401).
      if (response.status == 401 && response.body.find("THIRD_PARTY_AUTH_ERROR") == std::string::npos &&
          response.body.find("APNS_AUTH_ERROR") == std::string::npos)
        tokens->forget(token);
      done(map_fcm_response(response));
    };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

  void with_token(TokenWaiter waiter) {
    std::unique_lock lock(tokens_->mutex);
    if (!tokens_->token.empty() && host_.now_unix_ms() < tokens_->expires_ms - 60'000) {
      const std::string token = tokens_->token;
      lock.unlock();
      return waiter(token, {});
    }
    tokens_->waiting.push_back(std::move(waiter));
    if (std::exchange(tokens_->fetching, true)) return;
    lock.unlock();
    fetch_token();
  }

  void fetch_token() {
    const int64_t now_ms = host_.now_unix_ms();
    const auto jwt = service_account_jwt(account_, now_ms / 1000);
    switchboard::HttpRequest request;
    request.url = account_.token_uri;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    request.body = switchboard_plugins::form_urlencode(
        {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", jwt.value_or("")}});
    request.timeout_ms = timeout_ms_;
    auto on_response = [tokens = tokens_, now_ms](const switchboard::HttpResponse& response) {
      using switchboard_plugins::integer_at;
      using switchboard_plugins::string_at;
      const json body = json::parse(response.body, nullptr, false);
      const std::string token = string_at(body, "access_token");
      if (response.status == 200 && !token.empty())
        return tokens->fetched(token, now_ms + integer_at(body, "expires_in", 3600) * 1000, {});
      const std::string error = string_at(body, "error");
      const bool refused = response.status >= 400 && response.status < 500 && response.status != 429 &&
                           (error == "invalid_grant" || error == "invalid_client" || error == "unauthorized_client" ||
                            error == "invalid_scope");
      tokens->fetched(
          "", 0,
          {response.status == 0 ? "no answer: " + std::string(response.transport_error)
                                : "HTTP " + std::to_string(response.status) + (error.empty() ? "" : " " + error),
           refused ? error : ""});
    };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      tokens_->fetched("", 0, {"the host's HTTP client did not take the request", ""});
  }

  switchboard::Host& host_;
  static constexpr size_t kMaxDevices = 100;
  ServiceAccount account_;
  std::string base_url_;
  uint32_t timeout_ms_ = 10000;
  bool dry_run_ = false;
  std::string token_field_;  // the contact's field holding a device token, when a step names none

  // The cached token and the sends waiting for one. Shared with the HTTP
  // callbacks, which may run after this instance is gone (a host shutting
  // down fails them then): they touch only this, never the instance.
  struct Tokens {
    std::mutex mutex;
    std::string token;
    int64_t expires_ms = 0;
    bool fetching = false;
    std::vector<TokenWaiter> waiting;
    std::atomic<bool> alive{true};  // false once the instance is gone: waiters must not use it

    void forget(const std::string& rejected) {
      std::lock_guard lock(mutex);
      if (token == rejected) token.clear();
    }
    // Ends a fetch: every waiter gets the token or the error.
    void fetched(std::string new_token, int64_t expires_at_ms, const TokenFailure& failed) {
      std::vector<TokenWaiter> waiters;
      {
        std::lock_guard lock(mutex);
        token = new_token;
        expires_ms = expires_at_ms;
        fetching = false;
        waiters.swap(waiting);
      }
      for (auto& w : waiters) {
        try {
          w(new_token, failed);
        } catch (const std::exception&) {
          // A waiter's send failed to start; the others still get their token.
        }
      }
    }
  };
  const std::shared_ptr<Tokens> tokens_ = std::make_shared<Tokens>();
};

switchboard::PluginInfo push_info() {
  switchboard::PluginInfo info;
  info.name = "push";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description = "Push notifications through Firebase Cloud Messaging HTTP v1 with a service account.";
  info.config_schema_json = std::string(push_schemas::schema_json);
  info.actions.push_back({"send",
                          "One notification to the contact's device tokens; an unregistered or missing token is "
                          "unreachable.",
                          std::string(push_schemas::actions_send_json)});
  return info;
}

}  // namespace push

SWITCHBOARD_PLUGIN(push::Push, push::push_info)
