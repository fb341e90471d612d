// Every bad config gets one precise message: file, JSON Pointer, what was
// expected. Each case runs the same checks as `switchboard validate`.
#include "config/Config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/ConfigCheck.h"
#include "integration/test_support.h"
#include "log/Logger.h"
#include "plugins/PluginInstance.h"
#include "rules/RuleCompiler.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

// Returns every issue `switchboard validate` would print for `file`.
std::vector<std::string> validate_file(const fs::path& file) {
  std::vector<std::string> out;
  try {
    std::vector<ConfigIssue> problems;
    Config config = load_config(file, &problems);
    for (const auto& i : problems) out.push_back(i.to_string());
    std::map<std::string, std::string> secrets;
    try {
      secrets = read_secrets(config);
    } catch (const ConfigError& e) {
      for (const auto& i : e.issues()) out.push_back(i.to_string());
    }
    PluginCatalog catalog({SB_PLUGIN_DIR});
    for (const auto& i : check_against_plugins(config, catalog, secrets).issues) out.push_back(i.to_string());
  } catch (const ConfigError& e) {
    for (const auto& i : e.issues()) out.push_back(i.to_string());
  }
  return out;
}

// ... for `text`, without the temporary file's name.
std::vector<std::string> validate_text(const std::string& text) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_test_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << text;
  std::vector<std::string> out = validate_file(file);
  fs::remove(file);
  for (auto& line : out) line = line.substr(line.find(".json: ") + 7);
  return out;
}

struct BadConfig {
  const char* name;
  const char* text;
  const char* expected;  // one issue must contain this
};

// A valid base that the cases below break one way each.
#define INSTANCES \
  R"("instances": {"hooks": {"plugin": "webhook"}, "sink": {"plugin": "http", "config": {"base_url": "http://127.0.0.1:1"}}})"

const BadConfig kBadConfigs[] = {
    {"switch_on_a_misspelt_field",
     "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e.x"}, "steps": [{"switch": "contcat.fields.cat",
        "cases": {"a": [{"action": "sink.post", "params": {"url": "/a"}}]}}]}]})",
     "/rules/0/steps/0/switch: rule 'r': unknown field 'contcat.fields.cat'"},
    {"wait_until_a_misspelt_field",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e.x"}, "steps": [{"wait_until": "entiy.fields.at"},
        {"action": "sink.post", "params": {"url": "/a"}}]}]})",
     "/rules/0/steps/0/wait_until: rule 'r': unknown field 'entiy.fields.at'"},
    {"instance_name_in_capitals", R"({"instances": {"WhatsApp": {"plugin": "webhook"}}})",
     "/instances/WhatsApp: the name 'WhatsApp' is not taken here: expected a name in small letters"},
    {"segment_name_with_a_slash", R"({"segments": {"a/b": {}}})", "/segments/a~1b: the name 'a/b' is not taken here"},
    {"syntax_error", "{\n  \"listen\": \"127.0.0.1:80\",\n  \"rules\": [\n}", "invalid JSON at line 4, column 1"},
    // A parser keeps one of two equal keys without a word: a second "sms"
    // instance would replace the first.
    {"repeated_key",
     "{\n  \"instances\": {\n    \"sms\": {\"plugin\": \"webhook\"},\n    \"sms\": {\"plugin\": \"http\"}\n  }\n}",
     "invalid JSON at line 2, column 16: the key 'sms' appears twice in the object at '/instances' (the second would "
     "replace the first)"},
    {"contact_status_range", "{" INSTANCES R"(, "pipelines": {"clients": ["Новый", "VIP"]}, "rules": [{"name": "r",
        "trigger": {"entity": "contact", "pipeline": "clients", "from": "Новый", "to": "VIP"},
        "steps": [{"action": "sink.post", "params": {"url": "/a"}}]}]})",
     "/rules/0/trigger/entity: rule 'r': a client's status triggers one status at a time"},
    {"repeated_key_deep", R"({"rules": [{"name": "a", "name": "b"}]})",
     "the key 'name' appears twice in the object at '/rules/0'"},
    {"unknown_top_level_key", R"({"listen": "127.0.0.1:80", "lisen": 1})", "'lisen'"},
    {"negative_io_threads", R"({"io_threads": -1})", "/io_threads:"},
    {"removed_thread_pool_setting", R"({"http_server": {"max_threads": 64}})", "'max_threads'"},
    {"listen_not_a_string", R"({"listen": 8080})", "/listen: expected a string, found number"},
    {"listen_port_out_of_range", R"({"listen": "127.0.0.1:70000"})",
     "/listen: port must be a number from 0 to 65535, got '70000'"},
    {"instance_without_plugin", R"({"instances": {"sink": {"config": {}}}})",
     "/instances/sink: Missing required property 'plugin'"},
    {"unknown_plugin", R"({"instances": {"sink": {"plugin": "smtp_nope"}}})",
     "/instances/sink/plugin: plugin 'smtp_nope' not found: no smtp_nope.so in"},
    {"instance_config_violates_plugin_schema",
     R"({"instances": {"sink": {"plugin": "http", "config": {"timeout_ms": "soon"}}}})",
     "/instances/sink/config/timeout_ms: instance 'sink' (plugin 'http'):"},
    {"undeclared_secret",
     R"({"instances": {"sink": {"plugin": "http", "config": {"headers": {"Authorization": {"$secret": "tok"}}}}}})",
     "/instances/sink/config/headers/Authorization: unknown secret 'tok': declare it under \"secrets\""},
    {"secret_env_not_set", R"({"secrets": {"tok": {"env": "SB_TEST_SURELY_UNSET_VARIABLE"}}})",
     "/secrets/tok: environment variable SB_TEST_SURELY_UNSET_VARIABLE is not set"},
    {"rule_without_steps", "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": []}]})",
     "/rules/0/steps: Array should contain no fewer than 1 elements"},
    {"duplicate_rule_name",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post"}]},
                    {"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/1/name: rule name 'r' is used by an earlier rule"},
    {"step_on_unknown_instance",
     "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.post"}]}]})",
     "/rules/0/steps/0/action: rule 'r': unknown instance 'crm' in 'crm.post'"},
    {"action_reference_without_dot",
     "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink"}]}]})",
     "/rules/0/steps/0/action: expected an instance's action, <instance>.<action> (sms.send)"},
    {"unknown_action",
     "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.pst"}]}]})",
     "/rules/0/steps/0/action: rule 'r', step 'sink.pst': plugin 'http' (instance 'sink') has no action 'pst'; it "
     "offers: post"},
    {"params_violate_action_schema",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post", "params": {"method": "FETCH"}}]}]})",
     "/rules/0/steps/0/params/method: rule 'r', step 'sink.post':"},
    {"time_trigger_key_on_an_event_trigger",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "deal.overdue", "by": "1d"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/by: rule 'r': does not go with an event or status trigger"},
    {"a_goal_event_worth_two_things",
     "{" INSTANCES
     R"(, "rules": [{"name": "a", "trigger": {"event": "e"}, "goal": {"event": "order.paid", "value": "data.amount"}, "steps": [{"action": "sink.post"}]},
                    {"name": "b", "trigger": {"event": "e"}, "goal": {"event": "order.paid", "value": "data.sum"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/1/goal/value: rule 'b': rule 'a' reads what order.paid was worth at data.amount, this one at data.sum"},
    {"a_contacts_status_held_by_if_status",
     R"({"instances": {"crm": {"plugin": "crm"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.set_status", "params": {"record": "contact", "status": "VIP", "if_status": ["new"]}}]}]})",
     "/rules/0/steps/0/params: rule 'r', step 'crm.set_status': with \"record\": \"contact\" the client's own status "
     "moves: \"if_status\" and \"entity\" are an entity's, not taken here"},
    {"a_contact_named_for_an_entitys_status",
     R"({"instances": {"crm": {"plugin": "crm"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.set_status", "params": {"contact": "c-1", "status": "VIP"}}]}]})",
     "/rules/0/steps/0/params: rule 'r', step 'crm.set_status': \"contact\" names the client whose own status moves, "
     "and goes with \"record\": \"contact\""},
    {"emitted_type_not_dotted",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "switchboard.emit", "params": {"type": "upgraded"}}]}]})",
     "/rules/0/steps/0/params/type: rule 'r', step 'switchboard.emit':"},
    {"template_syntax_error",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post", "params": {"body": {"text": "Hi {{body.name"}}}]}]})",
     "/rules/0/steps/0/params/body/text: rule 'r', step 'sink.post': unclosed '{{' at offset 3"},
    {"report_without_ad_channels",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"report": "channels", "schedule": "every monday at 09:00"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/report: rule 'r': a channels report counts the config's \"ad_channels\", and there is none"},
    {"messages_report_of_an_unknown_rule",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"report": "messages", "rules": ["welcom"], "schedule": "daily"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/rules/0: rule 'r': no rule is named 'welcom'"},
    {"messages_report_of_a_rule_without_messages",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"report": "messages", "rules": ["r"], "schedule": "daily"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/rules/0: rule 'r': rule 'r' sends no messages"},
    {"goal_within_not_a_duration",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "goal": {"event": "booking.created", "within": "soon"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/goal/within: rule 'r': goal within: expected a positive duration such as \"7d\" or \"12h\", got "
     "\"soon\""},
    {"goal_without_event",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "goal": {"within": "1d"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/goal: Missing required property 'event'"},
    {"trigger_source_unknown",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e", "source": "inbox"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/source: rule 'r': unknown instance 'inbox'"},
    {"filter_value_is_an_object",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "filter": {"body.status": {"in": ["a"]}}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/filter/body.status: rule 'r': a filter value must be a string, number, boolean or null"},
    {"filter_unknown_operator",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "filter": {"any": [{"field": "contact.tags", "op": "has", "value": "vip"}]}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/filter/any/0/op: rule 'r': unknown operator 'has'"},
    {"step_of_two_kinds",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post", "wait": "1h"}]}]})",
     "/rules/0/steps/0: rule 'r': a step is one of action, wait, wait_until, send_window, wait_for, if, switch, split, "
     "fallback, parallel"},
    {"send_window_with_a_bad_zone",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"send_window": {"from": "09:00", "to": "21:00", "timezone": "Europe/Moskow"}}]}]})",
     "/rules/0/steps/0/send_window/timezone: rule 'r': unknown time zone 'Europe/Moskow': expected an IANA name such "
     "as \"Europe/Moscow\""},
    {"send_window_at_an_impossible_time",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"send_window": {"from": "09:00", "to": "25:00"}}]}]})",
     "/rules/0/steps/0/send_window/to: rule 'r': expected a time of day from 00:00 to 24:00"},
    {"retention_too_short", R"({"retention": {"executions": "5m"}})",
     "/retention/executions: expected a duration of at least 1h (\"30d\") or \"forever\", got '5m'"},
    {"events_retention_under_two_days", R"({"retention": {"events": "1d"}})",
     "/retention/events: expected a duration of at least 2d (\"30d\") or \"forever\", got '1d'"},
    {"retention_zero", R"({"retention": {"events": "0s"}})",
     "/retention/events: expected a duration of at least 2d (\"30d\") or \"forever\", got '0s'"},
    {"account_zone_unknown", R"({"account": {"timezone": "Moscow"}})",
     "/account/timezone: unknown time zone 'Moscow': expected an IANA name such as \"Europe/Moscow\""},
    {"wait_inside_fallback",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"fallback": [{"action": "sink.post"}, {"wait": "1h"}]}]}]})",
     "/rules/0/steps/0/fallback/1: rule 'r': each step of a fallback chain is an action"},
    {"delivery_awaited_on_the_last_channel",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"fallback": [{"action": "sink.post"}, {"name": "b", "action": "sink.post", "delivered_within": "10m"}]}]}]})",
     "/rules/0/steps/0/fallback/1/delivered_within: rule 'r': the last channel has none to fall back to: a delivery "
     "report is waited for only before another channel (use wait_for after the chain to act on it)"},
    {"delivery_awaited_of_an_unnamed_channel",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"fallback": [{"action": "sink.post", "delivered_within": "10m"}, {"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0/fallback/0/name: rule 'r': a channel with \"delivered_within\" needs a \"name\" without dots, "
     "'|', braces or spaces at its ends: the delivery report is matched to the message id that step answered "
     "(steps.<name>.external_id)"},
    {"delivery_awaited_for_no_time",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"fallback": [{"name": "a", "action": "sink.post", "delivered_within": "soon"}, {"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0/fallback/0/delivered_within: rule 'r': expected a positive duration such as \"10m\""},
    {"delivery_awaited_from_a_channel_without_reports",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"fallback": [{"name": "a", "action": "sink.post", "delivered_within": "10m"}, {"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0/fallback/0/delivered_within: rule 'r', step 'a': sink.post reports no delivery (its schema has "
     "no \"x-switchboard-delivery-reports\": whatsapp and sms actions do): a report waited for would never come"},
    {"delivery_awaited_outside_a_fallback",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"name": "a", "action": "sink.post", "delivered_within": "10m"}]}]})",
     "/rules/0/steps/0/delivered_within: rule 'r': \"delivered_within\" is not a step key, not \"action\" (which "
     "takes name, action, params, template, timeout_ms, retry)"},
    {"bad_condition_in_if",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"if": {"field": "x", "op": "~"}, "then": [{"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0/if/op: rule 'r': unknown operator '~'"},
    {"trigger_without_event_or_status",
     "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"source": "api"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger: rule 'r': needs an \"event\" type"},
    {"range_status_not_in_pipeline",
     "{" INSTANCES
     R"(, "pipelines": {"sales": ["new", "won"]}, "rules": [{"name": "r", "trigger": {"entity": "deal", "pipeline": "sales", "from": "new", "to": "lost"}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/trigger/to: rule 'r': pipeline 'sales' has no status 'lost'"},
    {"misspelt_template_variable",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post", "params": {"url": "/x", "body": {"t": "Hi {{contcat.name}}"}}}]}]})",
     "/rules/0/steps/0/params/body/t: rule 'r', step 'sink.post': unknown variable 'contcat.name': a variable starts "
     "with "
     "event, id, type, time, entity, contact, contacts, company, data, body, headers, query, route, steps, account"},
    {"account_variable_the_account_lacks",
     "{" INSTANCES
     R"(, "account": {"timezone": "Europe/Moscow"}, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sink.post", "params": {"url": "/x", "body": {"t": "Добро пожаловать в {{Название компании}}, {{account.phone|-}}"}}}]}]})",
     "/rules/0/steps/0/params/body/t: rule 'r', step 'sink.post': 'account.name' is not in the config's \"account\": "
     "give it there, or a default ({{account.name|...}})"},
    {"misspelt_filter_field",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "filter": {"not": {"field": "contcat.tags", "op": "contains", "value": "blocked"}}, "steps": [{"action": "sink.post"}]}]})",
     "/rules/0/filter/not/field: rule 'r': unknown field 'contcat.tags': a field starts with event, id, type, time, "
     "entity, contact, contacts, company, data, body, headers, query, route, steps, account"},
    {"misspelt_branch_field",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"if": {"bdy.status": "new"}, "then": [{"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0/if/bdy.status: rule 'r': unknown field 'bdy.status': a field starts with event, id, "
     "type, time, entity, contact, contacts, company, data, body, headers, query, route, steps, account"},
    {"unknown_host_action",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "switchboard.set_stage", "params": {"status": "B"}}]}]})",
     "/rules/0/steps/0/action: rule 'r', step 'switchboard.set_stage': the host has no action 'set_stage'; it offers: "
     "emit, set_status"},
    {"instance_named_like_the_host", R"({"instances": {"switchboard": {"plugin": "webhook"}}})",
     "/instances/switchboard: the instance name 'switchboard' is the host's own (switchboard.set_status, "
     "switchboard.emit): choose another"},
    {"misspelt_step_in_template",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"name": "Offer", "action": "sink.post", "params": {"url": "/x"}}, {"action": "sink.post", "params": {"url": "/x", "body": {"t": "{{steps.Ofer.external_id}}"}}}]}]})",
     "/rules/0/steps/1/params/body/t: rule 'r', step 'sink.post': unknown step 'Ofer' in 'steps.Ofer.external_id': "
     "this rule's named steps are Offer (a step's \"name\": \"Offer\" is read as steps.Offer.external_id)"},
    {"wait_for_without_match",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": "message.read", "timeout": "2d", "then": [{"action": "sink.post"}]}]}]})",
     "/rules/0/steps/0: rule 'r': \"wait_for\" needs \"match\": the awaited event's fields and the values they must "
     "have, e.g. {\"data.message_id\": \"{{steps.Offer.external_id}}\"}"},
    {"wait_for_without_timeout",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": "message.read", "match": {"data.id": "{{id}}"}, "timeout": "soon"}]}]})",
     "/rules/0/steps/0/timeout: rule 'r': \"wait_for\" needs a positive \"timeout\" such as \"2d\" (how long to wait "
     "before the \"else\" steps)"},
    {"wait_for_else_on_the_awaited_event",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": "call.answered", "else_on": ["call.busy", "call.answered"], "match": {"data.id": "{{id}}"}, "timeout": "2m"}]}]})",
     "/rules/0/steps/0/else_on: rule 'r': \"call.answered\" is an awaited event: it cannot also take the \"else\" "
     "steps"},
    {"wait_for_several_types_one_of_them_else_on",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": ["message.opened", "message.clicked"], "else_on": ["message.clicked"], "match": {"data.id": "{{id}}"}, "timeout": "2d"}]}]})",
     "/rules/0/steps/0/else_on: rule 'r': \"message.clicked\" is an awaited event: it cannot also take the \"else\" "
     "steps"},
    {"wait_for_a_type_that_is_not_one",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": ["message.opened", "Clicked"], "match": {"data.id": "{{id}}"}, "timeout": "2d"}]}]})",
     "/rules/0/steps/0/wait_for/1: expected an event type, dotted lower case (lead.created, order.paid)"},
    {"wait_for_match_names_an_unknown_step",
     "{" INSTANCES
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"wait_for": "message.read", "match": {"data.id": "{{steps.Offer.external_id}}"}, "timeout": "2d"}]}]})",
     "/rules/0/steps/0/match/data.id: rule 'r', step 'wait for message.read': unknown step 'Offer' in "
     "'steps.Offer.external_id': this rule names none of its steps (a step's \"name\": \"Offer\" is read as "
     "steps.Offer.external_id)"},
    {"segment_not_declared",
     R"({"instances": {"seg": {"plugin": "segments"}}, "segments": {"VIP": {}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "seg.remove", "params": {"segment": "gold"}}]}]})",
     "/rules/0/steps/0/params/segment: rule 'r', step 'seg.remove': no static segment 'gold' in the config "
     "(expected one under \"segments\" without a filter: VIP)"},
    {"segment_filter_reads_no_contact",
     R"({"segments": {"regulars": {"filter": {"field": "contcat.fields.visits", "op": ">", "value": 9}}}})",
     "/segments/regulars/filter/field: segment 'regulars': unknown field 'contcat.fields.visits': a field starts with "
     "contact, account"},
    {"static_segment_with_a_refresh", R"({"segments": {"VIP": {"refresh": "every day at 03:00"}}})",
     "/segments/VIP/refresh: segment 'VIP' has no filter: only a dynamic one is checked again on a schedule"},
    {"segment_is_dynamic",
     R"({"instances": {"seg": {"plugin": "segments"}}, "segments": {"VIP": {}, "regulars": {"filter": {"field": "contact.fields.visits", "op": ">", "value": 9}}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "seg.add", "params": {"segments": ["VIP", "regulars"]}}]}]})",
     "/rules/0/steps/0/params/segments/1: rule 'r', step 'seg.add': segment 'regulars' is dynamic: its filter "
     "decides who is in it (expected one under \"segments\" without a filter: VIP)"},
    {"status_not_in_the_pipeline",
     R"({"instances": {"crm": {"plugin": "crm"}}, "pipelines": {"clients": ["new", "VIP"]},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.set_status", "params": {"status": "vip", "pipeline": "clients"}}]}]})",
     "/rules/0/steps/0/params/status: rule 'r', step 'crm.set_status': no status 'vip' in pipeline 'clients' "
     "(expected one of: new, VIP)"},
    {"held_to_a_status_not_in_the_pipeline",
     R"({"instances": {"crm": {"plugin": "crm"}}, "pipelines": {"clients": ["new", "VIP"]},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.set_status", "params": {"status": "VIP", "pipeline": "clients", "if_status": [null, "new", "old"]}}]}]})",
     "/rules/0/steps/0/params/if_status/2: rule 'r', step 'crm.set_status': no status 'old' in pipeline 'clients' "
     "(expected one of: new, VIP)"},
    {"pipeline_not_declared",
     R"({"instances": {"crm": {"plugin": "crm"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "crm.set_status", "params": {"status": "VIP", "pipeline": "clients"}}]}]})",
     "/rules/0/steps/0/params/pipeline: rule 'r', step 'crm.set_status': no pipeline 'clients' in the config "
     "(expected one under \"pipelines\": none is declared)"},
    {"deadline_that_does_not_parse",
     R"({"instances": {"tasks": {"plugin": "tasks"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "tasks.create", "params": {"title": "Call", "deadline": "next tuesday"}}]}]})",
     "/rules/0/steps/0/params/deadline: rule 'r', step 'tasks.create': "},
};

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, ReportsThePreciseProblem) {
  const BadConfig& c = GetParam();
  auto issues = validate_text(c.text);
  std::string all;
  bool found = false;
  for (const auto& i : issues) {
    all += i + "\n";
    found = found || i.find(c.expected) != std::string::npos;
  }
  EXPECT_TRUE(found) << "expected an issue containing:\n  " << c.expected << "\ngot:\n" << all;
}

INSTANTIATE_TEST_SUITE_P(Config, BadConfigTest, ::testing::ValuesIn(kBadConfigs),
                         [](const auto& info) { return std::string(info.param.name); });

#define EMAIL_INSTANCE \
  R"("instances": {"mail": {"plugin": "email", "config": {"from": "a@b.test", "dry_run": true}}, "sms": {"plugin": "sms", "config": {"gateway": "smsru", "api_id": "x", "dry_run": true}}})"
const BadConfig kTemplateConfigs[] = {
    {"template_unknown",
     "{" EMAIL_INSTANCE R"(, "templates": {"offer": {"channel": "email", "subject": "S", "text": "T"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "mail.send", "template": "ofer", "params": {"to": "x@y.test"}}]}]})",
     "/rules/0/steps/0/template: rule 'r': unknown template 'ofer' (the config's templates: offer)"},
    {"template_variable_unknown_in_a_rule_that_uses_it",
     "{" EMAIL_INSTANCE
     R"(, "templates": {"offer": {"channel": "email", "subject": "Hi {{contcat.name}}", "text": "T"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "mail.send", "template": "offer", "params": {"to": "x@y.test"}}]}]})",
     "/rules/0/steps/0/template: rule 'r', step 'mail.send' (template 'offer'): /subject: "},
    {"template_for_another_channel",
     "{" EMAIL_INSTANCE R"(, "templates": {"offer": {"channel": "email", "subject": "S", "text": "T"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sms.send", "template": "offer", "params": {"to": "+79990001122"}}]}]})",
     "/rules/0/steps/0/template: rule 'r', step 'sms.send' (template 'offer'): the template is for email, and sms.send "
     "takes sms ones"},
    {"task_template_in_a_message_step",
     "{" EMAIL_INSTANCE R"(, "templates": {"call": {"channel": "task", "title": "Позвонить"}},
        "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"action": "sms.send", "template": "call", "params": {"to": "+79990001122"}}]}]})",
     "the template is for task, and sms.send takes sms ones"},
    {"digest_without_a_duration",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"digest": "soon"}]}]})",
     "/rules/0/steps/0/digest: rule 'r': expected a positive duration"},
    {"digest_item_with_an_unknown_variable",
     "{" EMAIL_INSTANCE
     R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [{"digest": "1h", "item": "{{dta.text}}"}]}]})",
     "/rules/0/steps/0/item: rule 'r', step 'digest 1h': "},
    {"scheduled_rule_reading_a_contact",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"schedule": "every day at 09:00"},
        "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{contact.name}} {{data.x}}"}}]}]})",
     "/rules/0/steps/0/params/text: rule 'r', step 'sms.send': 'contact.name' never has a value here: this rule's "
     "schedule.fired event names no contact, record or request (give a default: {{contact.name|...}})"},
    {"report_reading_an_entity",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"report": "tasks", "schedule": "every day at 09:00"},
        "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{entity.id}}"}}]}]})",
     "'entity.id' never has a value here: this rule's report.tasks event"},
    {"special_date_reading_a_deal",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"special_date": "birthday"},
        "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{contact.name}} {{Budget_deal}}"}}]}]})",
     "'entity.fields.Budget' never has a value here: this rule's contact.special_date event names a contact, no record "
     "or request"},
    {"special_date_reading_only_a_deal_of_its_own_aliases",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"special_date": "birthday"},
        "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{Менеджер}} {{Дата}} {{entity.id|or:\"entity.fields.n\"}}"}}]}]})",
     "'entity.id' never has a value here"},
    {"if_with_both_branches_empty", "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"event": "e.x"},
        "steps": [{"if": {"data.x": 1}, "then": [], "else": []}]}]})",
     "/rules/0/steps/0: rule 'r': \"if\" needs steps in \"then\" or \"else\""},
    {"task_status_no_task_has",
     "{" EMAIL_INSTANCE R"(, "rules": [{"name": "r", "trigger": {"entity": "task", "status": "finished"},
        "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "x"}}]}]})",
     "/rules/0/trigger/status: rule 'r': a task has no status 'finished' (open, in_progress, done, cancelled)"},
    {"template_without_channel", R"({"templates": {"offer": {"subject": "S"}}})", "/templates/offer"},
    {"template_file_missing", R"({"templates": {"offer": {"channel": "email", "html_file": "no-such.html"}}})",
     "/templates/offer/html_file: cannot read"},
};
INSTANTIATE_TEST_SUITE_P(Templates, BadConfigTest, ::testing::ValuesIn(kTemplateConfigs),
                         [](const auto& info) { return std::string(info.param.name); });

// A birthday's rule signed by the client's manager: {{Менеджер}} is the
// deal's manager or else the contact's, which a special date has; an if
// whose then is empty (an exception) is a rule.
TEST(Config, AliasesWithAContactsFallbackAndEmptyThenBranchesAreValid) {
  const auto issues = validate_text("{" EMAIL_INSTANCE R"(, "rules": [
      {"name": "r", "trigger": {"special_date": "birthday"},
       "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{Менеджер}}: {{Имя}}, {{Дата}}"}}]},
      {"name": "e", "trigger": {"event": "e.x"},
       "steps": [{"if": {"data.x": 1}, "then": [], "else": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "x"}}]}]}]})");
  std::string all;
  for (const auto& i : issues) all += i + "\n";
  EXPECT_TRUE(issues.empty()) << all;
}

TEST(Config, ValidateReportsFileAndPluginProblemsInOnePass) {
  auto issues = validate_text(R"({"instances": {"sink": {"plugin": "smtp_nope"}},
      "rules": [{"name": "r", "trigger": {"event": "e.x"}, "steps": [{"action": "crm.post"}]}]})");
  ASSERT_EQ(issues.size(), 2u);
  std::sort(issues.begin(), issues.end());  // instances, then rules
  EXPECT_NE(issues[0].find("/instances/sink/plugin: plugin 'smtp_nope' not found"), std::string::npos);
  EXPECT_NE(issues[1].find("/rules/0/steps/0/action: rule 'r': unknown instance 'crm'"), std::string::npos);
}

// A rule the schema refuses does not hide the other rules' problems, nor
// make a report that counts it name an unknown rule, nor its own steps'; a
// problem outside the rules hides nothing when the rest can be read
// without it, and stops the reading there when it cannot.
TEST(Config, ValidateReportsARefusedRuleAndTheOtherRulesProblemsInOnePass) {
  auto issues = validate_text(R"({"instances": {"sink": {"plugin": "http", "config": {"base_url": "http://x.test"}}},
      "rules": [{"name": "a", "priority": "urgent", "trigger": {"event": "e.x"},
                 "steps": [{"action": "sink.post", "params": {"url": "/a"}}]},
                {"name": "b", "trigger": {"event": "e.x"}, "steps": [{"action": "nosuch.post"}]},
                {"name": "b", "trigger": {"event": "e.y"}, "steps": [{"action": "sink.post", "params": {"url": "/a"}}]},
                {"name": "report", "trigger": {"report": "messages", "rules": ["a"], "schedule": "daily"},
                 "steps": [{"action": "sink.post", "params": {"url": "/report"}}]}]})");
  std::sort(issues.begin(), issues.end());
  ASSERT_EQ(issues.size(), 3u) << ::testing::PrintToString(issues);
  EXPECT_NE(issues[0].find("/rules/0/priority: expected one of"), std::string::npos) << issues[0];
  EXPECT_NE(issues[1].find("/rules/1/steps/0/action: rule 'b': unknown instance 'nosuch'"), std::string::npos)
      << issues[1];
  EXPECT_NE(issues[2].find("/rules/2/name: rule name 'b' is used by an earlier rule"), std::string::npos) << issues[2];

  const auto elsewhere = validate_text(R"({"listen": 8080, "log_level": "verbose",
      "rules": [{"name": "b", "trigger": {"event": "e.x"}, "steps": [{"action": "nosuch.post"}]}]})");
  ASSERT_EQ(elsewhere.size(), 3u) << ::testing::PrintToString(elsewhere);
  EXPECT_NE(elsewhere[0].find("/listen"), std::string::npos) << elsewhere[0];
  EXPECT_NE(elsewhere[1].find("/log_level"), std::string::npos) << elsewhere[1];
  EXPECT_NE(elsewhere[2].find("/rules/0/steps/0/action: rule 'b': unknown instance 'nosuch'"), std::string::npos)
      << elsewhere[2];
  // A list that is no list leaves nothing to read on from; nor does a
  // definition rules name (every rule naming it would be wrong too).
  const auto unreadable = validate_text(R"({"rules": {"name": "b"}, "log_level": "verbose"})");
  ASSERT_EQ(unreadable.size(), 2u) << ::testing::PrintToString(unreadable);
  const auto definition = validate_text(R"({"instances": {"sink": {"plugin": "http", "bogus": 1}},
      "rules": [{"name": "b", "trigger": {"event": "e.x"}, "steps": [{"action": "sink.post", "params": {"url": "/a"}}]}]})");
  ASSERT_EQ(definition.size(), 1u) << ::testing::PrintToString(definition);
  EXPECT_NE(definition[0].find("/instances/sink/bogus"), std::string::npos) << definition[0];

  // A refused rule's steps are checked all the same (without what was refused).
  auto own = validate_text(R"({"instances": {"sink": {"plugin": "http", "config": {"base_url": "http://x.test"}}},
      "rules": [{"name": "a", "priority": "urgent", "bogus": 1, "trigger": {"event": "e.x"},
                 "steps": [{"action": "sink.pst", "params": {"url": "/a"}}, {"wait": "3 dayz"}]},
                {"name": "c", "trigger": {"evnt": "e.x"}, "steps": [{"action": "sink.post", "params": {"url": "{{dta.x}}"}}]}]})");
  std::sort(own.begin(), own.end());
  ASSERT_EQ(own.size(), 7u) << ::testing::PrintToString(own);
  EXPECT_NE(own[0].find("/rules/0/bogus: unknown key 'bogus'"), std::string::npos) << own[0];
  EXPECT_NE(own[1].find("/rules/0/priority: expected one of"), std::string::npos) << own[1];
  EXPECT_NE(own[2].find("/rules/0/steps/0/action: rule 'a', step 'sink.pst': plugin 'http'"), std::string::npos)
      << own[2];
  EXPECT_NE(own[3].find("/rules/0/steps/1/wait: rule 'a': expected a positive duration"), std::string::npos) << own[3];
  EXPECT_NE(own[4].find("/rules/1/steps/0/params/url: rule 'c'"), std::string::npos) << own[4];
  EXPECT_NE(own[5].find("/rules/1/trigger/evnt: unknown key 'evnt'"), std::string::npos) << own[5];
  EXPECT_NE(own[6].find("/rules/1/trigger: rule 'c': needs an \"event\" type"), std::string::npos) << own[6];
}

// WhatsApp quick replies as validate sees them: a title a template makes is
// checked when it is made, a literal one now, with what Meta would refuse.
TEST(Config, ValidateChecksQuickRepliesAndLetsTemplatedTitlesPass) {
  const auto issues_of = [](const std::string& params, const std::string& action = "send_buttons") {
    return validate_text(R"({"instances": {"wa": {"plugin": "whatsapp", "config": {"phone_number_id": "1",
        "access_token": "t"}}}, "rules": [{"name": "r", "trigger": {"event": "e.x"},
        "steps": [{"action": "wa.)" +
                         action + R"(", "params": )" + params + "}]}]}");
  };
  // Sections of a list each need a title when there are several: said once, where it is missing.
  const auto untitled = issues_of(R"({"to": "+79990001122", "text": "?", "button": "Время",
      "sections": [{"title": "Утро", "rows": ["10:00"]}, {"rows": ["18:00"]}]})",
                                  "send_list");
  ASSERT_EQ(untitled.size(), 1u) << untitled.front();
  EXPECT_NE(untitled[0].find("/params/sections/1"), std::string::npos) << untitled[0];
  const auto templated = issues_of(
      R"({"to": "+79990001122", "text": "?", "buttons": ["Да", {"id": "slot", "title": "{{data.first_free_slot_title}}"}]})");
  EXPECT_TRUE(templated.empty()) << templated.front();
  for (const char* broken : {R"({"to": "+79990001122", "text": "?", "buttons": ["Двадцать один символ!"]})",
                             R"({"to": "+79990001122", "text": "?", "buttons": ["Да", "Да"]})",
                             R"({"to": "+79990001122", "text": "?", "buttons": [{"id": " x", "title": "X"}]})",
                             R"({"to": "+79990001122", "text": "?", "buttons": ["a", "b", "c", "d"]})"}) {
    const auto issues = issues_of(broken);
    ASSERT_EQ(issues.size(), 1u) << broken;
    EXPECT_NE(issues[0].find("/rules/0/steps/0/params/buttons"), std::string::npos) << issues[0];
  }
}

TEST(Config, MissingFileIsReported) {
  try {
    load_config("/nonexistent/switchboard.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.issues().at(0).to_string(),
              "/nonexistent/switchboard.json: cannot read the file: No such file or directory");
  }
}

TEST(Config, ValidConfigHasNoIssues) {
  EXPECT_TRUE(validate_text("{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "webhook.received"},
      "filter": {"body.status": "new"}, "steps": [{"action": "sink.post", "params": {"url": "/x", "body": {"t": "{{body.name}}"}}}]}]})")
                  .empty());
}

// Every deadline the tasks plugin reads is one its schema lets a rule write
// ("через 7 дней", "in 7 days" among them).
TEST(Config, TaskDeadlinesInEveryFormThePluginReadsAreValid) {
  for (const char* deadline : {"через 7 дней", "Через час", "через 2 рабочих дня в 10:00", "in 7 days", "in an hour",
                               "Сегодня до 18:00", "+3 business days", "в течение недели"}) {
    const std::string text = std::string(R"({"instances": {"tasks": {"plugin": "tasks"}}, "rules": [{"name": "r",
        "trigger": {"event": "lead.created"}, "steps": [{"action": "tasks.create",
        "params": {"title": "Позвонить", "deadline": ")") +
                             deadline + R"("}}]}]})";
    EXPECT_EQ(validate_text(text), std::vector<std::string>{}) << deadline;
  }
}

TEST(Config, RetentionIsThirtyDaysUnlessSaid) {
  const auto dir = test::make_temp_dir("sb_config_retention");
  const auto load = [&](const std::string& text) {
    std::ofstream(dir / "switchboard.json") << text;
    return load_config(dir / "switchboard.json");
  };
  const Config defaults = load("{}");
  EXPECT_EQ(defaults.events_retention_ms, 30 * 86400000LL);
  EXPECT_EQ(defaults.executions_retention_ms, 30 * 86400000LL);
  const Config said = load(R"({"retention": {"events": "7d", "executions": "forever"}})");
  EXPECT_EQ(said.events_retention_ms, 7 * 86400000LL);
  EXPECT_EQ(said.executions_retention_ms, 0);
  std::filesystem::remove_all(dir);
}

// As the reference CRMs' pages write them: "wait 1 day", "the day before at 10:00".
TEST(Config, WaitsInWordsAndTheDayBeforeAtATimeAreValid) {
  EXPECT_TRUE(validate_text("{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "booking.created"},
      "steps": [{"wait": "1 day"}, {"wait": "2 часа"},
                {"wait_until": "entity.fields.starts_at", "offset": "-1 day", "at": "10:00"},
                {"action": "sink.post", "params": {"url": "/x"}}]}]})")
                  .empty());
  const auto issues = validate_text("{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"},
      "steps": [{"wait": "1 fortnight"}, {"wait_until": "entity.fields.starts_at", "at": "25:00"},
                {"wait": "1d", "at": "10:00"}]}]})");
  std::string all;
  for (const auto& i : issues) all += i + "\n";
  EXPECT_NE(all.find("/rules/0/steps/0/wait: rule 'r': expected a positive duration"), std::string::npos) << all;
  EXPECT_NE(all.find("/rules/0/steps/1/at: rule 'r': expected a local time of day"), std::string::npos) << all;
  EXPECT_NE(all.find("/rules/0/steps/2/at: rule 'r': \"at\" goes with \"wait_until\""), std::string::npos) << all;
}

// A key another kind of step reads would be passed over without a word:
// "timeout" on an action (meant timeout_ms), "then" on a digest.
TEST(Config, AKeyThatGoesWithAnotherKindOfStepIsAnError) {
  const auto issues = validate_text("{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"},
      "steps": [{"action": "sink.post", "params": {"url": "/x"}, "timeout": "5s"},
                {"name": "d", "digest": "1h", "then": [{"wait": "1m"}]},
                {"wait": "1m", "retry": {"max_attempts": 2}}]}]})");
  std::string all;
  for (const auto& i : issues) all += i + "\n";
  EXPECT_NE(all.find("/rules/0/steps/0/timeout: rule 'r': \"timeout\" goes with \"wait_for\", not \"action\" (which "
                     "takes name, action, params, template, timeout_ms, retry)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("/rules/0/steps/1/then: rule 'r': \"then\" goes with \"wait_for\" or \"if\", not \"digest\""),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("/rules/0/steps/2/retry: rule 'r': \"retry\" goes with \"action\", not \"wait\""),
            std::string::npos)
      << all;
  // A version stored before the check still runs: its executions go on.
  const nlohmann::json stored = {{"rule",
                                  {{"name", "r"},
                                   {"trigger", {{"event", "e"}}},
                                   {"steps", {{{"wait", "1m"}, {"retry", {{"max_attempts", 2}}}}}}}}};
  std::vector<RuleIssue> stored_issues;
  const CompiledRule old = compile_rule_version(stored, RuleEnvironment{}, stored_issues);
  EXPECT_TRUE(stored_issues.empty()) << stored_issues.front().message;
  EXPECT_EQ(old.steps.size(), 1u);
  // So does one whose variables and fields later checks refuse (a default
  // over a misspelt path, a filter's unknown field, an account's missing name).
  const nlohmann::json before_checks = {
      {"rule",
       {{"name", "r"},
        {"trigger", {{"event", "e"}}},
        {"filter", {{"field", "contcat.tags"}, {"op", "exists"}}},
        {"steps",
         {{{"if", {{"bdy.x", 1}}}, {"then", {{{"action", "switchboard.emit"}, {"params", {{"type", "a.b"}}}}}}},
          {{"action", "switchboard.emit"},
           {"params", {{"type", "a.b"}, {"data", {{"t", "{{deal.sum|0}} {{Название компании}}"}}}}}}}}}}};
  const CompiledRule kept = compile_rule_version(before_checks, RuleEnvironment{}, stored_issues);
  EXPECT_TRUE(stored_issues.empty()) << stored_issues.front().message;
  EXPECT_TRUE(kept.filter);
  EXPECT_EQ(kept.steps.back().kind, CompiledStep::Kind::kAction);
}

// Filters and if-conditions read names as templates do (SendPulse's filter
// checks the same variables): "Budget_deal", "Город", a config variable.
TEST(Config, ConditionsReadShortNamesAsTemplatesDo) {
  RuleEnvironment environment;
  environment.template_variables = {{"Услуга", "entity.fields.service"}};
  const nlohmann::json body = {{"name", "r"},
                               {"trigger", {{"event", "e"}}},
                               {"filter",
                                {{"all",
                                  {{{"field", "Budget_deal"},
                                    {
                                        "op",
                                        ">",
                                    },
                                    {"value", 1000}},
                                   {{"Услуга", "йога"}}}}}},
                               {"steps",
                                {{{"if",
                                   {{"field", "Город"},
                                    {
                                        "op",
                                        "=",
                                    },
                                    {"value", "Омск"}}},
                                  {"then", {{{"action", "switchboard.emit"}, {"params", {{"type", "a.b"}}}}}}}}}};
  std::vector<RuleIssue> issues;
  const CompiledRule rule = compile_rule(body, "/rules/0", environment, issues);
  ASSERT_TRUE(issues.empty()) << issues.front().pointer << ": " << issues.front().message;
  const nlohmann::json context = {{"entity", {{"fields", {{"Budget", 5000}, {"service", "йога"}}}}},
                                  {"contact", {{"fields", {{"Город", "Омск"}}}}}};
  ASSERT_TRUE(rule.filter);
  EXPECT_TRUE(rule.filter->matches(context, 0));
  EXPECT_FALSE(rule.filter->matches({{"entity", {{"fields", {{"Budget", 500}, {"service", "йога"}}}}}}, 0));
  ASSERT_EQ(rule.steps.front().kind, CompiledStep::Kind::kIf);
  EXPECT_TRUE(rule.steps.front().condition->matches(context, 0));
  // "Менеджер" (the entity's responsible, else the contact's in templates)
  // is the entity's in a condition, as it always was.
  nlohmann::json by_manager = body;
  by_manager["filter"] = {{"Менеджер", "Ольга"}};
  const CompiledRule managed = compile_rule(by_manager, "/rules/0", environment, issues);
  ASSERT_TRUE(issues.empty()) << issues.front().pointer << ": " << issues.front().message;
  ASSERT_TRUE(managed.filter);
  EXPECT_TRUE(managed.filter->matches({{"entity", {{"responsible", {{{"name", "Ольга"}}}}}}}, 0));
  EXPECT_FALSE(managed.filter->matches({{"entity", {{"responsible", {{{"name", "Пётр"}}}}}}}, 0));
  // A misspelt root with a path is still refused.
  nlohmann::json misspelt = body;
  misspelt["filter"] = {{"field", "contcat.fields.Город"}, {"op", "exists"}};
  compile_rule(misspelt, "/rules/0", environment, issues);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("unknown field 'contcat.fields.Город'"), std::string::npos) << issues[0].message;
}

// if/else, switch and split become one flat list with jumps past the
// branches not taken; a nested action keeps its own pointer for errors.
// The config's first rule, compiled (structure only: no plugins).
CompiledRule first_rule(const fs::path& file) {
  const Config c = load_config(file);
  std::vector<RuleIssue> issues;
  CompiledRule rule = compile_rule(c.rules.at(0).body, c.rules.at(0).pointer, rule_environment(c), issues);
  EXPECT_TRUE(issues.empty()) << issues.front().pointer << ": " << issues.front().message;
  fs::remove(file);
  return rule;
}

// The same action twice in a sequence is two steps in the history and the
// stats ("sink.post #2"); in an A/B test's variants it is one to compare.
TEST(Config, TheSameUnnamedActionTwiceInASequenceIsToldApart) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_twice_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"action": "sink.post", "params": {"url": "/1"}}, {"wait": "1d"}, {"action": "sink.post", "params": {"url": "/2"}},
      {"split": {"A": {"weight": 1, "steps": [{"action": "sink.post", "params": {"url": "/a"}}]},
                 "B": {"weight": 1, "steps": [{"action": "sink.post", "params": {"url": "/b"}}]}}},
      {"name": "last", "action": "sink.post", "params": {"url": "/3"}}]}]})";
  std::vector<std::string> actions;
  for (const CompiledStep& s : first_rule(file).steps)
    if (s.kind == CompiledStep::Kind::kAction) actions.push_back(s.name);
  EXPECT_EQ(actions, (std::vector<std::string>{"sink.post", "sink.post #2", "sink.post", "sink.post", "last"}));
}

TEST(Config, NestedStepsAreFlattenedWithJumps) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_nested_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"if": {"field": "contact.tags", "op": "contains", "value": "vip"},
       "then": [{"action": "sink.post", "name": "vip"}], "else": [{"action": "sink.post", "name": "regular"}]},
      {"switch": "contact.category", "cases": {"a": [{"wait": "1h"}]}, "default": [{"action": "sink.post", "name": "other"}]},
      {"split": {"A": {"weight": 1, "steps": [{"action": "sink.post", "name": "variant A"}]},
                 "B": {"weight": 1, "steps": [{"action": "sink.post", "name": "variant B"}]}}}]}]})";
  const CompiledRule rule = first_rule(file);
  const auto& s = rule.steps;
  using K = CompiledStep::Kind;
  ASSERT_EQ(s.size(), 13u);
  EXPECT_EQ(s[0].kind, K::kIf);
  EXPECT_EQ(s[1].name, "vip");
  EXPECT_EQ(s[2].kind, K::kJump);
  EXPECT_EQ(s[0].else_step, 3);
  EXPECT_EQ(s[3].name, "regular");
  EXPECT_EQ(s[2].jump_to, 4);
  EXPECT_EQ(s[4].kind, K::kSwitch);
  EXPECT_EQ(s[4].branches, (std::vector<std::pair<std::string, int>>{{"a", 5}}));
  EXPECT_EQ(s[5].kind, K::kWait);
  EXPECT_EQ(s[4].default_step, 7);
  EXPECT_EQ(s[7].name, "other");
  EXPECT_EQ(s[6].jump_to, 8);
  EXPECT_EQ(s[8].kind, K::kSplit);
  EXPECT_EQ(s[8].weights, (std::vector<int>{1, 1}));
  EXPECT_EQ(s[9].name, "variant A");
  EXPECT_EQ(s[10].jump_to, 13);
  EXPECT_EQ(s[12].jump_to, 13);
  // Named steps are known by their names, the others by their paths.
  EXPECT_EQ(s[9].id, "variant A");
  EXPECT_EQ(s[5].id, "1/cases/a/0");
  EXPECT_EQ(s[0].id, "0");
  EXPECT_EQ(s[2].id, "0#end of then");
  EXPECT_EQ(rule.index_of("1/cases/a/0"), 5);
  EXPECT_EQ(rule.index_of(kEndId), 13);
  EXPECT_EQ(rule.index_of("no such step"), std::nullopt);
}

TEST(Config, FallbackChainLinksItsChannels) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_fallback_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"fallback": [{"action": "sink.post", "name": "push"}, {"action": "sink.post", "name": "sms"}]},
      {"action": "sink.post", "name": "after"}]}]})";
  const auto s = first_rule(file).steps;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].fallback_next, 1);
  EXPECT_EQ(s[1].fallback_next, -1);
  EXPECT_EQ(s[0].fallback_end, 2);
  EXPECT_EQ(s[1].fallback_end, 2);
  EXPECT_EQ(s[2].fallback_end, -1);
  EXPECT_EQ(s[1].id, "sms");
}

// MatrixCRM's "client category": a switch names its field as a condition
// does, by a short name as well as a path.
TEST(Config, ASwitchOnAShortNameReadsItsPath) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_switch_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"switch": "Категория", "cases": {"VIP": [{"action": "sink.post"}]}},
      {"switch": "entity.status", "cases": {"new": [{"action": "sink.post"}]}}]}]})";
  const auto s = first_rule(file).steps;
  ASSERT_EQ(s[0].kind, CompiledStep::Kind::kSwitch);
  EXPECT_EQ(s[0].switch_path, "contact.fields.Категория");
  const auto second =
      std::find_if(s.begin() + 1, s.end(), [](const CompiledStep& x) { return x.kind == CompiledStep::Kind::kSwitch; });
  ASSERT_NE(second, s.end());
  EXPECT_EQ(second->switch_path, "entity.status");
}

TEST(Config, ParallelBranchesEndAtOneContinuation) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_parallel_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"parallel": [[{"action": "sink.post", "name": "a"}], [{"wait": "1h"}, {"action": "sink.post", "name": "b"}]]},
      {"action": "sink.post", "name": "c"}]}]})";
  const auto s = first_rule(file).steps;
  ASSERT_EQ(s.size(), 7u);
  EXPECT_EQ(s[0].kind, CompiledStep::Kind::kParallel);
  EXPECT_EQ(s[0].branches, (std::vector<std::pair<std::string, int>>{{"0", 1}, {"1", 3}}));
  EXPECT_EQ(s[0].jump_to, 6);
  EXPECT_EQ(s[2].jump_to, 6);
  EXPECT_EQ(s[5].jump_to, 6);
  EXPECT_EQ(s[3].id, "0/parallel/1/0");
  EXPECT_EQ(s[6].name, "c");
}

TEST(Config, AStepNameUsedTwiceIsNoIdAndARuleVersionFollowsItsContent) {
  const fs::path file = fs::temp_directory_path() / ("sb_config_ids_" + std::to_string(::getpid()) + ".json");
  const std::string rule = R"({"name": "r", "trigger": {"event": "e"}, "steps": [
      {"action": "sink.post", "name": "send"}, {"wait": "1h", "name": "send"}, {"action": "sink.post", "name": "1"}]})";
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [)" + rule + "]}";
  const CompiledRule a = first_rule(file);
  EXPECT_EQ(a.steps[0].id, "0");
  EXPECT_EQ(a.steps[1].id, "1");
  EXPECT_EQ(a.steps[2].id, "2");  // "1" is another step's path
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [)" + rule + "]}";
  EXPECT_EQ(first_rule(file).version, a.version);
  std::ofstream(file) << "{" INSTANCES R"(, "rules": [{"name": "r", "trigger": {"event": "e"}, "steps": [
      {"action": "sink.post", "name": "send", "params": {"body": 1}}]}]})";
  EXPECT_NE(first_rule(file).version, a.version);
}

TEST(Config, AMessageTemplateFillsTheParamsAndItsTextIsPartOfTheRuleVersion) {
  const fs::path dir = fs::temp_directory_path() / ("sb_config_templates_" + std::to_string(::getpid()));
  fs::create_directories(dir / "templates");
  std::ofstream(dir / "templates" / "offer.json")
      << R"({"channel": "email", "description": "the spring offer", "subject": "Скидка, {{contact.name}}", "html_file": "offer.html"})";
  std::ofstream(dir / "templates" / "offer.html") << "<p>Только до пятницы</p>";
  const std::string rules = R"("rules": [{"name": "r", "trigger": {"event": "e.x"}, "steps": [
      {"action": "mail.send", "template": "offer", "params": {"to": "{{contact.emails.0.address}}", "subject": "Своя тема"}},
      {"action": "mail.send", "template": "offer", "params": {"to": "x@y.test"}}]}])";
  const fs::path file = dir / "switchboard.json";
  std::ofstream(file) << "{" EMAIL_INSTANCE R"(, "templates_dir": "templates", )" << rules << "}";
  EXPECT_EQ(validate_file(file), std::vector<std::string>{});
  const Config config = load_config(file);
  std::vector<RuleIssue> issues;
  const CompiledRule a = compile_rule(config.rules.at(0).body, "/rules/0", rule_environment(config), issues);
  ASSERT_TRUE(issues.empty()) << issues.front().message;
  EXPECT_EQ(a.steps[0].params["subject"], "Своя тема");  // the step's own params win
  EXPECT_EQ(a.steps[0].params["html"], "<p>Только до пятницы</p>");
  EXPECT_EQ(a.steps[1].params["subject"], "Скидка, {{contact.name}}");
  EXPECT_FALSE(a.steps[1].params.contains("channel"));
  EXPECT_FALSE(a.steps[1].params.contains("description"));
  // A stored version compiles with the template as it was.
  const CompiledRule again = compile_rule_version(a.source, rule_environment(config), issues);
  EXPECT_EQ(again.steps[1].params["html"], "<p>Только до пятницы</p>");
  std::ofstream(dir / "templates" / "offer.html") << "<p>Только до субботы</p>";
  const Config edited = load_config(file);
  EXPECT_NE(compile_rule(edited.rules.at(0).body, "/rules/0", rule_environment(edited), issues).version, a.version);
  // A template file that is not JSON is named with the line, column and reason.
  std::ofstream(dir / "templates" / "broken.json") << "{\n  \"channel\": \"sms\",\n}";
  const auto broken = validate_file(file);
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_NE(broken[0].find("broken.json: invalid JSON at line 3, column 1: syntax error"), std::string::npos)
      << broken[0];
  fs::remove_all(dir);
}

// A plugin named as one in a later folder (a vendor's "tasks", an old copy)
// shadows it: the first folder's is loaded, and the log says which were not.
TEST(Config, APluginFoundInTwoFoldersIsTheFirstsAndTheLogSaysSo) {
  const fs::path dir = fs::temp_directory_path() / ("sb_config_shadow_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fs::path(SB_PLUGIN_DIR) / "http.so", dir / "http.so", fs::copy_options::overwrite_existing);
  std::ostringstream log;
  Logger::instance().set_stream(&log);
  const fs::path found = PluginCatalog({dir, SB_PLUGIN_DIR}).get("http")->path();
  const fs::path alone = PluginCatalog({SB_PLUGIN_DIR}).get("tasks")->path();
  Logger::instance().set_stream(nullptr);
  EXPECT_EQ(found, dir / "http.so");
  EXPECT_EQ(alone, fs::path(SB_PLUGIN_DIR) / "tasks.so");
  EXPECT_NE(log.str().find("more than one plugin dir"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find((fs::path(SB_PLUGIN_DIR) / "http.so").string()), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find("tasks"), std::string::npos) << log.str();
  fs::remove_all(dir);
}

// "Relative paths are relative to the file": also a plugin's folders and CA
// files (marked in its schema), whatever the host's working directory.
TEST(Config, APluginsRelativePathsAreTakenFromTheConfigFilesFolder) {
  const fs::path dir = fs::temp_directory_path() / ("sb_config_paths_" + std::to_string(::getpid()));
  fs::create_directories(dir / "etc");
  const fs::path file = dir / "etc" / "switchboard.json";
  std::ofstream(file) << R"({"instances": {
      "mail": {"plugin": "email", "config": {"from": "a@b.test", "dry_run": true, "attachments_dir": "../files",
               "smtp": {"host": "smtp.example.test", "ca_file": "ca.pem"}}},
      "phone": {"plugin": "telephony", "config": {"provider": "twilio", "account_sid": "AC00000000000000000000000000000000",
                "auth_token": "t", "from": "+74950000000", "dry_run": true, "audio_dir": "/srv/audio"}}}})";
  Config config = load_config(file);
  PluginCatalog catalog({SB_PLUGIN_DIR});
  const CheckedConfig checked = check_against_plugins(config, catalog, {});
  ASSERT_TRUE(checked.issues.empty()) << checked.issues.front().to_string();
  const nlohmann::json& mail = checked.instance_configs.at("mail");
  EXPECT_EQ(mail["attachments_dir"], (dir / "files").string());
  EXPECT_EQ(mail["smtp"]["ca_file"], (dir / "etc" / "ca.pem").string());
  EXPECT_EQ(mail["from"], "a@b.test");                                         // not a path: as written
  EXPECT_EQ(checked.instance_configs.at("phone")["audio_dir"], "/srv/audio");  // absolute: as written
  fs::remove_all(dir);
}

TEST(Config, SecretsAreResolvedFromTheEnvironment) {
  ::setenv("SB_TEST_TOKEN", "s3cret-value", 1);
  const fs::path file = fs::temp_directory_path() / "sb_secret_test.json";
  std::ofstream(file) << R"({"secrets": {"tok": {"env": "SB_TEST_TOKEN"}}})";
  Config config = load_config(file);
  auto secrets = read_secrets(config);
  EXPECT_EQ(secrets.at("tok"), "s3cret-value");
  EXPECT_EQ(resolve_secrets(nlohmann::json{{"h", {{"$secret", "tok"}}}}, secrets, "f", ""),
            (nlohmann::json{{"h", "s3cret-value"}}));
  fs::remove(file);
}

TEST(Config, ListenAddressParsesIpv4AndIpv6) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:8080"), std::make_pair(std::string("127.0.0.1"), uint16_t{8080}));
  EXPECT_EQ(parse_listen_address("[::1]:0"), std::make_pair(std::string("::1"), uint16_t{0}));
  EXPECT_THROW(parse_listen_address("localhost"), std::invalid_argument);
}

}  // namespace
}  // namespace sb
