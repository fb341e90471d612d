#include "rules/RuleCompiler.h"

#include <algorithm>
#include <map>
#include <set>

#include "config/Config.h"
#include "config/JsonSchema.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

// What an event offers a template: the events API's fields, a webhook's
// payload, the event's own metadata, and what earlier steps reported.
const std::vector<std::string> kTemplateRoots = {"event",   "id",       "type",    "time",  "entity",
                                                 "contact", "contacts", "company", "data",  "body",
                                                 "headers", "query",    "route",   "steps", "account"};

// What a dynamic segment's filter reads: the contact, and the account's zone.
const std::vector<std::string> kSegmentRoots = {"contact", "account"};

// Why a field an event cannot have ("contcat.name": a misspelt root) reads
// nothing; none when it starts with a root an event offers.
std::optional<std::string> unknown_root(const std::string& field,
                                        const std::vector<std::string>& known = kTemplateRoots) {
  const std::string root = field.substr(0, field.find('.'));
  if (std::find(known.begin(), known.end(), root) != known.end()) return std::nullopt;
  std::string roots;
  for (const auto& r : known) roots += (roots.empty() ? "" : ", ") + r;
  return "unknown field '" + field + "': a field starts with " + roots;
}

// The fields a condition reads that start with nothing an event offers (a
// misspelt "contcat.tags" under a "not" would match everyone), as
// {pointer, message}.
void unknown_condition_fields(const json& condition, const std::string& pointer,
                              std::vector<std::pair<std::string, std::string>>& out,
                              const std::vector<std::string>& known = kTemplateRoots) {
  const auto check = [&](const std::string& field, const std::string& at) {
    if (auto why = unknown_root(field, known)) out.emplace_back(at, std::move(*why));
  };
  if (!condition.is_object()) return;
  for (const auto& [key, value] : condition.items()) {
    const std::string at = pointer + "/" + escape_pointer_token(key);
    if (is_condition_group(key)) {
      if (value.is_array())
        for (size_t i = 0; i < value.size(); ++i)
          unknown_condition_fields(value[i], at + "/" + std::to_string(i), out, known);
    } else if (key == "not") {
      unknown_condition_fields(value, at, out, known);
    } else if (key == "field") {
      if (value.is_string()) check(value.get<std::string>(), at);
    } else if (key != "op" && key != "value" && key != "timezone") {
      check(key, at);  // the shorthand: {"body.status": "new"}
    }
  }
}

// A condition whose fields are read as templates read names (SendPulse's
// filters check the same variables): a single name is a short one
// ("Budget_deal" is entity.fields.Budget, "Город" contact.fields.Город, a
// config variable its path); a path, or a name whose path needs a filter
// ("firstName"), stays as written.
// A field as a condition or a switch names it: a dotted path as it is, a
// short name ("Город", "Категория") as the path it stands for.
std::string field_path(const std::string& field, const std::map<std::string, std::string>& variables) {
  if (field.empty() || field.find('.') != std::string::npos ||
      std::find(kTemplateRoots.begin(), kTemplateRoots.end(), field) != kTemplateRoots.end())
    return field;
  const std::string path = short_name_path(field, variables);
  const size_t bar = path.find('|');
  if (bar == std::string::npos) return path;
  // Alternatives only ("Менеджер": the entity's, or the contact's): a
  // condition reads the first, as it did before there were others.
  for (size_t at = bar; at != std::string::npos; at = path.find('|', at + 1))
    if (path.compare(at, 4, "|or:") != 0) return field;
  return path.substr(0, bar);
}

json with_field_paths(const json& condition, const std::map<std::string, std::string>& variables) {
  if (!condition.is_object()) return condition;
  const auto path_of = [&](const std::string& field) { return field_path(field, variables); };
  json out = json::object();
  const bool field_condition = condition.contains("field");
  for (const auto& [key, value] : condition.items()) {
    if (is_condition_group(key) && value.is_array()) {
      json each = json::array();
      for (const json& c : value) each.push_back(with_field_paths(c, variables));
      out[key] = std::move(each);
    } else if (key == "not") {
      out[key] = with_field_paths(value, variables);
    } else if (key == "field" && value.is_string()) {
      out[key] = path_of(value.get<std::string>());
    } else if (field_condition || key == "op" || key == "value" || key == "timezone" || key == "field" ||
               is_condition_group(key) || condition.contains(path_of(key))) {
      out[key] = value;  // as written: a misspelt key is reported as such, and two names of one path both kept
    } else {
      out[path_of(key)] = value;  // the shorthand: {"Город": "Омск"}
    }
  }
  return out;
}

// A violation whose value is (or holds) a placeholder is decided at run time.
bool templated(const json& params, const std::string& pointer) {
  try {
    const json& value = params.at(json::json_pointer(pointer));
    return value.is_string() && has_placeholder(value.get<std::string>());
  } catch (const json::exception&) {
    return false;
  }
}

// Parameters that name what the config declares, marked in the action's
// schema (any plugin's) on a top-level property:
//   "x-switchboard-names": "pipeline"        a configured pipeline
//   "x-switchboard-names": "static_segment"  a segment without a filter (a string, or each of an array)
//   "x-switchboard-status-of": "pipeline"    a status of the "pipeline" parameter's pipeline (or each of an array)
// A literal that names nothing declared is a validate error; a template is left to run time.
void check_names(const json& schema, const json& params, const RuleEnvironment& environment, const std::string& at,
                 const std::string& where, std::vector<RuleIssue>& issues) {
  const auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object() || !params.is_object()) return;
  const auto literal = [](const json& v) { return v.is_string() && !has_placeholder(v.get<std::string>()); };
  const auto listed = [](const auto& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? std::string("none is declared") : out;
  };
  for (const auto& [name, property] : properties->items()) {
    const auto value = params.find(name);
    if (value == params.end() || !property.is_object()) continue;
    const std::string pointer = at + "/" + escape_pointer_token(name);
    const auto marked = [&](const char* key) {
      const auto it = property.find(key);
      return it != property.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const std::string names = marked("x-switchboard-names");
    if (names == "pipeline" && literal(*value) && !environment.pipelines.count(value->get<std::string>())) {
      std::vector<std::string> known;
      for (const auto& [p, statuses] : environment.pipelines) known.push_back(p);
      issues.push_back({pointer, where + "no pipeline '" + value->get<std::string>() +
                                     "' in the config (expected one under \"pipelines\": " + listed(known) + ")"});
    }
    if (names == "static_segment") {
      const json items = value->is_array() ? *value : json::array({*value});
      for (size_t i = 0; i < items.size(); ++i)
        if (literal(items[i]) && !environment.static_segments.count(items[i].get<std::string>())) {
          const std::string segment = items[i].get<std::string>();
          issues.push_back(
              {value->is_array() ? pointer + "/" + std::to_string(i) : pointer,
               where +
                   (environment.dynamic_segments.count(segment)
                        ? "segment '" + segment + "' is dynamic: its filter decides who is in it"
                        : "no static segment '" + segment + "' in the config") +
                   " (expected one under \"segments\" without a filter: " + listed(environment.static_segments) + ")"});
        }
    }
    const std::string status_of = marked("x-switchboard-status-of");
    if (!status_of.empty() && params.contains(status_of) && literal(params[status_of])) {
      const auto pipeline = environment.pipelines.find(params[status_of].get<std::string>());
      const json items = value->is_array() ? *value : json::array({*value});  // a status, or each of a list
      for (size_t i = 0; pipeline != environment.pipelines.end() && i < items.size(); ++i)
        if (literal(items[i]) && std::find(pipeline->second.begin(), pipeline->second.end(),
                                           items[i].get<std::string>()) == pipeline->second.end())
          issues.push_back({value->is_array() ? pointer + "/" + std::to_string(i) : pointer,
                            where + "no status '" + items[i].get<std::string>() + "' in pipeline '" + pipeline->first +
                                "' (expected one of: " + listed(pipeline->second) + ")"});
    }
  }
}

std::string hash_hex(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a: stable across builds and hosts
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<size_t>(i)] = kHex[hash & 15];
  return out;
}

// Flattens one rule's nested steps. Each step kind is one method; each adds
// its step (and its branches' steps) at the end of `steps_`.
class StepCompiler {
 public:
  // `check_names`: what a loaded config must name right (not a stored
  // version, which ran as it was written; see RuleEnvironment).
  StepCompiler(std::string rule, std::string steps_pointer, std::vector<RuleIssue>& issues, bool check_keys,
               bool check_names, const std::map<std::string, std::string>& variables)
      : rule_(std::move(rule)),
        steps_pointer_(std::move(steps_pointer)),
        issues_(issues),
        check_keys_(check_keys),
        check_names_(check_names),
        variables_(variables) {}

  void add_steps(const json& steps, const std::string& at, size_t first = 0) {
    for (size_t s = 0; s < steps.size(); ++s) add_step(steps[s], at + "/" + std::to_string(first + s));
  }
  std::vector<CompiledStep> take() { return std::move(steps_); }

 private:
  void add_step(const json& step, const std::string& pointer) {
    static const char* const kKinds[] = {"action", "wait",   "wait_until", "send_window", "parallel", "wait_for",
                                         "if",     "switch", "split",      "fallback",    "digest"};
    int kinds = 0;
    for (const char* k : kKinds) kinds += step.contains(k);
    if (kinds != 1)
      return problem(pointer,
                     "a step is one of action, wait, wait_until, send_window, wait_for, if, switch, split, fallback, "
                     "parallel, digest");
    if (check_keys_) stray_keys(step, pointer);
    if (step.contains("fallback")) return add_fallback(step, pointer);
    if (step.contains("if")) return add_if(step, pointer);
    if (step.contains("wait_for")) return add_wait_for(step, pointer);
    if (step.contains("parallel")) return add_parallel(step, pointer);
    if (step.contains("switch") || step.contains("split")) return add_switch_or_split(step, pointer);
    if (step.contains("send_window")) return add_send_window(step, pointer);
    if (step.contains("wait_until")) return add_wait_until(step, pointer);
    if (step.contains("wait")) return add_wait(step, pointer);
    if (step.contains("digest")) return add_digest(step, pointer);
    add_action(step, pointer);
  }

  // The keys each kind of step reads. Another key is a mistake the step
  // would pass over without a word ("timeout" on an action, "then" on a
  // split): said, with the kind it goes with.
  void stray_keys(const json& step, const std::string& pointer) {
    using Keys = std::vector<std::string_view>;
    static const std::vector<std::pair<std::string_view, Keys>> kKeys = {
        {"action", {"action", "params", "template", "timeout_ms", "retry"}},
        {"wait", {"wait"}},
        {"wait_until", {"wait_until", "offset", "at"}},
        {"send_window", {"send_window"}},
        {"wait_for", {"wait_for", "match", "timeout", "else_on", "then", "else"}},
        {"if", {"if", "then", "else"}},
        {"switch", {"switch", "cases", "default"}},
        {"split", {"split"}},
        {"fallback", {"fallback"}},
        {"parallel", {"parallel"}},
        {"digest", {"digest", "item", "key"}},
    };
    const auto reads = [](const Keys& keys, std::string_view key) {
      return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    const auto kind = std::find_if(kKeys.begin(), kKeys.end(), [&](const auto& k) { return step.contains(k.first); });
    if (kind == kKeys.end()) return;
    for (const auto& [key, value] : step.items()) {
      if (key == "name" || reads(kind->second, key)) continue;
      std::string goes_with;
      for (const auto& [other, keys] : kKeys)
        if (reads(keys, key))
          goes_with += std::string(goes_with.empty() ? "" : " or ") + "\"" + std::string(other) + "\"";
      std::string takes = "name";
      for (std::string_view k : kind->second) takes.append(", ").append(k);
      problem(pointer + "/" + escape_pointer_token(key),
              "\"" + key + "\" " + (goes_with.empty() ? "is not a step key" : "goes with " + goes_with) + ", not \"" +
                  std::string(kind->first) + "\" (which takes " + takes + ")");
    }
  }

  CompiledStep base(const json& step, const std::string& pointer, CompiledStep::Kind kind, std::string name) {
    CompiledStep s;
    s.kind = kind;
    s.name = step.value("name", std::move(name));
    s.id = path_id(pointer);
    if (step.contains("name")) named_[s.name].push_back(steps_.size());
    pointers_.push_back(pointer);
    return s;
  }
  // A jump past the other branches: a step of its own, with an id of its own.
  void add_jump(const std::string& owner_pointer, const std::string& what) {
    CompiledStep j;
    j.kind = CompiledStep::Kind::kJump;
    j.name = what;
    j.id = path_id(owner_pointer) + "#" + what;
    pointers_.push_back(owner_pointer);
    steps_.push_back(std::move(j));
  }

  // `then` follows the step; `else` (where the step's else_step leads)
  // comes after a jump past it.
  void add_then_else(const json& step, const std::string& pointer, size_t me) {
    if (step.contains("then")) add_steps(step["then"], pointer + "/then");
    if (step.contains("else")) {
      const size_t end_of_then = steps_.size();
      add_jump(pointer, "end of then");
      steps_[me].else_step = here();
      add_steps(step["else"], pointer + "/else");
      steps_[end_of_then].jump_to = here();
    } else {
      steps_[me].else_step = here();
    }
  }

  // Channels in order. A channel with "delivered_within" counts as
  // delivered only once its provider reports it (message.delivered or
  // message.read for the message id it answered): a report that it failed, or none in time,
  // moves on to the next channel, as an unreachable contact does.
  void add_fallback(const json& step, const std::string& pointer) {
    const json& channels = step["fallback"];
    std::vector<size_t> chain;
    std::vector<int> confirmations;  // per channel of the chain: its wait for the report, or -1
    std::vector<size_t> past_chain;  // the jumps after a confirmed delivery
    for (size_t i = 0; i < channels.size(); ++i) {
      const std::string at = pointer + "/fallback/" + std::to_string(i);
      if (!channels[i].contains("action")) {
        problem(at, "each step of a fallback chain is an action");
        continue;
      }
      chain.push_back(steps_.size());
      json channel = channels[i];
      const json within = channel.contains("delivered_within") ? channel["delivered_within"] : json();
      channel.erase("delivered_within");
      add_steps(json::array({channel}), pointer + "/fallback", i);
      confirmations.push_back(-1);
      if (within.is_null()) continue;
      const std::string name = channel.value("name", "");
      const auto ms = within.is_string() ? parse_duration_ms(within.get<std::string>()) : std::nullopt;
      if (!ms || *ms <= 0) {
        problem(at + "/delivered_within", "expected a positive duration such as \"10m\"");
        continue;
      }
      if (i + 1 == channels.size()) {
        problem(at + "/delivered_within",
                "the last channel has none to fall back to: a delivery report is waited for only before another "
                "channel (use wait_for after the chain to act on it)");
        continue;
      }
      if (name.empty() || name.find_first_of(".|{}") != std::string::npos || name.front() == ' ' ||
          name.back() == ' ') {
        problem(at + "/name",
                "a channel with \"delivered_within\" needs a \"name\" without dots, '|', braces or spaces at its "
                "ends: the delivery report is matched to the message id that step answered "
                "(steps.<name>.external_id)");
        continue;
      }
      CompiledStep wait =
          base(json::object(), at + "/delivered_within", CompiledStep::Kind::kWaitEvent, "delivery of " + name);
      // A read report means delivered too: a channel may send it alone.
      wait.wait_events = {"message.delivered", "message.read"};
      wait.wait_else_on = {"message.failed", "message.undelivered"};
      wait.wait_match = {{"data.message_id", "{{steps." + name + ".external_id}}"}};
      wait.wait_ms = ms;
      wait.confirms_delivery = true;
      confirmations.back() = static_cast<int>(steps_.size());
      steps_.push_back(std::move(wait));
      past_chain.push_back(steps_.size());
      add_jump(at + "/delivered_within", "delivered");
    }
    for (size_t i = 0; i < chain.size(); ++i) {
      const int next = i + 1 < chain.size() ? static_cast<int>(chain[i + 1]) : -1;
      steps_[chain[i]].fallback_next = next;
      steps_[chain[i]].fallback_end = confirmations[i] >= 0 ? confirmations[i] : here();
      if (confirmations[i] >= 0) steps_[static_cast<size_t>(confirmations[i])].else_step = next;
    }
    for (size_t jump : past_chain) steps_[jump].jump_to = here();
  }

  void add_if(const json& step, const std::string& pointer) {
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kIf, "if");
    std::vector<ConditionProblem> problems;
    const json condition = with_field_paths(step["if"], variables_);
    s.condition = Condition::compile(condition, problems);
    for (const auto& p : problems) problem(pointer + "/if" + p.pointer, p.message);
    std::vector<std::pair<std::string, std::string>> unknown;
    if (problems.empty() && check_names_) unknown_condition_fields(condition, pointer + "/if", unknown);
    for (const auto& [at, message] : unknown) problem(at, message);
    const auto has_steps = [&](const char* branch) { return step.contains(branch) && !step[branch].empty(); };
    if (!has_steps("then") && !has_steps("else")) problem(pointer, "\"if\" needs steps in \"then\" or \"else\"");
    steps_.push_back(std::move(s));
    add_then_else(step, pointer, steps_.size() - 1);
  }

  void add_wait_for(const json& step, const std::string& pointer) {
    // One type, or several of which the first to come takes the then
    // steps ("message.opened" or "message.clicked": a click without the
    // pixel loaded was an open too).
    const json& awaited = step["wait_for"];
    std::vector<std::string> events;
    for (const json& type : awaited.is_array() ? awaited : json::array({awaited})) events.push_back(type);
    std::string label;
    for (const auto& event : events) label += (label.empty() ? "" : " or ") + event;
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kWaitEvent, "wait for " + label);
    s.wait_match = step.value("match", json::object());
    for (const std::string type : step.value("else_on", json::array())) {
      if (std::find(events.begin(), events.end(), type) != events.end())
        problem(pointer + "/else_on", "\"" + type + "\" is an awaited event: it cannot also take the \"else\" steps");
      s.wait_else_on.push_back(type);
    }
    s.wait_events = std::move(events);
    if (s.wait_match.empty())
      problem(pointer,
              "\"wait_for\" needs \"match\": the awaited event's fields and the values they must have, e.g. "
              "{\"data.message_id\": \"{{steps.Offer.external_id}}\"}");
    s.wait_ms = parse_duration_ms(step.value("timeout", ""));
    if (!s.wait_ms || *s.wait_ms <= 0)
      problem(pointer + "/timeout",
              "\"wait_for\" needs a positive \"timeout\" such as \"2d\" (how long to wait before the \"else\" steps)");
    steps_.push_back(std::move(s));
    add_then_else(step, pointer, steps_.size() - 1);
  }

  void add_parallel(const json& step, const std::string& pointer) {
    const size_t me = steps_.size();
    steps_.push_back(base(step, pointer, CompiledStep::Kind::kParallel, "parallel"));
    std::vector<size_t> ends;
    const json& branches = step["parallel"];
    for (size_t b = 0; b < branches.size(); ++b) {
      steps_[me].branches.emplace_back(std::to_string(b), here());
      add_steps(branches[b], pointer + "/parallel/" + std::to_string(b));
      ends.push_back(steps_.size());
      add_jump(pointer, "end of branch " + std::to_string(b));
    }
    for (size_t j : ends) steps_[j].jump_to = here();
    steps_[me].jump_to = here();
  }

  void add_switch_or_split(const json& step, const std::string& pointer) {
    const bool split = step.contains("split");
    const size_t me = steps_.size();
    CompiledStep s = base(step, pointer, split ? CompiledStep::Kind::kSplit : CompiledStep::Kind::kSwitch,
                          split ? "split" : "switch");
    if (!split) s.switch_path = field_path(step["switch"], variables_);
    if (!split && check_names_)
      if (auto why = unknown_root(s.switch_path)) problem(pointer + "/switch", *why);
    steps_.push_back(std::move(s));
    if (!split && !step.contains("cases")) return problem(pointer, "\"switch\" needs \"cases\"");
    std::vector<size_t> jumps;
    const json& branches = split ? step["split"] : step["cases"];
    for (const auto& [key, value] : branches.items()) {
      steps_[me].branches.emplace_back(key, here());
      if (split) steps_[me].weights.push_back(value["weight"].get<int>());
      const std::string branch_pointer =
          pointer + (split ? "/split/" : "/cases/") + escape_pointer_token(key) + (split ? "/steps" : "");
      add_steps(split ? value["steps"] : value, branch_pointer);
      jumps.push_back(steps_.size());
      add_jump(branch_pointer, "end of " + key);
    }
    steps_[me].default_step = here();
    if (!split && step.contains("default")) add_steps(step["default"], pointer + "/default");
    for (size_t j : jumps) steps_[j].jump_to = here();
  }

  void add_send_window(const json& step, const std::string& pointer) {
    const json& w = step["send_window"];
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kWait,
                          "send window " + w["from"].get<std::string>() + "-" + w["to"].get<std::string>());
    SendWindow window;
    for (const char* end : {"from", "to"}) {
      const auto minute = SendWindow::parse_clock(w[end].get<std::string>());
      if (!minute)
        problem(pointer + "/send_window/" + end, "expected a time of day from 00:00 to 24:00");
      else
        (std::string(end) == "from" ? window.from_minute : window.to_minute) = *minute;
    }
    if (w.contains("days")) {
      window.days = 0;
      for (const auto& day : w["days"]) window.days |= SendWindow::parse_day(day.get<std::string>()).value_or(0);
    }
    s.window_zone = w.value("timezone", "");
    if (!s.window_zone.empty() && !is_time_zone(s.window_zone))
      problem(pointer + "/send_window/timezone",
              "unknown time zone '" + s.window_zone + "': expected an IANA name such as \"Europe/Moscow\"");
    s.window = window;
    steps_.push_back(std::move(s));
  }

  void add_wait_until(const json& step, const std::string& pointer) {
    const std::string path = step["wait_until"];
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kWait, "wait until " + path);
    s.wait_until = path;
    if (check_names_)
      if (auto why = unknown_root(path)) problem(pointer + "/wait_until", *why);
    if (step.contains("offset")) {
      auto offset = parse_duration_ms(step["offset"].get<std::string>());
      if (!offset)
        problem(pointer + "/offset", "expected a duration such as \"-1d\" or \"2h\"");
      else
        s.wait_offset_ms = *offset;
    }
    if (step.contains("at")) {
      s.wait_at_minute = step["at"].is_string() ? SendWindow::parse_clock(step["at"].get<std::string>()) : std::nullopt;
      if (!s.wait_at_minute) problem(pointer + "/at", "expected a local time of day such as \"10:00\"");
    }
    steps_.push_back(std::move(s));
  }

  void add_wait(const json& step, const std::string& pointer) {
    const std::string text = step["wait"];
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kWait, "wait " + text);
    s.wait_ms = parse_duration_ms(text);
    if (!s.wait_ms || *s.wait_ms <= 0)
      problem(pointer + "/wait",
              "expected a positive duration up to 100 years, such as \"30m\", \"2h\", \"1d12h\", \"1 day\"");
    steps_.push_back(std::move(s));
  }

  // {"digest": "1h", "item": "{{data.text}}", "key": "{{entity.id}}"}: the
  // first event opens a window; the others of its group join it and end.
  void add_digest(const json& step, const std::string& pointer) {
    const std::string text = step["digest"];
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kDigest, "digest " + text);
    s.wait_ms = parse_duration_ms(text);
    if (!s.wait_ms || *s.wait_ms <= 0)
      problem(pointer + "/digest", "expected a positive duration such as \"30m\", \"1h\", \"1d\"");
    s.digest_item = step.value("item", json("{{event.id}}"));
    s.digest_key = step.value("key", json());
    steps_.push_back(std::move(s));
  }

  void add_action(const json& step, const std::string& pointer) {
    const std::string ref = step["action"];
    CompiledStep s = base(step, pointer, CompiledStep::Kind::kAction, ref);
    const size_t dot = ref.find('.');
    s.instance = ref.substr(0, dot);
    s.action = ref.substr(dot + 1);
    s.params = step.value("params", json::object());
    if (step.contains("timeout_ms")) s.timeout = std::chrono::milliseconds(step["timeout_ms"].get<uint32_t>());
    if (step.contains("retry")) {
      const json& retry = step["retry"];
      s.max_attempts = retry.value("max_attempts", s.max_attempts);
      if (retry.contains("backoff")) {
        auto backoff = parse_duration_ms(retry["backoff"].get<std::string>());
        if (!backoff || *backoff <= 0)
          problem(pointer + "/retry/backoff", "expected a positive duration such as \"10s\"");
        else
          s.backoff_ms = *backoff;
      }
    }
    steps_.push_back(std::move(s));
  }

 public:
  // Steps named once in the rule are known by their name; the others (and
  // a name that is also another step's path) by their path.
  void name_steps() {
    std::set<std::string> paths;
    for (const auto& s : steps_) paths.insert(s.id);
    for (const auto& [name, at] : named_)
      if (at.size() == 1 && !name.empty() && !paths.count(name) && name != kEndId) steps_[at.front()].id = name;
    // Actions without a name that do the same in one sequence (a message, a
    // wait, the same message again) are told apart in the history, the
    // stats and the metrics: the second is "sms.send #2", and so on. In
    // other branches (an A/B test's variants) they stay one step to compare.
    std::set<size_t> named_at;
    for (const auto& [name, at] : named_) named_at.insert(at.begin(), at.end());
    std::map<std::pair<std::string, std::string>, int> seen;  // (the steps they are in, name)
    for (size_t i = 0; i < steps_.size(); ++i)
      if (!named_at.count(i) && steps_[i].kind == CompiledStep::Kind::kAction) {
        const std::string sequence = pointers_[i].substr(0, pointers_[i].rfind('/'));
        if (const int n = ++seen[{sequence, steps_[i].name}]; n > 1) steps_[i].name += " #" + std::to_string(n);
      }
  }
  const std::string& pointer_of(size_t index) const { return pointers_[index]; }

 private:
  int here() const { return static_cast<int>(steps_.size()); }
  std::string path_id(const std::string& pointer) const { return pointer.substr(steps_pointer_.size() + 1); }
  void problem(const std::string& pointer, const std::string& message) {
    issues_.push_back({pointer, "rule '" + rule_ + "': " + message});
  }

  const std::string rule_;
  const std::string steps_pointer_;
  std::vector<RuleIssue>& issues_;
  const bool check_keys_;
  const bool check_names_;
  const std::map<std::string, std::string>&
      variables_;  // the rule's template variables: if-conditions read names as templates do
  std::vector<CompiledStep> steps_;
  std::vector<std::string> pointers_;  // parallel to steps_
  std::map<std::string, std::vector<size_t>> named_;
};

}  // namespace

namespace {

// The names of the message templates the rule's steps use.
void collect_template_names(const json& value, std::set<std::string>& names) {
  if (value.is_object()) {
    if (const auto it = value.find("template"); it != value.end() && it->is_string() && value.contains("action"))
      names.insert(it->get<std::string>());
    for (const auto& item : value) collect_template_names(item, names);
  } else if (value.is_array()) {
    for (const auto& item : value) collect_template_names(item, names);
  }
}

// By step pointer: the message template a step uses, and its channel.
struct TemplateUse {
  std::string name, channel;
  std::set<std::string> own_params;  // the step's own, which win over the template's
};
using TemplateUses = std::map<std::string, TemplateUse>;

// The rule with each step's message template merged into its params (the
// step's own params win). Records the template's channel by step pointer.
json with_message_templates(const json& value, const std::string& pointer, const std::string& rule,
                            const std::map<std::string, json>& templates, TemplateUses& channels,
                            std::vector<RuleIssue>& issues) {
  if (value.is_array()) {
    json out = json::array();
    for (size_t i = 0; i < value.size(); ++i)
      out.push_back(
          with_message_templates(value[i], pointer + "/" + std::to_string(i), rule, templates, channels, issues));
    return out;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, item] : value.items())
    out[key] =
        with_message_templates(item, pointer + "/" + escape_pointer_token(key), rule, templates, channels, issues);
  const auto name = value.find("template");
  if (!value.contains("action") || name == value.end() || !name->is_string()) return out;
  const auto found = templates.find(name->get<std::string>());
  if (found == templates.end()) {
    std::string known;
    for (const auto& [k, v] : templates) known += (known.empty() ? "" : ", ") + k;
    issues.push_back({pointer + "/template", "rule '" + rule + "': unknown template '" + name->get<std::string>() +
                                                 "' (the config's templates: " + (known.empty() ? "none" : known) +
                                                 ")"});
    return out;
  }
  json params = found->second;
  std::set<std::string> own;
  const json written = value.value("params", json::object());  // a local: items() of a temporary would dangle
  for (const auto& [key, item] : written.items()) own.insert(key);
  channels[pointer] = {found->first, params.value("channel", ""), std::move(own)};
  // A task template's description is the task's (HolliHop's task template
  // is its description); another template's says what it is for.
  if (params.value("channel", "") != "task") params.erase("description");
  params.erase("channel");
  params.update(value.value("params", json::object()));
  out["params"] = std::move(params);
  return out;
}

// {"event": "booking.created" | [...], "within": "7d", "value": "data.amount"}; the schema checked its shape.
std::optional<RuleGoal> compile_goal(const json& goal, const std::string& pointer, const std::string& where,
                                     std::vector<RuleIssue>& issues) {
  RuleGoal out;
  const json event = goal.value("event", json());
  if (event.is_string()) out.events.push_back(event.get<std::string>());
  if (event.is_array())
    for (const json& type : event)
      if (type.is_string()) out.events.push_back(type.get<std::string>());
  const std::string within = goal.value("within", "7d");
  const auto ms = parse_duration_ms(within);
  if (!ms || *ms <= 0) {
    issues.push_back({pointer + "/within", where +
                                               "goal within: expected a positive duration such as \"7d\" or "
                                               "\"12h\", got \"" +
                                               within + "\""});
    return std::nullopt;
  }
  out.within_ms = *ms;
  out.value = goal.value("value", "");
  if (out.events.empty()) return std::nullopt;
  return out;
}

}  // namespace

json rule_source(const json& rule, const RuleEnvironment& environment) {
  json variables = json::object();
  for (const auto& [k, v] : environment.template_variables) variables[k] = v;
  json pipelines = json::object();
  for (const auto& [k, v] : environment.pipelines) pipelines[k] = v;
  json source{{"rule", rule}, {"template_variables", variables}, {"pipelines", pipelines}};
  // A template's text is part of the version: an execution keeps the words it began with.
  std::set<std::string> used;
  collect_template_names(rule, used);
  for (const std::string& name : used)
    if (const auto it = environment.message_templates.find(name); it != environment.message_templates.end())
      source["message_templates"][name] = it->second;
  return source;
}

CompiledRule compile_rule(const json& written, const std::string& pointer, const RuleEnvironment& environment,
                          std::vector<RuleIssue>& issues) {
  CompiledRule out;
  out.name = written.value("name", "");
  out.source = rule_source(written, environment);
  TemplateUses template_channels;
  const json rule =
      with_message_templates(written, pointer, out.name, environment.message_templates, template_channels, issues);
  out.version = hash_hex(dump_text(out.source));
  const std::string where = "rule '" + out.name + "': ";
  const json trigger = rule.value("trigger", json::object());
  std::vector<ConditionProblem> problems;
  json status_match;  // a client status trigger's statuses, matched with the filter
  if (TimeTrigger::is_time_trigger(trigger)) {
    // The host produces its events, from a source only this rule listens to.
    out.time_trigger = TimeTrigger::compile(trigger, problems);
    if (out.time_trigger && out.time_trigger->kind == TimeTrigger::Kind::kReport &&
        out.time_trigger->report == "channels" && environment.check_declared_names &&
        environment.ad_channels_entity.empty())
      problems.push_back({"/report",
                          "a channels report counts the config's \"ad_channels\", and there is none: name the entity "
                          "type whose records are attributed (\"ad_channels\": {\"entity\": \"booking\"})"});
    if (out.time_trigger)
      out.trigger = Trigger::compile(json{{"event", out.time_trigger->event_type()}, {"source", time_source(out.name)}},
                                     environment.pipelines, problems);
  } else {
    out.trigger = Trigger::compile(trigger, environment.pipelines, problems);
    // A client's own status (MatrixCRM's new, active, VIP) is the contact's
    // "status", which moves as contact.status_changed says: the trigger is
    // that event, with the statuses as its match.
    if (trigger.is_object() && trigger.value("entity", "") == "contact") {
      if (!trigger.contains("status"))
        problems.push_back({"/entity",
                            "a client's status triggers one status at a time: {\"entity\": \"contact\", \"status\": "
                            "\"VIP\"} (a range fires once per lead, deal or booking)"});
      else if (out.trigger) {
        json event{{"event", "contact.status_changed"}};
        if (trigger.contains("source")) event["source"] = trigger["source"];
        out.trigger = Trigger::compile(event, environment.pipelines, problems);
        status_match = {{"data.status", trigger["status"]}};
        if (trigger.contains("previous_status")) status_match["data.previous_status"] = trigger["previous_status"];
      }
    }
    // A time trigger's keys ("by", "timezone") on an event trigger would do
    // nothing: said, not ignored. (Not for a stored version: its executions
    // go on as it was.)
    static const std::set<std::string> kEventTriggerKeys{"event",           "source",   "entity", "status",
                                                         "previous_status", "pipeline", "from",   "to"};
    if (environment.check_declared_names && trigger.is_object())
      for (const auto& [key, value] : trigger.items())
        if (!kEventTriggerKeys.count(key))
          problems.push_back({"/" + escape_pointer_token(key),
                              "does not go with an event or status trigger; expected event, source, entity, status, "
                              "previous_status, pipeline, from, to (or a time trigger: schedule, special_date, "
                              "overdue, report)"});
    const std::string source = trigger.value("source", "");
    if (!source.empty() && source != "api" && !environment.instances.count(source))
      issues.push_back({pointer + "/trigger/source", where + "unknown instance '" + source + "'"});
  }
  for (const auto& p : problems) issues.push_back({pointer + "/trigger" + p.pointer, where + p.message});
  problems.clear();
  std::map<std::string, std::string> variables = environment.template_variables;
  variables.insert(default_template_variables().begin(), default_template_variables().end());
  const json filter = with_field_paths(rule.value("filter", json::object()), variables);
  out.filter = Condition::compile(filter, problems);
  for (const auto& p : problems) issues.push_back({pointer + "/filter" + p.pointer, where + p.message});
  std::vector<std::pair<std::string, std::string>> unknown;
  if (problems.empty() && environment.check_declared_names)
    unknown_condition_fields(filter, pointer + "/filter", unknown);
  for (const auto& [at, message] : unknown) issues.push_back({at, where + message});
  if (!status_match.is_null() && problems.empty())
    out.filter = Condition::compile(filter.empty() ? status_match : json{{"all", {status_match, filter}}}, problems);
  const std::string priority = rule.value("priority", "normal");
  out.priority = priority == "high" ? 2 : priority == "low" ? 0 : 1;
  out.hold_in_doubt = rule.value("on_doubt", "resend") == "hold";
  out.category = rule.value("category", "marketing");
  out.critical = rule.value("critical", false);
  out.defer_over_cap = rule.value("over_cap", "skip") == "defer";
  if (const auto goal = rule.find("goal"); goal != rule.end() && goal->is_object())
    out.goal = compile_goal(*goal, pointer + "/goal", where, issues);

  StepCompiler steps(out.name, pointer + "/steps", issues, environment.check_step_keys,
                     environment.check_declared_names, variables);
  steps.add_steps(rule.value("steps", json::array()), pointer + "/steps");
  steps.name_steps();
  out.steps = steps.take();

  std::vector<std::string> step_names;
  for (const auto& s : out.steps)
    if (s.kind == CompiledStep::Kind::kAction || s.kind == CompiledStep::Kind::kWaitEvent ||
        s.kind == CompiledStep::Kind::kDigest)
      step_names.push_back(s.name);
  // A stored version's variables were checked when it was loaded, by the
  // rules of that day: what a later check refuses must not fail it now.
  const bool check_variables = environment.check_declared_names;
  // A schedule's or a report's event is about no one: what a contact, a
  // record or a request would fill never comes.
  std::map<std::string, std::string> absent;
  if (out.time_trigger &&
      (out.time_trigger->kind == TimeTrigger::Kind::kSchedule || out.time_trigger->kind == TimeTrigger::Kind::kReport))
    for (const char* root : {"contact", "contacts", "entity", "company", "body", "headers", "query", "route"})
      absent[root] = "this rule's " + out.time_trigger->event_type() + " event names no contact, record or request";
  // A special date's is about a contact alone (SendPulse: a deal's variables
  // need a deal's trigger).
  if (out.time_trigger && out.time_trigger->kind == TimeTrigger::Kind::kSpecialDate)
    for (const char* root : {"contacts", "entity", "company", "body", "headers", "query", "route"})
      absent[root] = "this rule's " + out.time_trigger->event_type() + " event names a contact, no record or request";
  auto check_templates = [&](const json& value, const std::string& at, const std::string& step_where) {
    if (check_variables)
      for (const auto& e :
           unknown_template_variables(value, kTemplateRoots, step_names, "", &environment.account, &absent))
        issues.push_back({at + e.substr(0, e.find(": ")), step_where + e.substr(e.find(": ") + 2)});
    for (const auto& e : template_syntax_errors(value, "", check_variables))
      issues.push_back({at + e.substr(0, e.find(": ")), step_where + e.substr(e.find(": ") + 2)});
  };
  for (size_t i = 0; i < out.steps.size(); ++i) {
    CompiledStep& s = out.steps[i];
    const std::string& at = steps.pointer_of(i);
    const auto used_template = template_channels.find(at);
    const std::string step_where =
        "rule '" + out.name + "', step '" + s.name + "'" +
        (used_template == template_channels.end() ? "" : " (template '" + used_template->second.name + "')") + ": ";
    if (s.kind == CompiledStep::Kind::kWaitEvent) {
      s.wait_match = expand_template_variables(s.wait_match, variables, kTemplateRoots);
      check_templates(s.wait_match, at + "/match", step_where);
    }
    if (s.kind == CompiledStep::Kind::kDigest) {
      json templates{{"item", expand_template_variables(s.digest_item, variables, kTemplateRoots)}};
      if (!s.digest_key.is_null())
        templates["key"] = expand_template_variables(s.digest_key, variables, kTemplateRoots);
      check_templates(templates, at, step_where);
      s.digest_item = templates["item"];
      if (templates.contains("key")) s.digest_key = templates["key"];
    }
    if (s.kind != CompiledStep::Kind::kAction) continue;
    s.params = expand_template_variables(s.params, variables, kTemplateRoots);
    if (used_template == template_channels.end()) {
      check_templates(s.params, at + "/params", step_where);
    } else {
      // What the template wrote is reported at the step's "template", naming its field: the
      // template's own text has no place in this rule.
      json own = json::object(), borrowed = json::object();
      for (const auto& [key, value] : s.params.items())
        (used_template->second.own_params.count(key) ? own : borrowed)[key] = value;
      check_templates(own, at + "/params", step_where);
      if (check_variables)
        for (const auto& e :
             unknown_template_variables(borrowed, kTemplateRoots, step_names, "", &environment.account, &absent))
          issues.push_back({at + "/template", step_where + e});
      for (const auto& e : template_syntax_errors(borrowed, "", check_variables))
        issues.push_back({at + "/template", step_where + e});
    }
    if (!environment.instances.count(s.instance) && s.instance != kHostInstance) {
      issues.push_back(
          {at + "/action", where + "unknown instance '" + s.instance + "' in '" + s.instance + "." + s.action +
                               "' (expected INSTANCE.ACTION with an instance declared under \"instances\")"});
      continue;
    }
    if (!environment.find_action) continue;
    std::string why;
    const ActionSpec* spec = environment.find_action(s.instance, s.action, why);
    if (!spec) {
      if (!why.empty()) issues.push_back({at + "/action", step_where + why});
      continue;
    }
    for (const auto& v : spec->schema->validate(s.params))
      if (!templated(s.params, v.path)) issues.push_back({at + "/params" + v.path, step_where + v.message});
    if (environment.check_declared_names)
      check_names(spec->schema_json, s.params, environment, at + "/params", step_where, issues);
    s.schema = spec->schema;
    s.html_params = html_targets(spec->schema_json);
    s.retry_safe = spec->retry_safe;
    if (const auto it = spec->schema_json.find("x-switchboard-channel");
        it != spec->schema_json.end() && it->is_string())
      s.channel = it->get<std::string>();
    // A delivery report is waited for only from a channel that sends them:
    // from another, the wait would always end in the next channel too.
    const auto reports = spec->schema_json.find("x-switchboard-delivery-reports");
    s.reports_delivery = reports != spec->schema_json.end() && *reports == true;
    // (Checked in the config, not in a kept version: a rule that ran keeps running.)
    if (environment.check_declared_names && i + 1 < out.steps.size() && out.steps[i + 1].confirms_delivery &&
        (reports == spec->schema_json.end() || *reports != true))
      issues.push_back({at + "/delivered_within",
                        step_where + s.instance + "." + s.action +
                            " reports no delivery (its schema has no \"x-switchboard-delivery-reports\": whatsapp "
                            "and sms actions do): a report waited for would never come"});
    // The templates an action takes: its channel's, or those of the kind its
    // schema names (a task's: "x-switchboard-templates": "task").
    const auto kind = spec->schema_json.find("x-switchboard-templates");
    const std::string takes =
        kind != spec->schema_json.end() && kind->is_string() ? kind->get<std::string>() : s.channel;
    if (used_template != template_channels.end() && used_template->second.channel != takes)
      issues.push_back({at + "/template", step_where + "the template is for " + used_template->second.channel +
                                              ", and " + s.instance + "." + s.action +
                                              (takes.empty() ? " takes no templates" : " takes " + takes + " ones")});
  }
  out.index_steps();
  return out;
}

CompiledRule compile_rule_version(const json& source, const RuleEnvironment& environment,
                                  std::vector<RuleIssue>& issues) {
  RuleEnvironment then = environment;
  then.check_declared_names = false;
  then.check_step_keys = false;
  // Locals: items() of a temporary would dangle.
  const json variables = source.value("template_variables", json::object());
  const json pipelines = source.value("pipelines", json::object());
  then.template_variables.clear();
  for (const auto& [k, v] : variables.items()) then.template_variables[k] = v.get<std::string>();
  then.pipelines.clear();
  for (const auto& [k, v] : pipelines.items()) then.pipelines[k] = v.get<std::vector<std::string>>();
  const json templates = source.value("message_templates", json::object());
  then.message_templates.clear();
  for (const auto& [k, v] : templates.items()) then.message_templates[k] = v;
  return compile_rule(source.value("rule", json::object()), "", then, issues);
}

std::unique_ptr<Condition> compile_segment_filter(const json& filter, const std::string& pointer,
                                                  const std::string& where, const RuleEnvironment& environment,
                                                  std::vector<RuleIssue>& issues, json& as_read) {
  std::map<std::string, std::string> variables = environment.template_variables;
  variables.insert(default_template_variables().begin(), default_template_variables().end());
  as_read = with_field_paths(filter, variables);
  const json& condition = as_read;
  std::vector<ConditionProblem> problems;
  auto compiled = Condition::compile(condition, problems);
  for (const auto& p : problems) issues.push_back({pointer + p.pointer, where + p.message});
  std::vector<std::pair<std::string, std::string>> unknown;
  if (problems.empty()) unknown_condition_fields(condition, pointer, unknown, kSegmentRoots);
  for (const auto& [at, message] : unknown) issues.push_back({at, where + message});
  if (!problems.empty() || !unknown.empty()) return nullptr;
  return compiled;
}

}  // namespace sb
