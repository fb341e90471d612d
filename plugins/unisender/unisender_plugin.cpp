// The "unisender" plugin: a contact into UniSender's lists (subscribe), out
// of them (exclude), or unsubscribed for good (unsubscribe), through its API
// with the api_key from secrets. Lists are named in the instance config so
// that rules say "winback", not 135.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "deadline.h"
#include "json_fields.h"
#include "phone.h"
#include "unisender_api.h"
#include "unisender_schemas.h"

namespace unisender {

namespace {
using nlohmann::json;
using switchboard::ActionResult;
using switchboard_plugins::dump;

constexpr int kMaxTags = 10;  // UniSender's limit on a contact's tags

std::string first_of(const json& contact, const char* list, const char* field) {
  const json& items = switchboard_plugins::field_at(contact, list);
  return switchboard_plugins::string_at(switchboard_plugins::element_at(items, 0), field);
}

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }
}  // namespace

class Unisender : public switchboard::Plugin {
 public:
  Unisender(switchboard::Host& host, std::string_view config_json)
      : Unisender(host, switchboard_plugins::config_object(config_json)) {}

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    const json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("the parameters must be a JSON object"));
    const json subject = json::parse(call.subject_json, nullptr, false);
    const json& contact = switchboard_plugins::field_at(subject, "contact");
    Fields fields;
    std::string error;
    if (call.action == "subscribe") {
      if (!subscribe_fields(params, contact, fields, error)) return done(ActionResult::invalid_params(error));
    } else if (call.action == "exclude" || call.action == "unsubscribe") {
      if (!contact_fields(params, contact, fields, error)) return done(ActionResult::invalid_params(error));
    } else {
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    }
    if (fields.empty()) return done(ActionResult::unreachable(error, "no_contact"));
    const std::string method(call.action);
    if (dry_run_) {
      json record{{"channel", "unisender"}, {"method", method}, {"idempotency_key", call.idempotency_key}};
      for (const auto& [k, v] : fields) record["fields"][k] = v;
      if (!host_.outbox(dump(record))) return done(ActionResult::retry("the host's outbox did not take the record"));
      return done(ActionResult::done("dry-run"));
    }
    switchboard::HttpRequest request = api_request(base_url_, lang_, method, api_key_, fields);
    request.timeout_ms =
        switchboard_plugins::timeout_within_deadline(timeout_ms_, call.deadline_unix_ms, host_.now_unix_ms());
    host_.count("unisender_calls_total");
    // A contact UniSender does not have is out of its lists already.
    const bool absent_is_done = method == "exclude" || method == "unsubscribe";
    if (host_.http(request, [done, absent_is_done](const switchboard::HttpResponse& response) {
          done(api_result(response, absent_is_done));
        }) != SB_OK)
      done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

 private:
  Unisender(switchboard::Host& host, const json& config)
      : host_(host),
        api_key_(config.value("api_key", "")),
        base_url_(config.value("base_url", "https://api.unisender.com")),
        lang_(config.value("lang", "ru")),
        lists_(config.value("lists", json::object())),
        default_country_(config.value("default_country", "")),
        timeout_ms_(config.value("timeout_ms", 10000u)),
        dry_run_(config.value("dry_run", false)) {
    if (api_key_.empty() && !dry_run_) throw switchboard::ConfigError("'api_key' is required unless 'dry_run' is true");
  }

  // "134,135" from names the config declares or ids.
  bool list_ids(const json& given, std::string& out, std::string& error) const {
    const json items = given.is_array() ? given : json::array({given});
    for (size_t i = 0; i < items.size(); ++i) {
      std::string id;
      if (items[i].is_number_integer()) {
        id = std::to_string(items[i].get<int64_t>());
      } else if (items[i].is_string() && all_digits(items[i].get<std::string>())) {
        id = items[i].get<std::string>();
      } else if (items[i].is_string() && lists_.contains(items[i].get<std::string>())) {
        id = std::to_string(lists_[items[i].get<std::string>()].get<int64_t>());
      } else {
        std::string known;
        for (const auto& [name, value] : lists_.items()) known += (known.empty() ? "" : ", ") + name;
        error = "/lists/" + std::to_string(i) + ": unknown list " + items[i].dump() +
                " (the instance's lists: " + (known.empty() ? "none" : known) + ")";
        return false;
      }
      out += (out.empty() ? "" : ",") + id;
    }
    if (out.empty()) error = "/lists: name at least one list";
    return !out.empty();
  }

  // subscribe: list_ids, fields[email], fields[phone], fields[Name], tags, double_optin, overwrite.
  bool subscribe_fields(const json& params, const json& contact, Fields& fields, std::string& error) const {
    std::string ids;
    if (!list_ids(params.value("lists", json()), ids, error)) return false;
    const std::string email = params.value("email", first_of(contact, "emails", "address"));
    const std::string phone =
        international(params.value("phone", first_of(contact, "phones", "number")), !email.empty());
    if (email.empty() && phone.empty()) {
      error = "the contact has neither an email address nor a phone number";
      return true;  // nothing to send: unreachable
    }
    fields.emplace_back("list_ids", ids);
    if (!email.empty()) fields.emplace_back("fields[email]", email);
    if (!phone.empty()) fields.emplace_back("fields[phone]", phone);
    const std::string name = params.value("name", switchboard_plugins::string_at(contact, "name"));
    if (!name.empty()) fields.emplace_back("fields[Name]", name);
    const json extra = params.value("fields", json::object());  // a local: items() of a temporary would dangle
    for (const auto& [key, value] : extra.items()) {
      // One of the fields above given again ("Name") replaces it: a field twice in one call is no one value.
      const std::string name_of_field = "fields[" + key + "]";
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      if (key == "phone") text = international(text, !email.empty());    // as the contact's own number goes
      if ((key == "phone" || key == "email") && text.empty()) continue;  // none: the contact's stays
      const auto same =
          std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name_of_field; });
      if (same != fields.end())
        same->second = text;
      else
        fields.emplace_back(name_of_field, text);
    }
    // UniSender takes at most 10 tags, comma-separated: the first 10, a
    // comma within one a space (it would make two).
    json tags = params.contains("tags") ? params["tags"] : switchboard_plugins::field_at(contact, "tags");
    std::string tag_list;
    int taken = 0;
    if (tags.is_array())
      for (const json& tag : tags) {
        if (!tag.is_string() || tag.get_ref<const std::string&>().empty() || taken == kMaxTags) continue;
        std::string one = tag.get<std::string>();
        std::replace(one.begin(), one.end(), ',', ' ');
        tag_list += (tag_list.empty() ? "" : ",") + one;
        ++taken;
      }
    if (!tag_list.empty()) fields.emplace_back("tags", tag_list);
    for (const char* option : {"double_optin", "overwrite"})
      if (params.contains(option)) fields.emplace_back(option, std::to_string(params[option].get<int>()));
    return true;
  }

  // A phone as UniSender takes it, in international form (+79990001122):
  // a CRM's "8 (999) 000-11-22" through default_country. One that is not a
  // number is left out when the email goes (it would fail the whole call),
  // and sent as it is otherwise (UniSender then says why).
  std::string international(const std::string& phone, bool has_email) const {
    if (phone.empty()) return phone;
    if (auto e164 = switchboard_plugins::to_e164(phone, default_country_)) return *e164;
    return has_email ? "" : phone;
  }

  // exclude, unsubscribe: contact_type, contact, and list_ids when given.
  bool contact_fields(const json& params, const json& contact, Fields& fields, std::string& error) const {
    const std::string email = first_of(contact, "emails", "address");
    std::string type = params.value("contact_type", email.empty() ? "phone" : "email");
    std::string value = params.value("contact", type == "email" ? email : first_of(contact, "phones", "number"));
    if (type == "phone") value = international(value, false);
    std::string ids;
    if (params.contains("lists") && !list_ids(params["lists"], ids, error)) return false;
    if (value.empty()) {
      error = "the contact has no " + std::string(type == "email" ? "email address" : "phone number");
      return true;
    }
    fields = {{"contact_type", type}, {"contact", value}};
    if (!ids.empty()) fields.emplace_back("list_ids", ids);
    return true;
  }

  switchboard::Host& host_;
  const std::string api_key_, base_url_, lang_;
  const json lists_;
  const std::string default_country_;
  const uint32_t timeout_ms_;
  const bool dry_run_;
};

switchboard::PluginInfo unisender_info() {
  switchboard::PluginInfo info;
  info.name = "unisender";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description = "UniSender lists: subscribe a contact, exclude them from lists, or unsubscribe them.";
  info.config_schema_json = std::string(unisender_schemas::schema_json);
  // Each call sets a state (in a list, out of it): repeating it changes nothing.
  info.actions.push_back({"subscribe", "Adds the contact to lists, with its email, phone, name and tags.",
                          std::string(unisender_schemas::actions_subscribe_json), true});
  info.actions.push_back({"exclude", "Takes the contact out of lists (or all); it may be subscribed again.",
                          std::string(unisender_schemas::actions_exclude_json), true});
  info.actions.push_back({"unsubscribe", "Marks the contact unsubscribed from lists (or all); UniSender keeps it so.",
                          std::string(unisender_schemas::actions_unsubscribe_json), true});
  return info;
}

}  // namespace unisender

SWITCHBOARD_PLUGIN(unisender::Unisender, unisender::unisender_info)
