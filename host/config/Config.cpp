#include "config/Config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "config/JsonSchema.h"
#include "config/SourcePositions.h"
#include "config_schema.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ConfigIssue::to_string() const {
  std::string out = file;
  if (!path.empty()) out += ": " + path;
  out += ": " + message;
  if (line) out += " (line " + std::to_string(line) + ", column " + std::to_string(column) + ")";
  return out;
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

// Finds a key repeated in one object: JSON parsers keep one of the two
// silently (nlohmann the last), so a second "sms" instance or a second
// "rules" array would replace the first without a word.
class RepeatedKeys final : public nlohmann::json_sax<json> {
 public:
  std::string found_in, found_key;  // the object's pointer and its repeated key, once found

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& name) override {
    Frame& f = frames_.back();
    if (!f.keys.insert(name).second) {
      found_in = f.pointer;
      found_key = name;
      return false;  // found: no need to read on
    }
    f.member = name;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool object = false;
    std::string pointer;
    std::set<std::string> keys;
    std::string member;  // the member being read (an object's)
    size_t index = 0;    // the next item's index (an array's)
  };
  // The pointer of the value about to be read, and the parent told it was read.
  std::string next_pointer() {
    if (frames_.empty()) return "";
    Frame& f = frames_.back();
    return f.pointer + "/" + (f.object ? escape_pointer_token(f.member) : std::to_string(f.index));
  }
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }
  bool open(bool object) {
    std::string at = next_pointer();
    value();
    frames_.push_back(Frame{object, std::move(at), {}, {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  std::vector<Frame> frames_;
};

// Parses a file's text into `doc`; why not, with the line and column, when it is not JSON.
std::optional<std::string> parse_json_file(const std::string& text, json& doc) {
  try {
    doc = json::parse(text);
    RepeatedKeys repeated;
    if (!json::sax_parse(text, &repeated) && !repeated.found_key.empty()) {
      const auto at = position_of(text, repeated.found_in);
      return "invalid JSON" +
             (at ? " at line " + std::to_string(at->line) + ", column " + std::to_string(at->column) : std::string()) +
             ": the key '" + repeated.found_key + "' appears twice in the object at '" +
             (repeated.found_in.empty() ? "/" : repeated.found_in) + "' (the second would replace the first)";
    }
    return std::nullopt;
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." -> keep the reason.
    size_t colon = what.find(": ", what.find("parse error"));
    std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
    return "invalid JSON at " + line_and_column(text, e.byte == 0 ? 0 : e.byte - 1) + ": " + reason;
  }
}

const JsonSchema& host_schema() {
  static const JsonSchema schema(json::parse(config_schema::config_config_schema_json));
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

namespace {
const std::vector<ConfigIssue>& located(std::vector<ConfigIssue>& issues) {
  locate(issues);
  return issues;
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(located(issues))), issues_(std::move(issues)) {}

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

namespace {
// The rule a JSON Pointer is in ("/rules/3/steps/0" -> 3), if it is in one.
std::optional<size_t> rule_index(const std::string& pointer) {
  constexpr std::string_view kRules = "/rules/";
  if (pointer.compare(0, kRules.size(), kRules) != 0) return std::nullopt;
  size_t index = 0;
  const char* begin = pointer.data() + kRules.size();
  const char* end = pointer.data() + pointer.size();
  auto [at, ec] = std::from_chars(begin, end, index);
  if (ec != std::errc() || at == begin || (at != end && *at != '/')) return std::nullopt;
  return index;
}

// `value` (at `at` in the file) without the members the schema refused (at
// `refused`), so that one run of `validate` names the problems of the rest
// too (a refused rule's steps, the rules beside a misspelt setting). None
// when one is the value itself or an item of a list. The caller checks that
// what is left is of the schema's shape: the readers after it read no other.
std::optional<json> without_refused(const json& value, const std::string& at, const std::vector<std::string>& refused) {
  json kept = value;
  try {
    for (const std::string& pointer : refused) {
      if (pointer.size() <= at.size()) return std::nullopt;
      const json::json_pointer member(pointer.substr(at.size()));
      if (!kept.contains(member)) continue;  // gone with a member around it
      json& parent = kept[member.parent_pointer()];
      if (!parent.is_object()) return std::nullopt;
      parent.erase(member.back());
    }
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return kept;
}
}  // namespace

Config load_config(const fs::path& file, std::vector<ConfigIssue>* problems) {
  // Named as every later problem names it (Config::file): one way in one run.
  const std::string name = fs::absolute(file).string();
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw ConfigError({{name, "", "is a folder: --config names the config file (such as config/switchboard.json)"}});
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError({{name, "", "cannot read the file: " + std::string(std::strerror(errno))}});
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  json doc;
  if (auto why = parse_json_file(text, doc)) throw ConfigError({{name, "", *why}});

  std::vector<ConfigIssue> issues;
  // A rule the schema refuses is left out of the run and the rest read on,
  // so that one run names the problems of the other rules too (and of its
  // own steps: ConfigCheck). A problem elsewhere is left out too when it is
  // a setting and what is left is of the schema's shape (a misspelt
  // "log_level"); a definition rules name (an instance, a secret, a
  // template, a pipeline, a segment) stops the reading there: without it,
  // every rule naming it would be wrong too.
  std::map<size_t, std::vector<std::string>> refused_rules;  // index -> where the schema refused it
  std::vector<std::string> refused_elsewhere;
  bool refused_definition = false;
  const auto refused = [&](const SchemaViolation& v) {
    if (const auto rule = rule_index(v.path)) {
      refused_rules[*rule].push_back(v.path);
    } else {
      refused_elsewhere.push_back(v.path);
      for (const char* named : {"/instances/", "/secrets/", "/templates/", "/pipelines/", "/segments/"})
        refused_definition = refused_definition || v.path.rfind(named, 0) == 0;
    }
    issues.push_back({name, v.path, v.message});
  };
  for (auto& v : host_schema().validate(doc)) refused(v);
  if (!refused_elsewhere.empty()) {
    auto rest = refused_definition ? std::nullopt : without_refused(doc, "", refused_elsewhere);
    if (!rest) throw ConfigError(std::move(issues));
    // Read again without them: what the first reading stopped at (an overlong value stops it) is found now.
    std::set<std::string> seen;
    for (const auto& issue : issues) seen.insert(issue.path);
    refused_elsewhere.clear();
    for (auto& v : host_schema().validate(*rest))
      if (!seen.count(v.path)) refused(v);
    if (!refused_elsewhere.empty()) throw ConfigError(std::move(issues));
    doc = std::move(*rest);
  }

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
  c.ingest_nice = doc.value("ingest_nice", c.ingest_nice);

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
  if (doc.contains("tracking")) {
    const json& t = doc["tracking"];
    c.tracking.base_url = t.value("base_url", "");
    if (t.contains("key")) {
      c.tracking.key_secret = t["key"]["$secret"].get<std::string>();
      if (!c.secrets.count(c.tracking.key_secret))
        issues.push_back({name, "/tracking/key/$secret",
                          "unknown secret '" + c.tracking.key_secret + "': declare it under \"secrets\""});
    }
  }
  token_secrets("admin_tokens", c.admin_token_secrets);
  if (doc.contains("store") && doc["store"].contains("postgres")) {
    c.postgres_secret = doc["store"]["postgres"]["$secret"].get<std::string>();
    if (!c.secrets.count(c.postgres_secret))
      issues.push_back({name, "/store/postgres/$secret",
                        "unknown secret '" + c.postgres_secret + "': declare it under \"secrets\""});
  }

  const json instances = doc.value("instances", json::object());
  for (const auto& [instance, body] : instances.items()) {
    const std::string pointer = "/instances/" + escape_pointer_token(instance);
    InstanceConfig ic{instance, body["plugin"], body.value("config", json::object()), std::nullopt, std::nullopt};
    if (body.contains("max_in_flight")) ic.max_in_flight = body["max_in_flight"].get<int>();
    if (body.contains("grants")) ic.grants = body["grants"].get<std::vector<std::string>>();
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
    if (doc["executions"].contains("blocked_call_after")) {
      const auto ms = parse_duration_ms(doc["executions"]["blocked_call_after"].get<std::string>());
      if (!ms || *ms <= 0)
        issues.push_back({name, "/executions/blocked_call_after", "expected a duration such as \"10s\""});
      else
        c.blocked_call_after_ms = *ms;
    }
    if (doc["executions"].contains("stop_grace")) {
      const auto ms = parse_duration_ms(doc["executions"]["stop_grace"].get<std::string>());
      if (!ms || *ms < 0)
        issues.push_back({name, "/executions/stop_grace", "expected a duration such as \"30s\" (\"0s\": no wait)"});
      else
        c.stop_grace_ms = *ms;
    }
  }
  if (doc.contains("cluster")) {
    const json& cluster = doc["cluster"];
    auto duration = [&](const char* key, int64_t& out) {
      if (!cluster.contains(key)) return;
      const auto ms = parse_duration_ms(cluster[key].get<std::string>());
      if (!ms || *ms < 100)
        issues.push_back(
            {name, std::string("/cluster/") + key, "expected a duration of at least 100ms, such as \"1s\""});
      else
        out = *ms;
    };
    duration("heartbeat", c.heartbeat_ms);
    duration("node_timeout", c.node_timeout_ms);
    if (c.node_timeout_ms < 3 * c.heartbeat_ms)
      issues.push_back({name, "/cluster/node_timeout",
                        "expected at least 3 heartbeats (" + std::to_string(3 * c.heartbeat_ms) +
                            " ms): a node late with one heartbeat is not dead"});
  }
  if (doc.contains("retention")) {
    // Events are an occurrence's record (a birthday's, a reminder's, which
    // may come again up to a day late): kept at least two days.
    struct Kept {
      const char* key;
      int64_t* out;
      int64_t least_ms;
      const char* least;
    };
    for (const Kept& k : {Kept{"events", &c.events_retention_ms, 2 * 86400000LL, "2d"},
                          Kept{"executions", &c.executions_retention_ms, 3600000, "1h"}}) {
      if (!doc["retention"].contains(k.key)) continue;
      const std::string text = doc["retention"][k.key].get<std::string>();
      const auto ms = text == "forever" ? std::optional<int64_t>(0) : parse_duration_ms(text);
      if (!ms || (text != "forever" && *ms < k.least_ms))
        issues.push_back({name, std::string("/retention/") + k.key,
                          std::string("expected a duration of at least ") + k.least +
                              " (\"30d\") or \"forever\", got '" + text + "'"});
      else
        *k.out = *ms;
    }
  }
  if (doc.contains("time_triggers") && doc["time_triggers"].contains("check_every")) {
    const auto every = parse_duration_ms(doc["time_triggers"]["check_every"].get<std::string>());
    if (!every || *every < 10)
      issues.push_back({name, "/time_triggers/check_every", "expected a duration such as \"1m\" or \"30s\""});
    else
      c.time_check_every_ms = *every;
  }

  const json segments = doc.value("segments", json::object());
  for (const auto& [segment, body] : segments.items())
    c.segments[segment] =
        SegmentConfig{body.value("description", ""), body.value("filter", json()), body.value("refresh", "")};
  if (const auto channels = doc.find("ad_channels"); channels != doc.end() && channels->is_object()) {
    c.ad_channels.entity = channels->value("entity", "");
    c.ad_channels.field = channels->value("field", c.ad_channels.field);
    c.ad_channels.amount = channels->value("amount", c.ad_channels.amount);
    c.ad_channels.sale_statuses = channels->value("sale_statuses", std::vector<std::string>{});
    c.ad_channels.costs = channels->value("costs", std::map<std::string, double>{});
  }
  const json aggregates = doc.value("aggregates", json::object());
  for (const auto& [aggregate, body] : aggregates.items())
    c.aggregates.push_back({aggregate, body.value("event", ""), body.value("value", "")});
  const json pipelines = doc.value("pipelines", json::object());  // a local: items() would dangle on a temporary
  for (const auto& [pipeline, statuses] : pipelines.items())
    c.pipelines[pipeline] = statuses.get<std::vector<std::string>>();

  const json caps = doc.value("frequency_caps", json::array());
  for (size_t i = 0; i < caps.size(); ++i) {
    const std::string period = caps[i]["period"].get<std::string>();
    const auto period_ms = parse_duration_ms(period);
    if (!period_ms || *period_ms <= 0)
      issues.push_back({name, "/frequency_caps/" + std::to_string(i) + "/period",
                        "expected a duration such as \"1d\" or \"12h\", got '" + period + "'"});
    c.frequency_caps.push_back({caps[i]["channel"], caps[i].value("category", ""), caps[i]["limit"].get<int>(),
                                period_ms.value_or(0), period});
  }

  // Message templates: inline, then one file each from templates_dir.
  auto add_template = [&](const std::string& template_name, json body, const std::string& file,
                          const std::string& pointer, const fs::path& folder) {
    static const std::set<std::string> kChannels = {"email", "sms", "whatsapp", "push", "voice", "task"};
    if (!body.is_object() || !body.contains("channel") || !body["channel"].is_string() ||
        !kChannels.count(body["channel"].get<std::string>()))
      return issues.push_back({file, pointer + "/channel",
                               "a template needs \"channel\": email, sms, whatsapp, push, voice (a call's words) or "
                               "task"});
    for (const auto& [key, param] : {std::pair{"html_file", "html"}, std::pair{"text_file", "text"}}) {
      if (!body.contains(key)) continue;
      if (!body[key].is_string()) {
        issues.push_back({file, pointer + "/" + key, "expected a file name (a string)"});
        continue;
      }
      const fs::path path = fs::path(body[key].get<std::string>()).is_absolute()
                                ? fs::path(body[key].get<std::string>())
                                : folder / body[key].get<std::string>();
      std::ifstream part(path, std::ios::binary);
      if (!part) {
        issues.push_back({file, pointer + "/" + key, "cannot read '" + path.string() + "'"});
        continue;
      }
      body[param] = std::string((std::istreambuf_iterator<char>(part)), std::istreambuf_iterator<char>());
      body.erase(key);
    }
    if (!c.message_templates.emplace(template_name, std::move(body)).second)
      issues.push_back({file, pointer, "template '" + template_name + "' is defined twice"});
  };
  const json templates = doc.value("templates", json::object());
  for (const auto& [template_name, body] : templates.items())
    add_template(template_name, body, name, "/templates/" + escape_pointer_token(template_name), base);
  if (doc.contains("templates_dir")) {
    const fs::path folder = resolve(doc["templates_dir"].get<std::string>());
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, ec))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    if (ec)
      issues.push_back({name, "/templates_dir", "cannot read the folder '" + folder.string() + "': " + ec.message()});
    std::sort(files.begin(), files.end());
    for (const fs::path& path : files) {
      std::ifstream file_in(path, std::ios::binary);
      std::stringstream template_text;
      template_text << file_in.rdbuf();
      json body;
      if (auto why = parse_json_file(template_text.str(), body)) {
        issues.push_back({path.string(), "", *why});
        continue;
      }
      add_template(path.stem().string(), body, path.string(), "", folder);
    }
  }

  // Rules are compiled (and their problems reported) by rules/RuleCompiler.h.
  std::set<std::string> rule_names;
  const json rules = doc.value("rules", json::array());
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    const std::string pointer = "/rules/" + std::to_string(i);
    if (const auto refused = refused_rules.find(i); refused != refused_rules.end()) {
      if (r.is_object() && r.contains("name") && r["name"].is_string()) {
        c.refused_rule_names.insert(r["name"].get<std::string>());
        rule_names.insert(r["name"].get<std::string>());
      }
      auto rest = without_refused(r, pointer, refused->second);
      if (rest && host_schema().validate(json{{"rules", json::array({*rest})}}).empty())
        c.refused_rules.push_back({pointer, std::move(*rest)});
      continue;
    }
    if (!rule_names.insert(r["name"].get<std::string>()).second)
      issues.push_back(
          {name, pointer + "/name", "rule name '" + r["name"].get<std::string>() + "' is used by an earlier rule"});
    (r.value("enabled", true) ? c.rules : c.disabled_rules).push_back({pointer, r});
  }
  if (problems) {
    problems->insert(problems->end(), issues.begin(), issues.end());
  } else if (!issues.empty()) {
    throw ConfigError(std::move(issues));
  }
  return c;
}

std::set<std::string> secret_names(const json& value) {
  std::vector<std::pair<std::string, json>> refs;
  collect_secret_refs(value, "", refs);
  std::set<std::string> names;
  for (const auto& [pointer, name] : refs)
    if (name.is_string()) names.insert(name.get<std::string>());
  return names;
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
