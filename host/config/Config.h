// The host configuration: what the admin writes in config/switchboard.json.
//
// load_config() reads one file, checks it against the host's schema
// (config.schema.json) and its own cross-field rules, and either returns a
// Config or throws ConfigError listing every problem it found, each with the
// file, the JSON Pointer of the value at fault and what was expected.
// Checks that need the plugins (instance configs, action names, parameters)
// are done later by check_against_plugins().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "log/Logger.h"
#include "util/Zones.h"

namespace sb {

struct ConfigIssue {
  std::string file;
  std::string path;  // JSON Pointer, "" for the whole document
  std::string message;
  size_t line = 0, column = 0;  // where `path` is in `file` (locate()), 0 when not known
  // "FILE: POINTER: MESSAGE (line L, column C)"
  std::string to_string() const;
};

class ConfigError : public std::runtime_error {
 public:
  // Each issue is given its line and column in its file (locate()).
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

struct SecretSource {
  std::string env;   // read from this environment variable, or
  std::string file;  // from this file (trailing newline dropped)
};

// The host's own actions (switchboard.set_status, switchboard.emit; see
// executor/HostActions.h) are addressed as this instance, which no
// configured instance may be named.
inline constexpr char kHostInstance[] = "switchboard";

struct InstanceConfig {
  std::string name;
  std::string plugin;                // a plugin name, or a path to a .so when it has a '/'
  nlohmann::json config;             // as written: {"$secret": "name"} not yet resolved
  std::optional<int> max_in_flight;  // calls in flight at most; none = no bound
  // Host services beyond the common ones ("crm"); none written: the bundled
  // record plugins' (crm, tasks, segments: "crm", by the loaded plugin's name).
  std::optional<std::vector<std::string>> grants;
};

// "aggregates": {"<name>": {"event": "order.paid", "value": "data.amount"}}
// (store/Store.h ContactAggregate).
struct AggregateConfig {
  std::string name, event, value;
};

// A segment of contacts. Static: rules and the admin API put contacts in and
// take them out. Dynamic (with a filter): the host keeps its members, the
// contacts the filter matches (rules/TimeTrigger.h DynamicSegment).
struct SegmentConfig {
  std::string description;
  nlohmann::json filter;  // null: static
  std::string refresh;    // when every contact is checked again (a schedule); "" = once a day
  bool dynamic() const { return !filter.is_null(); }
};

// A rule as written, compiled by rules/RuleCompiler.h.
struct RuleSource {
  std::string pointer;  // "/rules/3"
  nlohmann::json body;
};

struct HttpServerConfig {
  size_t max_body_bytes = 1 << 20;
  int max_connections = 10000;
  int keep_alive_timeout_s = 15;
  int request_timeout_s = 30;  // a request must arrive whole within this
  int response_timeout_ms = 30000;
};

struct HttpClientConfig {
  int timeout_ms = 10000;
  int max_connections = 256;
  std::string ca_file;  // empty = the system store
};

// Tracked links (/t/): the public origin they are built on, and the secret
// holding the key they are signed with ("" = a key the host makes once and
// keeps in its store).
struct TrackingConfig {
  std::string base_url;  // "" = no tracking
  std::string key_secret;
};

struct Config {
  std::filesystem::path file;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  std::filesystem::path data_dir;
  std::filesystem::path sqlite_path;
  std::string postgres_secret;  // the secret holding PostgreSQL's connection string ("" = the SQLite file)
  std::vector<std::filesystem::path> plugin_dirs;
  LogLevel log_level = LogLevel::info;
  int io_threads = 0;    // event-loop threads for the HTTP server, and as many for provider calls; 0 = one per core
  int ingest_nice = 19;  // nice value of the thread that parses batches of events (EventsApi::kBulkBytes)
  HttpServerConfig http_server;
  HttpClientConfig http_client;
  TrackingConfig tracking;
  std::map<std::string, SecretSource> secrets;
  std::vector<std::string> event_token_secrets;  // names of the secrets holding the events API's tokens
  std::vector<std::string> admin_token_secrets;  // ... and the executions API's
  std::vector<InstanceConfig> instances;
  std::map<std::string, std::vector<std::string>> pipelines;  // statuses in order
  std::map<std::string, SegmentConfig> segments;              // declared segments, by name
  // "ad_channels": advertising channels' analytics over one entity type.
  struct AdChannelsConfig {
    std::string entity;  // empty: none configured
    std::string field = "channel";
    std::vector<std::string> sale_statuses;
    std::string amount = "amount";
    std::map<std::string, double> costs;
  };
  AdChannelsConfig ad_channels;
  std::vector<AggregateConfig> aggregates;                // figures kept per contact
  std::map<std::string, std::string> template_variables;  // the config's short names (rules/Template.h)
  // Message templates by name ("templates", and each <name>.json of
  // "templates_dir"): {"channel", "description"?, and the action's
  // parameters}, html_file / text_file read in. A step's "template" names one.
  std::map<std::string, nlohmann::json> message_templates;
  // "frequency_caps": [{"channel", "category"?, "limit", "period"}]
  struct FrequencyCapConfig {
    std::string channel, category;
    int limit = 1;
    int64_t period_ms = 0;
    std::string period;
  };
  std::vector<FrequencyCapConfig> frequency_caps;
  int max_chain_depth = 5;              // see PipelineOptions
  int64_t heartbeat_ms = 1000;          // a node's heartbeat in the store ("cluster")
  int64_t node_timeout_ms = 10000;      // ... and how long a silent node is thought alive
  int64_t time_check_every_ms = 60000;  // how often time triggers (schedules, special dates, overdue) are checked
  int64_t events_retention_ms = 30 * 86400000LL;      // "retention": routed events kept this long (0: for ever)
  int64_t executions_retention_ms = 30 * 86400000LL;  // ... and ended executions
  int max_in_flight = 1000;                           // ... and this
  int64_t stop_grace_ms = 30000;                      // a stop waits this long for the calls in flight
  int64_t blocked_call_after_ms = 10000;              // a plugin call running longer is reported (PluginWatchdog)
  nlohmann::json account = nlohmann::json::object();  // {{account.*}}; its timezone and country are defaults
  std::vector<RuleSource> rules;                      // the enabled ones
  std::vector<RuleSource> disabled_rules;             // checked (warnings), not run
  std::set<std::string> refused_rule_names;           // rules the schema refused (load_config with problems)
  std::vector<RuleSource> refused_rules;  // ... without what it refused, where that leaves a rule: checked, not run
};

// Throws ConfigError. With `problems`, problems found after the file's
// structure is known valid (cross-field rules) are appended there instead of
// thrown, so that `validate` can report them together with the plugin checks.
Config load_config(const std::filesystem::path& file, std::vector<ConfigIssue>* problems = nullptr);

// Splits "host:port" ("[::1]:80" for IPv6). Throws std::invalid_argument.
std::pair<std::string, uint16_t> parse_listen_address(const std::string& text);

// Reads every declared secret. Throws ConfigError naming the missing ones.
std::map<std::string, std::string> read_secrets(const Config& config);

// The names of the secrets `value` references ({"$secret": "name"}, at any depth).
std::set<std::string> secret_names(const nlohmann::json& value);

// Replaces every {"$secret": "name"} in `value` with the secret's text.
// Throws ConfigError for an undeclared name, reported at `pointer`.
nlohmann::json resolve_secrets(const nlohmann::json& value, const std::map<std::string, std::string>& secrets,
                               const std::string& file, const std::string& pointer);

}  // namespace sb
