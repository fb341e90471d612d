#include "fcm.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <charconv>
#include <memory>

#include "base64.h"
#include "json_fields.h"

namespace push {

using nlohmann::json;
using switchboard::ActionResult;

std::optional<std::string> service_account_jwt(const std::string& client_email, const std::string& private_key_pem,
                                               const std::string& audience, int64_t now_s) {
  const std::string header = switchboard_plugins::base64url(R"({"alg":"RS256","typ":"JWT"})");
  const std::string claims = switchboard_plugins::base64url(json{
      {"iss", client_email},
      {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
      {"aud", audience},
      {"iat", now_s},
      {"exp", now_s + 3600}}.dump());
  const std::string signing_input = header + "." + claims;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())), &BIO_free);
  if (!bio) return std::nullopt;
  // No password callback: an encrypted key must not wait for a terminal prompt.
  auto no_password = [](char*, int, int, void*) { return 0; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr), &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return std::nullopt;  // RS256 needs RSA
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1)
    return std::nullopt;
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
    return std::nullopt;
  signature.resize(length);
  return signing_input + "." + switchboard_plugins::base64url(signature);
}

json fcm_message(const json& params) {
  json message{{"token", params.value("token", "")}};
  json notification = json::object();
  if (params.contains("title")) notification["title"] = params["title"];
  if (params.contains("body")) notification["body"] = params["body"];
  if (!notification.empty()) message["notification"] = notification;
  if (params.contains("data") && params["data"].is_object() && !params["data"].empty())
    message["data"] = params["data"];
  return json{{"message", message}};
}

ActionResult map_fcm_response(const switchboard::HttpResponse& response) {
  if (response.status == 0) return ActionResult::retry("FCM did not answer: " + std::string(response.transport_error));
  using switchboard_plugins::field_at;
  using switchboard_plugins::string_at;
  const json body = json::parse(response.body, nullptr, false);
  if (response.status == 200) {
    // Accepted: never retried, even when the answer is odd (that would send twice).
    const std::string name = string_at(body, "name");
    return ActionResult::done(name, json{{"name", name}}.dump());
  }
  const json& e = field_at(body, "error");
  const std::string status = string_at(e, "status");
  const std::string message = string_at(e, "message", "HTTP " + std::to_string(response.status));
  std::string error_code;
  const json& details = field_at(e, "details");
  if (details.is_array())
    for (const json& d : details)
      if (const std::string c = string_at(d, "errorCode"); !c.empty()) error_code = c;
  const std::string code = !error_code.empty() ? error_code
                           : !status.empty()   ? status
                                               : std::to_string(response.status);
  uint32_t after = 0;
  if (auto h = response.header("retry-after")) std::from_chars(h->data(), h->data() + h->size(), after);
  if (error_code == "UNREGISTERED" || error_code == "SENDER_ID_MISMATCH" ||
      (error_code == "INVALID_ARGUMENT" && message.find("token") != std::string::npos))
    return ActionResult::unreachable(message, code);
  if (response.status == 401 || response.status == 429 || response.status >= 500 || error_code == "QUOTA_EXCEEDED" ||
      error_code == "UNAVAILABLE" || error_code == "INTERNAL")
    return ActionResult::retry(message, after, code);
  return ActionResult::permanent(message, code);
}

}  // namespace push
