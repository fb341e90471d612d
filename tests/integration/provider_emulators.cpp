#include "integration/provider_emulators.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "base64.h"
#include "form.h"
#include "plugins/rsa_test_key.h"

namespace sb::test {

namespace {

using nlohmann::json;
using Answer = std::optional<std::pair<int, std::string>>;

std::string header(const RecordedRequest& r, const std::string& name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

std::map<std::string, std::string> form(const std::string& body) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : switchboard_plugins::form_decode(body)) out.emplace(std::move(k), std::move(v));
  return out;
}

Answer meta_error(int status, int code, const std::string& type, const std::string& message) {
  return std::pair{
      status,
      json{{"error", {{"message", message}, {"type", type}, {"code", code}, {"fbtrace_id", "AemuTrace"}}}}.dump()};
}

Answer twilio_error(int status, int code, const std::string& message) {
  return std::pair{status, json{{"code", code},
                                {"message", message},
                                {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
                                {"status", status}}
                               .dump()};
}

// A template's components as the Cloud API takes them: a header, a body and
// buttons (each with its sub_type and index), every parameter of a known
// type with its value; a body's parameters all named or none.
Answer template_components_refused(const json& components) {
  const auto invalid = [] { return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter"); };
  const auto missing = [](const std::string& what) {
    return meta_error(400, 131008, "OAuthException", "(#131008) Required parameter is missing: " + what);
  };
  const auto text_of = [](const json& o, const char* key) {
    return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
  };
  if (!components.is_array()) return invalid();
  static const std::set<std::string> kSubTypes{"quick_reply", "url", "copy_code", "flow", "catalog"};
  static const std::set<std::string> kMedia{"image", "video", "document"};
  for (const json& c : components) {
    const std::string type = text_of(c, "type");
    if (type != "header" && type != "body" && type != "button") return invalid();
    if (type == "button") {
      if (!kSubTypes.count(text_of(c, "sub_type"))) return missing("sub_type");
      const std::string index = text_of(c, "index");
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return missing("index");
    }
    if (!c.contains("parameters") || !c["parameters"].is_array() || c["parameters"].empty()) return invalid();
    size_t named = 0;
    for (const json& p : c["parameters"]) {
      const std::string kind = text_of(p, "type");
      named += p.contains("parameter_name");
      if (kind == "text" || kind == "payload") {
        if (text_of(p, kind.c_str()).empty()) return missing(kind);
      } else if (kind == "coupon_code") {
        size_t characters = 0;
        for (const unsigned char ch : text_of(p, "coupon_code")) characters += (ch & 0xC0) != 0x80;
        if (characters == 0 || characters > 15) return invalid();
      } else if (kMedia.count(kind)) {
        const json& m = p.contains(kind) ? p[kind] : json();
        if (!m.is_object() || m.contains("link") == m.contains("id")) return missing(kind + "['link'] or ['id']");
      } else if (kind == "location") {
        const json& l = p.contains("location") ? p["location"] : json();
        if (!l.is_object() || !l.contains("latitude") || !l.contains("longitude")) return missing("location");
      } else if (kind != "currency" && kind != "date_time") {
        return invalid();
      }
    }
    if (named != 0 && named != c["parameters"].size())
      return meta_error(400, 132000, "OAuthException",
                        "(#132000) Number of parameters does not match the expected number of params");
  }
  return std::nullopt;
}

}  // namespace

HttpSink::Checker whatsapp_cloud_api(const std::string& access_token, const std::string& phone_number_id) {
  return [access_token, phone_number_id](const RecordedRequest& r) -> Answer {
    // Credentials first, as the Graph API checks them.
    if (header(r, "authorization") != "Bearer " + access_token)
      return meta_error(401, 190, "OAuthException", "Invalid OAuth access token - Cannot parse access token");
    static const std::regex path(R"(^/v[0-9]+\.[0-9]+/([^/]+)/messages$)");
    std::smatch m;
    if (r.method != "POST" || !std::regex_match(r.uri, m, path) || m[1] != phone_number_id)
      return meta_error(400, 100, "GraphMethodException",
                        "Unsupported post request. Object with ID '" + (m.size() > 1 ? m[1].str() : std::string()) +
                            "' does not exist, cannot be loaded due to missing permissions, or does not support "
                            "this operation.");
    const json body = json::parse(r.body, nullptr, false);
    const auto text_at = [&](std::initializer_list<const char*> keys) {
      const json* at = &body;
      for (const char* key : keys) {
        if (!at->is_object() || !at->contains(key)) return std::string();
        at = &(*at)[key];
      }
      return at->is_string() ? at->get<std::string>() : std::string();
    };
    if (header(r, "content-type").rfind("application/json", 0) != 0 || !body.is_object())
      return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
    if (text_at({"messaging_product"}) != "whatsapp")
      return meta_error(400, 100, "OAuthException", "(#100) The parameter messaging_product is required.");
    // A read receipt: the received message's id, and Meta's {"success": true}.
    if (body.contains("status")) {
      if (text_at({"status"}) != "read" || text_at({"message_id"}).empty())
        return meta_error(400, 100, "OAuthException", "(#100) The parameter message_id is required.");
      return std::pair{200, std::string(R"({"success":true})")};
    }
    // A reply quotes the message it answers by its id.
    if (body.contains("context") && text_at({"context", "message_id"}).empty())
      return meta_error(400, 100, "OAuthException", "(#100) The parameter context['message_id'] is required.");
    if (text_at({"to"}).find_first_not_of("+0123456789") != std::string::npos || text_at({"to"}).empty())
      return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
    const std::string type = body.contains("type") ? text_at({"type"}) : "text";
    if (type == "text" && text_at({"text", "body"}).empty())
      return meta_error(400, 100, "OAuthException", "(#100) The parameter text['body'] is required.");
    if (type == "template" &&
        (text_at({"template", "name"}).empty() || text_at({"template", "language", "code"}).empty()))
      return meta_error(400, 100, "OAuthException", "(#100) The parameter template['name'] is required.");
    if (type == "template" && body["template"].contains("components"))
      if (auto refused = template_components_refused(body["template"]["components"])) return refused;
    // Media: a link or an uploaded id (not both); a caption only where one shows, a filename only on a document.
    static const std::set<std::string> media{"image", "document", "audio", "video", "sticker"};
    if (media.count(type)) {
      const json& m = body.contains(type) ? body[type] : json();
      if (!m.is_object() || (m.contains("link") == m.contains("id")))
        return meta_error(400, 100, "OAuthException",
                          "(#100) Param " + type + "['link'] or " + type + "['id'] is required");
      if (m.contains("link") && text_at({type.c_str(), "link"}).rfind("http", 0) != 0)
        return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
      if ((m.contains("caption") && (type == "audio" || type == "sticker")) ||
          (m.contains("filename") && type != "document"))
        return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
      return std::nullopt;
    }
    // Interactive: reply buttons (1 to 3) or a list (10 rows in all), within Meta's limits.
    if (type == "interactive") {
      const json& in = body.contains("interactive") ? body["interactive"] : json();
      const std::string kind = text_at({"interactive", "type"});
      const auto too_long = [](const std::string& s, size_t most) {
        size_t n = 0;
        for (const unsigned char c : s) n += (c & 0xC0) != 0x80;
        return n > most;
      };
      const std::string body_text = text_at({"interactive", "body", "text"});
      if (body_text.empty())
        return meta_error(400, 100, "OAuthException", "(#100) The parameter interactive['body'] is required.");
      const auto invalid = [] {
        return meta_error(400, 131009, "OAuthException", "(#131009) Parameter value is not valid");
      };
      // A string member of `o`, "" when it is not one.
      const auto text_of = [](const json& o, const char* key) {
        return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
      };
      if ((in.contains("header") &&
           (text_of(in["header"], "type") != "text" || too_long(text_of(in["header"], "text"), 60))) ||
          (in.contains("footer") && too_long(text_of(in["footer"], "text"), 60)))
        return invalid();
      const json& action = in.contains("action") ? in["action"] : json();
      if (kind == "button") {
        const json& buttons = action.contains("buttons") ? action["buttons"] : json();
        if (too_long(body_text, 1024) || !buttons.is_array() || buttons.empty() || buttons.size() > 3) return invalid();
        std::set<std::string> ids, titles;
        for (const json& b : buttons) {
          if (text_of(b, "type") != "reply" || !b.contains("reply")) return invalid();
          const std::string id = text_of(b["reply"], "id"), title = text_of(b["reply"], "title");
          if (id.empty() || title.empty() || too_long(title, 20) || too_long(id, 256) || !ids.insert(id).second ||
              !titles.insert(title).second)
            return invalid();
        }
        return std::nullopt;
      }
      if (kind == "list") {
        const json& sections = action.contains("sections") ? action["sections"] : json();
        const std::string button = action.value("button", "");
        if (too_long(body_text, 4096) || button.empty() || too_long(button, 20) || !sections.is_array() ||
            sections.empty() || sections.size() > 10)
          return invalid();
        size_t rows = 0;
        std::set<std::string> ids;
        for (const json& section : sections) {
          if (!section.is_object() || !section.contains("rows") || !section["rows"].is_array() ||
              (sections.size() > 1 && text_of(section, "title").empty()) || too_long(text_of(section, "title"), 24))
            return invalid();
          for (const json& row : section["rows"]) {
            ++rows;
            const std::string id = text_of(row, "id"), title = text_of(row, "title");
            if (id.empty() || title.empty() || too_long(id, 200) || too_long(title, 24) ||
                too_long(text_of(row, "description"), 72) || !ids.insert(id).second)
              return invalid();
          }
        }
        if (rows == 0 || rows > 10) return invalid();
        return std::nullopt;
      }
      return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
    }
    if (type != "text" && type != "template") return meta_error(400, 100, "OAuthException", "(#100) Invalid parameter");
    return std::nullopt;
  };
}

HttpSink::Checker sms_ru_checks(const std::string& api_id) {
  return [api_id](const RecordedRequest& r) -> Answer {
    auto f = form(r.body);
    const std::string query = r.uri.find('?') == std::string::npos ? "" : r.uri.substr(r.uri.find('?') + 1);
    for (const auto& [k, v] : form(query)) f.emplace(k, v);
    const auto error = [](int code, const std::string& text) {
      return std::pair{200, json{{"status", "ERROR"}, {"status_code", code}, {"status_text", text}}.dump()};
    };
    if (r.uri.substr(0, r.uri.find('?')) != "/sms/send") return std::pair{404, std::string("Not Found")};
    if (f["json"] != "1") return std::pair{200, std::string("200\n")};  // without json=1, SMS.ru answers in lines
    if (f["api_id"] != api_id) return error(200, "Неправильный api_id");
    if (f["to"].empty()) return error(202, "Неправильно указан номер телефона получателя, либо на него нет маршрута");
    if (f["msg"].empty()) return error(203, "Нет текста сообщения");
    return std::nullopt;
  };
}

HttpSink::Checker twilio_messages(const std::string& account_sid, const std::string& auth_token) {
  return [account_sid, auth_token](const RecordedRequest& r) -> Answer {
    if (header(r, "authorization") != "Basic " + switchboard_plugins::base64(account_sid + ":" + auth_token))
      return twilio_error(401, 20003, "Authenticate");
    if (r.method != "POST" || r.uri != "/2010-04-01/Accounts/" + account_sid + "/Messages.json")
      return twilio_error(404, 20404, "The requested resource " + r.uri + " was not found");
    auto f = form(r.body);
    if (f["To"].empty()) return twilio_error(400, 21604, "A 'To' phone number is required.");
    if (f["From"].empty() && f["MessagingServiceSid"].empty())
      return twilio_error(400, 21603, "A 'From' phone number is required.");
    if (f["Body"].empty() && f["MediaUrl"].empty()) return twilio_error(400, 21602, "Message body is required.");
    return std::nullopt;
  };
}

HttpSink::Checker fcm(const std::string& project_id, const std::string& client_email, const std::string& token_url,
                      const std::string& access_token) {
  return [=](const RecordedRequest& r) -> Answer {
    if (r.uri == "/token") {
      const auto refused = [](const std::string& why) {
        return std::pair{400, json{{"error", "invalid_grant"}, {"error_description", why}}.dump()};
      };
      auto f = form(r.body);
      if (r.method != "POST" || f["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer")
        return std::pair{400,
                         json{{"error", "unsupported_grant_type"}, {"error_description", "Invalid grant_type"}}.dump()};
      const std::string& jwt = f["assertion"];
      const size_t first = jwt.find('.'), last = jwt.rfind('.');
      if (first == std::string::npos || first == last || !fake::rs256_valid(jwt))
        return refused("Invalid JWT Signature.");
      const json header = json::parse(fake::base64url_decode(jwt.substr(0, first)), nullptr, false);
      const json claims = json::parse(fake::base64url_decode(jwt.substr(first + 1, last - first - 1)), nullptr, false);
      if (!header.is_object() || header.value("alg", "") != "RS256") return refused("Invalid JWT: alg must be RS256.");
      if (!claims.is_object() || claims.value("iss", "") != client_email)
        return refused("Invalid JWT: unknown issuer.");
      if (claims.value("aud", "") != token_url)
        return refused("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.");
      if (claims.value("scope", "").find("https://www.googleapis.com/auth/firebase.messaging") == std::string::npos)
        return std::pair{400, json{{"error", "invalid_scope"}, {"error_description", "Invalid OAuth scope."}}.dump()};
      if (!claims.contains("exp") || !claims.contains("iat") || !claims["exp"].is_number_integer() ||
          !claims["iat"].is_number_integer() || claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>() > 3600)
        return refused("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
      return std::nullopt;
    }
    const auto google_error = [](int status, const std::string& code, const std::string& message,
                                 const char* fcm_code) {
      json error{{"code", status}, {"message", message}, {"status", code}};
      if (fcm_code)
        error["details"] = {
            {{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"}, {"errorCode", fcm_code}}};
      return std::pair{status, json{{"error", error}}.dump()};
    };
    if (header(r, "authorization") != "Bearer " + access_token)
      return google_error(401, "UNAUTHENTICATED",
                          "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                          "cookie or other valid authentication credential.",
                          nullptr);
    if (r.method != "POST" || r.uri != "/v1/projects/" + project_id + "/messages:send")
      return google_error(404, "NOT_FOUND", "Requested entity was not found.", nullptr);
    const json body = json::parse(r.body, nullptr, false);
    const json* message = body.is_object() && body.contains("message") ? &body["message"] : nullptr;
    if (!message || !message->is_object() || !message->contains("token") || !(*message)["token"].is_string() ||
        (*message)["token"].get<std::string>().empty())
      return google_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                          "INVALID_ARGUMENT");
    return std::nullopt;
  };
}

namespace {

// PHP's urlencode, as http_build_query writes a query (RFC 1738).
std::string php_encoded(const std::string& text) {
  std::string out;
  char hex[4];
  for (const unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string hex_of(const unsigned char* bytes, unsigned int n) {
  std::string out;
  char two[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(two, sizeof two, "%02x", bytes[i]);
    out += two;
  }
  return out;
}

Answer zadarma_error(int status, const std::string& message) {
  return std::pair{status, json{{"status", "error"}, {"message", message}}.dump()};
}

}  // namespace

HttpSink::Checker zadarma_callback(const std::string& key, const std::string& secret) {
  return [key, secret](const RecordedRequest& r) -> Answer {
    const size_t q = r.uri.find('?');
    const std::string method = r.uri.substr(0, q);
    if (r.method != "GET" || method != "/v1/request/callback/") return zadarma_error(404, "Method not found");
    // The official client's signature: the parameters sorted by name.
    std::map<std::string, std::string> params;
    for (auto& [k, v] : switchboard_plugins::form_decode(q == std::string::npos ? "" : r.uri.substr(q + 1)))
      params[k] = v;
    std::string query;
    for (const auto& [k, v] : params) query += (query.empty() ? "" : "&") + php_encoded(k) + "=" + php_encoded(v);
    unsigned char md5[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
    unsigned int md5_n = 0, mac_n = 0;
    EVP_Digest(query.data(), query.size(), md5, &md5_n, EVP_md5(), nullptr);
    const std::string signed_text = method + query + hex_of(md5, md5_n);
    HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &mac_n);
    if (header(r, "authorization") != key + ":" + switchboard_plugins::base64(hex_of(mac, mac_n)))
      return zadarma_error(401, "Not authorized");
    if (params["from"].empty() || params["to"].empty() || params["format"] != "json")
      return zadarma_error(400, "Wrong parameters");
    return std::pair{
        200, json{{"status", "success"}, {"from", params["from"]}, {"to", params["to"]}, {"time", 1765044000}}.dump()};
  };
}

}  // namespace sb::test
