#include "config/Config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "config/JsonSchema.h"
#include "host_schemas.h"
#include "rules/Condition.h"
#include "rules/Trigger.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ConfigIssue::to_string() const {
  std::string out = file;
  if (!path.empty()) out += ": " + path;
  return out + ": " + message;
}

namespace {
std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string out;
  for (const auto& i : issues) out += (out.empty() ? "" : "\n") + i.to_string();
  return out;
}

// nlohmann reports a byte offset; admins want a line and a column.
std::string line_and_column(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

const JsonSchema& host_schema() {
  static const JsonSchema schema(json::parse(host_schemas::config_config_schema_json));
  return schema;
}

LogLevel parse_level(const std::string& s) {
  if (s == "debug") return LogLevel::debug;
  if (s == "warn") return LogLevel::warn;
  if (s == "error") return LogLevel::error;
  return LogLevel::info;
}

// Finds {"$secret": ...} references so that undeclared names are reported by
// `validate` rather than at start-up.
void collect_secret_refs(const json& v, const std::string& pointer, std::vector<std::pair<std::string, json>>& out) {
  if (v.is_object()) {
    if (v.size() == 1 && v.contains("$secret")) {
      out.emplace_back(pointer, v["$secret"]);
      return;
    }
    for (const auto& [k, child] : v.items()) collect_secret_refs(child, pointer + "/" + escape_pointer_token(k), out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) collect_secret_refs(v[i], pointer + "/" + std::to_string(i), out);
  }
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

std::pair<std::string, uint16_t> parse_listen_address(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw std::invalid_argument("expected HOST:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = text.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5)
    throw std::invalid_argument("port must be a number from 0 to 65535, got '" + port_text + "'");
  unsigned long port = std::stoul(port_text);
  if (port > 65535) throw std::invalid_argument("port must be a number from 0 to 65535, got '" + port_text + "'");
  return {host, static_cast<uint16_t>(port)};
}

Config load_config(const fs::path& file, std::vector<ConfigIssue>* problems) {
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError({{name, "", "cannot read the file: " + std::string(std::strerror(errno))}});
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." -> keep the reason.
    size_t colon = what.find(": ", what.find("parse error"));
    std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
    throw ConfigError(
        {{name, "", "invalid JSON at " + line_and_column(text, e.byte == 0 ? 0 : e.byte - 1) + ": " + reason}});
  }

  std::vector<ConfigIssue> issues;
  for (auto& v : host_schema().validate(doc)) issues.push_back({name, v.path, v.message});
  if (!issues.empty()) throw ConfigError(std::move(issues));

  Config c;
  c.file = fs::absolute(file);
  const fs::path base = c.file.parent_path();
  auto resolve = [&](const std::string& p) {
    return fs::path(p).is_absolute() ? fs::path(p) : (base / p).lexically_normal();
  };

  if (doc.contains("listen")) {
    try {
      std::tie(c.listen_host, c.listen_port) = parse_listen_address(doc["listen"]);
    } catch (const std::invalid_argument& e) {
      issues.push_back({name, "/listen", e.what()});
    }
  }
  c.data_dir = resolve(doc.value("data_dir", "var"));
  c.sqlite_path = c.data_dir / "switchboard.db";
  if (doc.contains("store") && doc["store"].contains("sqlite") && doc["store"]["sqlite"].contains("path")) {
    fs::path p = doc["store"]["sqlite"]["path"].get<std::string>();
    c.sqlite_path = p.is_absolute() ? p : (c.data_dir / p).lexically_normal();
  }
  for (const auto& d : doc.value("plugin_dirs", json::array())) c.plugin_dirs.push_back(resolve(d));
  c.log_level = parse_level(doc.value("log_level", "info"));
  c.io_threads = doc.value("io_threads", 0);

  if (doc.contains("http_server")) {
    const json& h = doc["http_server"];
    c.http_server.max_body_bytes = h.value("max_body_bytes", c.http_server.max_body_bytes);
    c.http_server.max_connections = h.value("max_connections", c.http_server.max_connections);
    c.http_server.keep_alive_timeout_s = h.value("keep_alive_timeout_s", c.http_server.keep_alive_timeout_s);
    c.http_server.request_timeout_s = h.value("request_timeout_s", c.http_server.request_timeout_s);
    c.http_server.response_timeout_ms = h.value("response_timeout_ms", c.http_server.response_timeout_ms);
  }
  if (doc.contains("http_client")) {
    const json& h = doc["http_client"];
    c.http_client.timeout_ms = h.value("timeout_ms", c.http_client.timeout_ms);
    c.http_client.max_connections = h.value("max_connections", c.http_client.max_connections);
    if (h.contains("ca_file")) c.http_client.ca_file = resolve(h["ca_file"]).string();
  }

  const json secrets = doc.value("secrets", json::object());
  for (const auto& [secret, source] : secrets.items())
    c.secrets[secret] =
        SecretSource{source.value("env", ""), source.contains("file") ? resolve(source["file"]).string() : ""};

  // API tokens are secret references only: a token never sits in the file.
  auto token_secrets = [&](const char* key, std::vector<std::string>& out) {
    const json tokens = doc.contains("api") ? doc["api"].value(key, json::array()) : json::array();
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string ref = tokens[i]["$secret"].get<std::string>();
      if (!c.secrets.count(ref))
        issues.push_back({name, "/api/" + std::string(key) + "/" + std::to_string(i) + "/$secret",
                          "unknown secret '" + ref + "': declare it under \"secrets\""});
      out.push_back(ref);
    }
  };
  token_secrets("event_tokens", c.event_token_secrets);
  token_secrets("admin_tokens", c.admin_token_secrets);

  std::set<std::string> instance_names;
  const json instances = doc.value("instances", json::object());
  for (const auto& [instance, body] : instances.items()) {
    const std::string pointer = "/instances/" + escape_pointer_token(instance);
    InstanceConfig ic{instance, body["plugin"], body.value("config", json::object()), std::nullopt};
    if (body.contains("max_in_flight")) ic.max_in_flight = body["max_in_flight"].get<int>();
    std::vector<std::pair<std::string, json>> refs;
    collect_secret_refs(ic.config, pointer + "/config", refs);
    for (const auto& [at, ref] : refs) {
      if (!ref.is_string())
        issues.push_back({name, at, "\"$secret\" must name a secret (a string), got " + std::string(ref.type_name())});
      else if (!c.secrets.count(ref.get<std::string>()))
        issues.push_back({name, at, "unknown secret '" + ref.get<std::string>() + "': declare it under \"secrets\""});
    }
    if (instance == kHostInstance)
      issues.push_back({name, pointer,
                        std::string("the instance name '") + kHostInstance +
                            "' is the host's own (switchboard.set_status, switchboard.emit): choose another"});
    instance_names.insert(instance);
    c.instances.push_back(std::move(ic));
  }

  c.account = doc.value("account", json::object());
  const json variables = doc.value("template_variables", json::object());
  for (const auto& [short_name, path] : variables.items()) c.template_variables[short_name] = path;
  if (c.account.contains("timezone") && !is_time_zone(c.account["timezone"].get<std::string>()))
    issues.push_back({name, "/account/timezone",
                      "unknown time zone '" + c.account["timezone"].get<std::string>() +
                          "': expected an IANA name such as \"Europe/Moscow\""});
  if (doc.contains("executions")) {
    c.max_chain_depth = doc["executions"].value("max_chain_depth", c.max_chain_depth);
    c.max_in_flight = doc["executions"].value("max_in_flight", c.max_in_flight);
  }

  const json pipelines = doc.value("pipelines", json::object());  // a local: items() would dangle on a temporary
  for (const auto& [pipeline, statuses] : pipelines.items())
    c.pipelines[pipeline] = statuses.get<std::vector<std::string>>();

  std::set<std::string> rule_names;
  const json rules = doc.value("rules", json::array());
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    if (!r.value("enabled", true)) continue;
    RuleConfig rc;
    rc.pointer = "/rules/" + std::to_string(i);
    rc.name = r["name"];
    rc.trigger = r["trigger"];
    rc.source = r["trigger"].value("source", "");
    std::vector<ConditionProblem> trigger_problems;
    Trigger::compile(rc.trigger, c.pipelines, trigger_problems);
    for (const auto& p : trigger_problems)
      issues.push_back({name, rc.pointer + "/trigger" + p.pointer, "rule '" + rc.name + "': " + p.message});
    rc.filter = r.value("filter", json::object());
    const std::string priority = r.value("priority", "normal");
    rc.priority = priority == "high" ? 2 : priority == "low" ? 0 : 1;
    if (!rule_names.insert(rc.name).second)
      issues.push_back({name, rc.pointer + "/name", "rule name '" + rc.name + "' is used by an earlier rule"});
    if (!rc.source.empty() && rc.source != "api" && !instance_names.count(rc.source))
      issues.push_back(
          {name, rc.pointer + "/trigger/source", "rule '" + rc.name + "': unknown instance '" + rc.source + "'"});
    std::vector<ConditionProblem> filter_problems;
    Condition::compile(rc.filter, filter_problems);
    for (const auto& p : filter_problems)
      issues.push_back({name, rc.pointer + "/filter" + p.pointer, "rule '" + rc.name + "': " + p.message});
    auto jump = [](std::string name, std::string pointer) {
      StepConfig j;
      j.kind = StepConfig::Kind::kJump;
      j.name = std::move(name);
      j.pointer = std::move(pointer);
      return j;
    };
    // Flattens nested steps (see StepConfig) into rc.steps.
    // `first` numbers the steps in pointers (a fallback adds its channels one by one).
    std::function<void(const json&, const std::string&, size_t)> add_steps = [&](const json& steps,
                                                                                 const std::string& at, size_t first) {
      for (size_t s = 0; s < steps.size(); ++s) {
        const json& step = steps[s];
        const std::string pointer = at + "/" + std::to_string(first + s);
        const int kinds = step.contains("action") + step.contains("wait") + step.contains("wait_until") +
                          step.contains("send_window") + step.contains("parallel") + step.contains("wait_for") +
                          step.contains("if") + step.contains("switch") + step.contains("split") +
                          step.contains("fallback");
        if (kinds != 1) {
          issues.push_back(
              {name, pointer,
               "rule '" + rc.name +
                   "': a step is one of action, wait, wait_until, send_window, wait_for, if, switch, split, "
                   "fallback, parallel"});
          continue;
        }
        StepConfig sc;
        sc.pointer = pointer;
        if (step.contains("fallback")) {
          const json& channels = step["fallback"];
          std::vector<size_t> chain;
          for (size_t i = 0; i < channels.size(); ++i) {
            if (!channels[i].contains("action")) {
              issues.push_back({name, pointer + "/fallback/" + std::to_string(i),
                                "rule '" + rc.name + "': each step of a fallback chain is an action"});
              continue;
            }
            chain.push_back(rc.steps.size());
            add_steps(json::array({channels[i]}), pointer + "/fallback", i);
          }
          for (size_t i = 0; i < chain.size(); ++i) {
            rc.steps[chain[i]].fallback_next = i + 1 < chain.size() ? static_cast<int>(chain[i + 1]) : -1;
            rc.steps[chain[i]].fallback_end = static_cast<int>(rc.steps.size());
          }
          continue;
        }
        // `then` follows the step; `else` (where the step's else_step leads)
        // comes after a jump past it.
        auto add_then_else = [&](size_t me) {
          if (step.contains("then")) add_steps(step["then"], pointer + "/then", 0);
          if (step.contains("else")) {
            const size_t end_of_then = rc.steps.size();
            rc.steps.push_back(jump("end of then", pointer));
            rc.steps[me].else_step = static_cast<int>(rc.steps.size());
            add_steps(step["else"], pointer + "/else", 0);
            rc.steps[end_of_then].jump_to = static_cast<int>(rc.steps.size());
          } else {
            rc.steps[me].else_step = static_cast<int>(rc.steps.size());
          }
        };
        if (step.contains("if")) {
          sc.kind = StepConfig::Kind::kIf;
          sc.name = step.value("name", "if");
          sc.condition = step["if"];
          std::vector<ConditionProblem> problems;
          Condition::compile(sc.condition, problems);
          for (const auto& p : problems)
            issues.push_back({name, pointer + "/if" + p.pointer, "rule '" + rc.name + "': " + p.message});
          if (!step.contains("then"))
            issues.push_back({name, pointer, "rule '" + rc.name + "': \"if\" needs \"then\" steps"});
          rc.steps.push_back(std::move(sc));
          add_then_else(rc.steps.size() - 1);
          continue;
        }
        if (step.contains("wait_for")) {
          sc.kind = StepConfig::Kind::kWaitEvent;
          sc.wait_event = step["wait_for"];
          sc.name = step.value("name", "wait for " + sc.wait_event);
          sc.wait_match = step.value("match", json::object());
          if (sc.wait_match.empty())
            issues.push_back({name, pointer,
                              "rule '" + rc.name +
                                  "': \"wait_for\" needs \"match\": the awaited event's fields and the values they "
                                  "must have, e.g. {\"data.message_id\": \"{{steps.Offer.external_id}}\"}"});
          sc.wait_ms = parse_duration_ms(step.value("timeout", ""));
          if (!sc.wait_ms || *sc.wait_ms <= 0)
            issues.push_back({name, pointer + "/timeout",
                              "rule '" + rc.name +
                                  "': \"wait_for\" needs a positive \"timeout\" such as \"2d\" (how long to "
                                  "wait before the \"else\" steps)"});
          rc.steps.push_back(std::move(sc));
          add_then_else(rc.steps.size() - 1);
          continue;
        }
        if (step.contains("parallel")) {
          const size_t me = rc.steps.size();
          sc.kind = StepConfig::Kind::kParallel;
          sc.name = step.value("name", "parallel");
          rc.steps.push_back(std::move(sc));
          std::vector<size_t> ends;
          const json& branches = step["parallel"];
          for (size_t b = 0; b < branches.size(); ++b) {
            rc.steps[me].branches.emplace_back(std::to_string(b), static_cast<int>(rc.steps.size()));
            add_steps(branches[b], pointer + "/parallel/" + std::to_string(b), 0);
            ends.push_back(rc.steps.size());
            rc.steps.push_back(jump("end of branch " + std::to_string(b), pointer));
          }
          for (size_t j : ends) rc.steps[j].jump_to = static_cast<int>(rc.steps.size());
          rc.steps[me].jump_to = static_cast<int>(rc.steps.size());
          continue;
        }
        if (step.contains("switch") || step.contains("split")) {
          const bool split = step.contains("split");
          const size_t me = rc.steps.size();
          sc.kind = split ? StepConfig::Kind::kSplit : StepConfig::Kind::kSwitch;
          sc.name = step.value("name", split ? "split" : "switch");
          if (!split) sc.switch_path = step["switch"];
          rc.steps.push_back(std::move(sc));
          if (!split && !step.contains("cases")) {
            issues.push_back({name, pointer, "rule '" + rc.name + "': \"switch\" needs \"cases\""});
            continue;
          }
          std::vector<size_t> jumps;
          const json& branches = split ? step["split"] : step["cases"];
          for (const auto& [key, value] : branches.items()) {
            rc.steps[me].branches.emplace_back(key, static_cast<int>(rc.steps.size()));
            if (split) rc.steps[me].weights.push_back(value["weight"].get<int>());
            const std::string branch_pointer =
                pointer + (split ? "/split/" : "/cases/") + escape_pointer_token(key) + (split ? "/steps" : "");
            add_steps(split ? value["steps"] : value, branch_pointer, 0);
            jumps.push_back(rc.steps.size());
            rc.steps.push_back(jump("end of " + key, branch_pointer));
          }
          rc.steps[me].default_step = static_cast<int>(rc.steps.size());
          if (!split && step.contains("default")) add_steps(step["default"], pointer + "/default", 0);
          for (size_t j : jumps) rc.steps[j].jump_to = static_cast<int>(rc.steps.size());
          continue;
        }
        if (step.contains("send_window")) {
          const json& w = step["send_window"];
          sc.kind = StepConfig::Kind::kWait;
          sc.name =
              step.value("name", "send window " + w["from"].get<std::string>() + "-" + w["to"].get<std::string>());
          SendWindow window;
          for (const char* end : {"from", "to"}) {
            const auto minute = SendWindow::parse_clock(w[end].get<std::string>());
            if (!minute)
              issues.push_back({name, pointer + "/send_window/" + end,
                                "rule '" + rc.name + "': expected a time of day from 00:00 to 24:00"});
            else
              (std::string(end) == "from" ? window.from_minute : window.to_minute) = *minute;
          }
          if (w.contains("days")) {
            window.days = 0;
            for (const auto& day : w["days"]) window.days |= SendWindow::parse_day(day.get<std::string>()).value_or(0);
          }
          sc.window_zone = w.value("timezone", "");
          if (!sc.window_zone.empty() && !is_time_zone(sc.window_zone))
            issues.push_back({name, pointer + "/send_window/timezone",
                              "rule '" + rc.name + "': unknown time zone '" + sc.window_zone +
                                  "': expected an IANA name such as \"Europe/Moscow\""});
          sc.window = window;
          rc.steps.push_back(std::move(sc));
          continue;
        }
        if (step.contains("wait_until")) {
          sc.kind = StepConfig::Kind::kWait;
          sc.wait_until = step["wait_until"];
          sc.name = step.value("name", "wait until " + sc.wait_until);
          if (step.contains("offset")) {
            auto offset = parse_duration_ms(step["offset"].get<std::string>());
            if (!offset)
              issues.push_back(
                  {name, pointer + "/offset", "rule '" + rc.name + "': expected a duration such as \"-1d\" or \"2h\""});
            else
              sc.wait_offset_ms = *offset;
          }
          rc.steps.push_back(std::move(sc));
          continue;
        }
        if (step.contains("wait")) {
          const std::string text = step["wait"];
          sc.kind = StepConfig::Kind::kWait;
          sc.name = step.value("name", "wait " + text);
          sc.wait_ms = parse_duration_ms(text);
          if (!sc.wait_ms || *sc.wait_ms <= 0)
            issues.push_back(
                {name, pointer + "/wait",
                 "rule '" + rc.name + "': expected a positive duration such as \"30m\", \"2h\", \"1d12h\""});
          rc.steps.push_back(std::move(sc));
          continue;
        }
        if (step.contains("retry")) {
          const json& retry = step["retry"];
          sc.max_attempts = retry.value("max_attempts", sc.max_attempts);
          if (retry.contains("backoff")) {
            auto backoff = parse_duration_ms(retry["backoff"].get<std::string>());
            if (!backoff || *backoff <= 0)
              issues.push_back({name, pointer + "/retry/backoff",
                                "rule '" + rc.name + "': expected a positive duration such as \"10s\""});
            else
              sc.backoff_ms = *backoff;
          }
        }
        const std::string ref = step["action"];
        const size_t dot = ref.find('.');
        sc.instance = ref.substr(0, dot);
        sc.action = ref.substr(dot + 1);
        sc.name = step.value("name", ref);
        sc.params = step.value("params", json::object());
        if (step.contains("timeout_ms")) sc.timeout_ms = step["timeout_ms"].get<uint32_t>();
        if (!instance_names.count(sc.instance) && sc.instance != kHostInstance)
          issues.push_back({name, pointer + "/action",
                            "rule '" + rc.name + "': unknown instance '" + sc.instance + "' in '" + ref +
                                "' (expected INSTANCE.ACTION with an instance declared under \"instances\")"});
        rc.steps.push_back(std::move(sc));
      }
    };
    add_steps(r["steps"], rc.pointer + "/steps", 0);
    c.rules.push_back(std::move(rc));
  }
  if (problems) {
    problems->insert(problems->end(), issues.begin(), issues.end());
  } else if (!issues.empty()) {
    throw ConfigError(std::move(issues));
  }
  return c;
}

std::map<std::string, std::string> read_secrets(const Config& config) {
  std::map<std::string, std::string> out;
  std::vector<ConfigIssue> issues;
  const std::string file = config.file.string();
  for (const auto& [name, source] : config.secrets) {
    const std::string pointer = "/secrets/" + escape_pointer_token(name);
    if (!source.env.empty()) {
      const char* value = std::getenv(source.env.c_str());
      if (!value) {
        issues.push_back({file, pointer, "environment variable " + source.env + " is not set"});
        continue;
      }
      out[name] = value;
    } else {
      std::ifstream in(source.file, std::ios::binary);
      if (!in) {
        issues.push_back({file, pointer, "cannot read secret file " + source.file});
        continue;
      }
      std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
      out[name] = std::move(value);
    }
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));
  return out;
}

json resolve_secrets(const json& value, const std::map<std::string, std::string>& secrets, const std::string& file,
                     const std::string& pointer) {
  if (value.is_object()) {
    if (value.size() == 1 && value.contains("$secret")) {
      auto it = value["$secret"].is_string() ? secrets.find(value["$secret"].get<std::string>()) : secrets.end();
      if (it == secrets.end()) throw ConfigError({{file, pointer, "unknown secret " + dump_text(value["$secret"])}});
      return it->second;
    }
    json out = json::object();
    for (const auto& [k, child] : value.items())
      out[k] = resolve_secrets(child, secrets, file, pointer + "/" + escape_pointer_token(k));
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (size_t i = 0; i < value.size(); ++i)
      out.push_back(resolve_secrets(value[i], secrets, file, pointer + "/" + std::to_string(i)));
    return out;
  }
  return value;
}

}  // namespace sb
