#include "zadarma.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "base64.h"
#include "form.h"
#include "hex.h"
#include "json_fields.h"
#include "provider_answers.h"

namespace telephony {

namespace {

using nlohmann::json;
using switchboard::ActionResult;
using switchboard::HttpRequest;
using switchboard::HttpResponse;
using switchboard::InboundRequest;
using switchboard_plugins::string_at;

constexpr char kCallbackMethod[] = "/v1/request/callback/";

std::string hmac_sha1_hex_base64(const std::string& secret, const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), digest, &length);
  return switchboard_plugins::base64(
      switchboard_plugins::hex(std::string_view(reinterpret_cast<const char*>(digest), length)));
}

// PHP's urlencode (RFC 1738, as http_build_query writes a query): letters,
// digits and "-_." as they are, a space as '+', the rest %XX.
std::string php_urlencode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (plain) {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

std::string query_of(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string query;
  for (const auto& [name, value] : params)
    query += (query.empty() ? "" : "&") + php_urlencode(name) + "=" + php_urlencode(value);
  return query;
}

std::string digits_of(const std::string& number) {
  std::string digits;
  for (char c : number)
    if (c >= '0' && c <= '9') digits += c;
  return digits;
}

// The Authorization header's signature of a request to `method`
// ("/v1/request/callback/") with `params`: base64 of the hex HMAC-SHA1,
// under the secret, of method + query + md5(query), the query being the
// params sorted by name.
std::string zadarma_signature(const std::string& secret, const std::string& method,
                              std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  const std::string query = query_of(params);
  return hmac_sha1_hex_base64(secret, method + query + switchboard_plugins::digest_hex(EVP_md5(), query));
}

// A PBX notification's Signature header: base64 of the hex HMAC-SHA1 of
// `signed_fields` (NOTIFY_OUT_END: internal + destination + call_start).
std::string zadarma_notify_signature(const std::string& secret, const std::string& signed_fields) {
  return hmac_sha1_hex_base64(secret, signed_fields);
}

class Zadarma final : public Provider {
 public:
  explicit Zadarma(const json& c)
      : base_(c.value("base_url", "https://api.zadarma.com")),
        key_(switchboard_plugins::required_setting(c, "api_key", "provider")),
        secret_(switchboard_plugins::required_setting(c, "api_secret", "provider")),
        sip_(c.value("sip", "")) {}

  std::string name() const override { return "zadarma"; }

  std::optional<std::string> refusal(const Call& call) const override {
    if (call.connects()) return std::nullopt;
    return "Zadarma's API neither speaks a text nor plays a link: use \"connect\", to a manager or to a PBX "
           "scenario that plays the recording";
  }

  std::optional<HttpRequest> request(const Call& call, int64_t now_s, std::string&,
                                     std::optional<KeptData>& kept) const override {
    // Its notifications come for every outgoing call of the PBX: the number
    // called, kept in the host's store while the call may last, tells ours.
    kept = KeptData{placed_key(call.to), switchboard_plugins::dump({{"until", now_s + kPlacedS}}), now_s + kPlacedS,
                    /*shared=*/true};
    const auto params = params_of(call);
    HttpRequest r;
    r.method = "GET";
    r.url = base_ + kCallbackMethod + "?" + query_of(params);
    r.headers = {{"Authorization", key_ + ":" + zadarma_signature(secret_, kCallbackMethod, params)}};
    return r;
  }

  ActionResult result(const HttpResponse& response, const Call& call) const override {
    if (auto failure = switchboard_plugins::transport_failure(response, "zadarma")) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300 && string_at(body, "status") == "success")
      // Zadarma names no call: its notifications are told apart by the number called (data.to).
      return ActionResult::done("", switchboard_plugins::dump({{"status", "requested"},
                                                               {"to", call.to},
                                                               {"connect", call.connect},
                                                               {"time", body.value("time", json())},
                                                               {"provider", "zadarma"}}));
    const std::string message = string_at(body, "message", "zadarma answered HTTP " + std::to_string(response.status));
    return ActionResult::permanent(message, std::to_string(response.status));
  }

  Report report(const InboundRequest& request) const override {
    // The cabinet checks the notifications' URL first: its echo, back.
    if (request.method == "GET") {
      const auto fields = switchboard_plugins::form_decode(request.query);
      if (auto echo = switchboard_plugins::form_field(fields, "zd_echo")) return {200, "", std::nullopt, "", *echo};
      return {400, "a GET without zd_echo", std::nullopt};
    }
    if (request.method != "POST") return {405, "not a POST", std::nullopt};
    const auto fields = switchboard_plugins::form_decode(request.body);
    const auto field = [&](const char* name) { return switchboard_plugins::form_field(fields, name).value_or(""); };
    const std::string event = field("event");
    // An outgoing call's notifications are signed over the extension, the number and the start.
    if (event != "NOTIFY_OUT_START" && event != "NOTIFY_OUT_END") return {200, "", std::nullopt};
    const std::string expected =
        zadarma_notify_signature(secret_, field("internal") + field("destination") + field("call_start"));
    const std::string given(request.header("signature").value_or(""));
    if (given.empty()) return {401, "missing Signature", std::nullopt};
    if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0)
      return {401, "Signature does not match", std::nullopt};
    if (event == "NOTIFY_OUT_START") return {200, "", std::nullopt};
    // The call's end: how it went, as Zadarma names it.
    static const std::map<std::string, std::string> kOutcomes = {
        {"answered", "completed"}, {"busy", "busy"}, {"no answer", "no_answer"}, {"cancel", "no_answer"}};
    const std::string disposition = field("disposition");
    const auto outcome = kOutcomes.find(disposition);
    const std::string destination = digits_of(field("destination"));
    if (destination.empty()) return {200, "", std::nullopt};  // an extension's call: none of ours
    Outcome o{field("pbx_call_id"), outcome != kOutcomes.end() ? outcome->second : "failed",
              disposition,          -1,
              "+" + destination,    field("internal")};
    if (o.call_id.empty()) return {400, "no pbx_call_id", std::nullopt};
    const std::string duration = field("duration");
    if (int seconds = 0; std::from_chars(duration.data(), duration.data() + duration.size(), seconds).ec == std::errc())
      o.duration_s = std::max(seconds, 0);
    std::string placed = placed_key(o.to);  // before `o` is moved
    return {200, "", std::move(o), "", "", std::move(placed)};
  }

  json preview(const Call& call) const override {
    json params = json::object();
    for (const auto& [name, value] : params_of(call)) params[name] = value;
    return {{"url", base_ + kCallbackMethod}, {"params", params}};
  }

 private:
  static constexpr int64_t kPlacedS = 3600;  // how long a call of ours may ring and last

  static std::string placed_key(const std::string& to) { return "zadarma:" + digits_of(to); }

  // Sorted by name, as the signature wants them. "predicted": the client is
  // called first and joined to `connect` once they answer; without it the
  // manager is called first. A phone number goes as its digits (as the
  // official client sends numbers); an extension or a scenario ("0-1") as
  // written.
  std::vector<std::pair<std::string, std::string>> params_of(const Call& call) const {
    std::map<std::string, std::string> params{
        {"format", "json"},
        {"from", call.connect_e164.empty() ? call.connect : digits_of(call.connect_e164)},
        {"to", digits_of(call.to)}};
    if (call.client_first) params["predicted"] = "1";
    if (!sip_.empty()) params["sip"] = sip_;
    return {params.begin(), params.end()};
  }

  const std::string base_, key_, secret_, sip_;
};

}  // namespace

std::unique_ptr<Provider> make_zadarma(const json& config) { return std::make_unique<Zadarma>(config); }

}  // namespace telephony
