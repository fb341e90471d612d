#include "app/Runtime.h"

#include <algorithm>
#include <future>

#include "api/AnalyticsApi.h"
#include "api/ApiWorker.h"
#include "api/ClusterApi.h"
#include "api/EventsApi.h"
#include "api/ExecutionsApi.h"
#include "api/RecordsApi.h"
#include "api/TrackingApi.h"
#include "app/ConfigCheck.h"
#include "app/PluginWatchdog.h"
#include "app/StoreLock.h"
#include "crm/CrmService.h"
#include "executor/CallQueue.h"
#include "executor/CompletedRoutes.h"
#include "executor/FrequencyCaps.h"
#include "executor/Retention.h"
#include "http/HttpClient.h"
#include "http/HttpServer.h"
#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "net/EventLoop.h"
#include "pipeline/EmittedEvents.h"
#include "pipeline/Pipeline.h"
#include "plugins/InvokeWatch.h"
#include "plugins/PendingCalls.h"
#include "plugins/PluginInstance.h"
#include "store/ContactAliases.h"
#include "store/Outbox.h"
#include "store/PostgresStore.h"
#include "store/SqliteStore.h"
#include "timers/TimeTriggers.h"
#include "util/NodeId.h"
#include "util/Time.h"

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<fs::path> plugin_dirs(const Config& config, const std::vector<fs::path>& defaults) {
  // Each folder once, however it is written: a configured one that is also
  // a default would list (and offer) every plugin in it twice.
  std::vector<fs::path> dirs;
  std::vector<fs::path> seen;
  for (const auto* list : {&config.plugin_dirs, &defaults})
    for (const fs::path& dir : *list) {
      std::error_code error;
      fs::path same = fs::weakly_canonical(dir, error);
      if (error) same = dir.lexically_normal();
      if (std::find(seen.begin(), seen.end(), same) != seen.end()) continue;
      seen.push_back(std::move(same));
      dirs.push_back(dir);
    }
  return dirs;
}

namespace {
// The configured key, else the one this store was given the first time.
std::string tracking_key(const TrackingConfig& config, const std::map<std::string, std::string>& secrets,
                         Store& store) {
  if (!config.key_secret.empty()) return secrets.at(config.key_secret);
  if (auto kept = store.kv_get(kTrackingKeys, "hmac_key")) return *kept;
  // Read and kept under the key's lock: nodes that start together sign with
  // the first one kept, not each with its own.
  auto key = std::make_shared<std::string>(random_tracking_key());
  std::promise<StoreStatus> kept;
  store.transact_on(
      {{}, {{kTrackingKeys, "hmac_key"}}},
      [key](ExecutionRows& rows) {
        if (auto first = rows.kv_get(kTrackingKeys, "hmac_key"))
          *key = *first;
        else
          rows.kv_put(kTrackingKeys, "hmac_key", *key);
      },
      [&](StoreStatus status) { kept.set_value(std::move(status)); });
  if (StoreStatus status = kept.get_future().get(); !status.ok())
    throw StoreError("cannot keep the tracking links' key: " + status.message, status.code);
  return *key;
}
}  // namespace

namespace {
// What the last run's crash note says (a plugin's call the host crashed
// in), logged; its execution's crashes counted in the store, so that a step
// that crashes every start is failed at its second (Interpreter::CrashedStep).
Interpreter::CrashedStep read_crash_note(const fs::path& path, KeyValueStore& kv) {
  const std::optional<json> note = invoke_watch::take_crash_note(path);
  if (!note) return {};
  log_error("host", "the host crashed when it last ran", {{"crash", *note}});
  Interpreter::CrashedStep crashed;
  crashed.execution_id = note->value("execution_id", int64_t{0});
  if (crashed.execution_id == 0) return {};
  const std::string key = std::to_string(crashed.execution_id);
  crashed.crashes = std::atoi(kv.kv_get(kHostCrashes, key).value_or("0").c_str()) + 1;
  kv.kv_put(kHostCrashes, key, std::to_string(crashed.crashes));
  crashed.where = "plugin '" + note->value("plugin", "") + "', instance '" + note->value("instance", "") +
                  "', signal " + std::to_string(note->value("signal", 0));
  return crashed;
}

std::vector<std::string> disabled_rule_names(const Config& config) {
  std::vector<std::string> names;
  for (const RuleSource& rule : config.disabled_rules) names.push_back(rule.body.value("name", ""));
  return names;
}
}  // namespace

void read_numbers_in_account_country(const Config& config) {
  const auto country = config.account.find("country");
  set_phone_region(country != config.account.end() && country->is_string() ? country->get<std::string>() : "");
}

std::unique_ptr<Store> open_store(const Config& config, const std::map<std::string, std::string>& secrets) {
  read_numbers_in_account_country(config);
  std::vector<ContactAggregate> aggregates;
  for (const AggregateConfig& a : config.aggregates) aggregates.push_back({a.name, a.event, a.value});
  if (!config.postgres_secret.empty()) {
    PostgresStore::Options options{secrets.at(config.postgres_secret)};
    options.aggregates = std::move(aggregates);
    return std::make_unique<PostgresStore>(std::move(options));
  }
  SqliteStore::Options options{config.sqlite_path};
  options.aggregates = std::move(aggregates);
  return std::make_unique<SqliteStore>(std::move(options));
}

Runtime::Runtime(Config config, const std::vector<fs::path>& default_plugin_dirs) : config_(std::move(config)) {
  Logger::instance().set_level(config_.log_level);
  auto secrets = read_secrets(config_);
  for (const auto& [name, value] : secrets) Logger::instance().add_secret(value);

  catalog_ = std::make_unique<PluginCatalog>(plugin_dirs(config_, default_plugin_dirs));
  CheckedConfig checked = check_against_plugins(config_, *catalog_, secrets);
  if (!checked.issues.empty()) throw ConfigError(checked.issues);
  for (const ConfigIssue& warning : checked.warnings)
    log_warn("config", "config warning", {{"problem", warning.to_string()}});

  const size_t io_threads = config_.io_threads > 0 ? static_cast<size_t>(config_.io_threads) : default_io_threads();
  inbound_loops_ = std::make_unique<EventLoopGroup>(io_threads, "sb-in-");
  outbound_loops_ = std::make_unique<EventLoopGroup>(io_threads, "sb-out-");
  metrics_ = std::make_unique<Metrics>();
  if (config_.postgres_secret.empty()) store_lock_ = std::make_unique<StoreLock>(config_.sqlite_path);
  store_ = open_store(config_, secrets);
  std::vector<std::string> event_tokens;
  for (const auto& name : config_.event_token_secrets) event_tokens.push_back(secrets.at(name));
  std::vector<std::string> admin_tokens;
  for (const auto& name : config_.admin_token_secrets) admin_tokens.push_back(secrets.at(name));
  admin_worker_ = std::make_unique<ApiWorker>("sb-admin");
  analytics_api_ = std::make_unique<AnalyticsApi>(*store_, admin_tokens, config_.ad_channels, *admin_worker_);
  records_api_ = std::make_unique<RecordsApi>(*store_, admin_tokens, config_.segments, [this] {
    if (pipeline_) pipeline_->wake();
  });
  executions_api_ = std::make_unique<ExecutionsApi>(
      *store_, admin_tokens,
      [this] {
        if (pipeline_) pipeline_->wake();
      },
      // Cancelled: this node gives their calls up, and tells the others
      // sharing the store to give up theirs.
      [this](const std::vector<int64_t>& executions) {
        give_up_calls(executions);
        store_->announce_cancelled(executions);
      },
      *admin_worker_, stats_rules(checked.rules, disabled_rule_names(config_)),
      ExecutionsApi::RuleVersions{
          [this](const std::string& rule) { return pipeline_ ? pipeline_->current_version(rule) : std::string(); },
          [this](const std::string& rule, const std::string& version, const std::string& step) {
            return pipeline_ ? pipeline_->step_what(rule, version, step) : std::string();
          }});
  ingest_worker_ = std::make_unique<ApiWorker>("sb-ingest", config_.ingest_nice);
  events_api_ = std::make_unique<EventsApi>(
      *store_, std::move(event_tokens), *metrics_,
      [this] {
        if (pipeline_) pipeline_->events_stored();
      },
      [this](const EventRecord& e) { return pipeline_ && pipeline_->starts_high_priority(e); }, ingest_worker_.get());
  if (!config_.tracking.base_url.empty()) {
    tracking_tokens_ =
        std::make_unique<TrackingTokens>(tracking_key(config_.tracking, secrets, *store_), config_.tracking.base_url);
    tracking_api_ = std::make_unique<TrackingApi>(*store_, *tracking_tokens_, *metrics_, [this] {
      if (pipeline_) pipeline_->events_stored();
    });
  }
  outbox_ = std::make_unique<Outbox>(config_.data_dir / "outbox.jsonl");
  routes_ = std::make_unique<WebhookRoutes>();
  calls_ = std::make_unique<PendingCalls>();
  HttpClientOptions client;
  client.default_timeout = std::chrono::milliseconds(config_.http_client.timeout_ms);
  client.max_connections = config_.http_client.max_connections;
  client.ca_file = config_.http_client.ca_file;
  http_ = std::make_unique<HttpClient>(*outbound_loops_, client, inbound_loops_.get());
  PipelineOptions pipeline_options;
  // Before any plugin is called: a crash in one is noted for the next start.
  const fs::path crash_note = config_.data_dir / "crash-note.json";
  pipeline_options.crashed_step = read_crash_note(crash_note, *store_);
  invoke_watch::note_crashes_in(crash_note);
  watchdog_ = std::make_unique<PluginWatchdog>(*metrics_, std::chrono::milliseconds(config_.blocked_call_after_ms));
  pipeline_options.max_chain_depth = config_.max_chain_depth;
  pipeline_options.account = config_.account;
  pipeline_options.max_in_flight = config_.max_in_flight;
  pipeline_options.stop_wait = std::chrono::milliseconds(config_.stop_grace_ms);
  pipeline_options.owner = node_id_;
  pipeline_options.router_hold = std::chrono::milliseconds(config_.node_timeout_ms);
  pipeline_options.shared_store = !config_.postgres_secret.empty();
  pipeline_options.dynamic_segments = checked.segments;
  for (const auto& [name, statuses] : config_.pipelines)
    pipeline_options.known_statuses.insert(statuses.begin(), statuses.end());
  pipeline_options.compile_version = [environment = checked.environment](
                                         const json& source, std::string& why) -> std::optional<CompiledRule> {
    std::vector<RuleIssue> issues;
    CompiledRule rule = compile_rule_version(source, environment, issues);
    if (issues.empty()) return rule;
    why = "the rule's version from before the edit no longer compiles: " + issues.front().message;
    return std::nullopt;
  };
  std::map<std::string, int> bounds;
  for (const auto& instance : config_.instances)
    if (instance.max_in_flight) bounds[instance.name] = *instance.max_in_flight;
  calls_in_flight_ = std::make_unique<CallQueue>(std::move(bounds), [this] {
    if (pipeline_) pipeline_->wake();  // its loop starts the calls that waited
  });
  pipeline_options.calls = calls_in_flight_.get();
  if (!config_.frequency_caps.empty()) {
    std::vector<FrequencyCap> caps;
    for (const auto& cap : config_.frequency_caps)
      caps.push_back({cap.channel, cap.category, cap.limit, cap.period_ms, cap.period});
    frequency_caps_ = std::make_unique<FrequencyCaps>(std::move(caps), *store_);
  }
  pipeline_options.frequency_caps = frequency_caps_.get();
  pipeline_ = std::make_unique<Pipeline>(*store_, checked.rules, *this, *metrics_, pipeline_options);
  TimeTriggers::Options time_options;
  time_options.check_every = std::chrono::milliseconds(config_.time_check_every_ms);
  time_options.account_timezone = config_.account.value("timezone", "UTC");
  time_options.owner = node_id_;
  time_options.events_kept_ms = config_.events_retention_ms;
  time_options.ad_channels = config_.ad_channels;
  time_options.stats_rules = stats_rules(checked.rules, disabled_rule_names(config_));
  for (const auto& [name, segment] : config_.segments)
    if (!segment.dynamic()) time_options.static_segments.push_back(name);
  time_triggers_ = std::make_unique<TimeTriggers>(*store_, checked.rules, checked.segments, time_options, [this] {
    if (pipeline_) pipeline_->wake();
  });
  Retention::Options retention;
  retention.events_ms = config_.events_retention_ms;
  retention.executions_ms = config_.executions_retention_ms;
  retention.owner = node_id_;
  retention.forget_versions = !pipeline_options.shared_store;
  for (const CompiledRule& rule : checked.rules) retention.current_versions.emplace_back(rule.name, rule.version);
  retention_ = std::make_unique<Retention>(*store_, std::move(retention));
  CompletedRoutes::Options completed;
  completed.account = config_.account;
  completed.max_wait = std::chrono::milliseconds(config_.http_server.response_timeout_ms);
  completed.frequency_caps = frequency_caps_.get();
  completed_ = std::make_unique<CompletedRoutes>(
      std::move(checked.rules), *this, *calls_in_flight_, *store_, *metrics_,
      [this](std::chrono::milliseconds delay, std::function<void()> task) {
        // Timers belong to their loop's thread: the route's own, so that
        // what it does after a wait stays on its request's thread.
        EventLoop* here = inbound_loops_->current();
        EventLoop& loop = here ? *here : inbound_loops_->next();
        loop.post([&loop, delay, task = std::move(task)]() mutable { loop.run_after(delay, std::move(task)); });
      },
      completed);

  deps_.metrics = metrics_.get();
  deps_.http = http_.get();
  deps_.kv = store_.get();
  deps_.outbox = outbox_.get();
  deps_.calls = calls_.get();
  deps_.routes = routes_.get();
  deps_.tracking = tracking_tokens_.get();
  emitted_ = std::make_unique<EmittedEvents>(*store_, *completed_, [this] {
    if (pipeline_) pipeline_->events_stored();
  });
  deps_.events = emitted_.get();
  deps_.secrets = std::move(secrets);
  RecordRules record_rules{config_.pipelines, {}, {}};
  for (const auto& [name, segment] : config_.segments)
    (segment.dynamic() ? record_rules.dynamic_segments : record_rules.segments).insert(name);
  crm_ = std::make_unique<CrmService>(
      *store_, std::move(record_rules),
      [this] {
        if (pipeline_) pipeline_->wake();
      },
      config_.account);
  deps_.crm = crm_.get();
  for (const auto& instance : config_.instances) {
    deps_.instance_secrets[instance.name] = secret_names(instance.config);
    deps_.instance_grants[instance.name] = granted_services(instance, *checked.instance_plugins.at(instance.name));
  }

  // Bind before creating instances: a taken port is the likelier mistake and
  // should not leave half-started plugins behind.
  HttpServer::Handlers handlers;
  handlers.plugins = [this] { return describe_plugins(); };
  handlers.degraded = [this] { return watchdog_->degraded(); };
  handlers.api["/api/v1/events"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    events_api_->handle(std::move(request), std::move(reply));
  };
  auto executions = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    executions_api_->executions(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/executions"] = executions;
  handlers.api["/api/v1/executions/"] = executions;
  auto contacts = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    records_api_->contacts(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/contacts"] = contacts;
  handlers.api["/api/v1/contacts/"] = contacts;
  auto entities = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    records_api_->entities(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/entities"] = entities;
  handlers.api["/api/v1/entities/"] = entities;
  auto tasks = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    records_api_->tasks(std::move(request), std::move(reply));
  };
  auto segments = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    records_api_->segments(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/segments"] = segments;
  handlers.api["/api/v1/segments/"] = segments;
  handlers.api["/api/v1/tasks"] = tasks;
  handlers.api["/api/v1/tasks/"] = tasks;
  handlers.api["/api/v1/cluster"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    cluster_api_->handle(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/analytics/channels"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    analytics_api_->channels(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/analytics/tasks"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    analytics_api_->tasks(std::move(request), std::move(reply));
  };
  handlers.api["/api/v1/dead-letters"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
    executions_api_->dead_letters(std::move(request), std::move(reply));
  };
  if (tracking_api_)
    handlers.api["/t/"] = [this](ServerRequest&& request, ServerConnection::Reply reply) {
      tracking_api_->handle(std::move(request), std::move(reply));
    };
  // A store that cannot be read (PostgreSQL restarting) is the server's
  // temporary state, not the request's fault: 503, as for an append.
  for (auto& [path, handler] : handlers.api)
    handler = [handler = std::move(handler)](ServerRequest&& request, ServerConnection::Reply reply) {
      ServerConnection::Reply answer = reply;
      try {
        return handler(std::move(request), std::move(reply));
      } catch (const StoreError& e) {
        log_warn("http", "the store is unavailable", {{"error", e.what()}});
        return answer(error_response(503, "store_unavailable", e.what()));
      }
    };
  server_ = std::make_unique<HttpServer>(*inbound_loops_, config_.listen_host, config_.listen_port, config_.http_server,
                                         *routes_, *metrics_, std::move(handlers));
  // This node among those sharing the store, known by where it listens.
  const NodeRecord self{node_id_, host_name(), config_.listen_host + ":" + std::to_string(server_->port()), now_ms(),
                        now_ms()};
  membership_ = std::make_unique<Membership>(*store_, self,
                                             Membership::Options{std::chrono::milliseconds(config_.heartbeat_ms),
                                                                 std::chrono::milliseconds(config_.node_timeout_ms)},
                                             [this] {
                                               if (pipeline_) pipeline_->wake();  // the dead node's steps are due
                                             });
  cluster_api_ = std::make_unique<ClusterApi>(*store_, *membership_, std::move(admin_tokens));
  try {
    for (const auto& instance : config_.instances) {
      instances_.emplace(instance.name,
                         std::make_unique<PluginInstance>(checked.instance_plugins.at(instance.name), instance.name,
                                                          deps_, checked.instance_configs.at(instance.name)));
      log_info("plugins", "instance created",
               {{"instance", instance.name}, {"plugin", checked.instance_plugins.at(instance.name)->name()}});
    }
  } catch (...) {
    stop();  // instances created so far may have work in flight: end it in order
    throw;
  }
}

Runtime::~Runtime() { stop(); }

void Runtime::start() {
  accepting_ = true;
  server_->start();
  for (auto& [name, instance] : instances_) instance->start();
  pipeline_->start();
  // Another node's commits wake this one (a shared store), so that latency
  // does not wait for the pipeline's poll.
  store_->on_changes([this](Store::Change change) {
    if (change == Store::Change::kDueWork || pipeline_->routes()) pipeline_->wake();
  });
  store_->on_cancelled([this](const std::vector<int64_t>& executions) { give_up_calls(executions); });
  membership_->start();
  time_triggers_->start();
  retention_->start();
  log_info("http", "listening", {{"address", config_.listen_host}, {"port", server_->port()}});
}

void Runtime::give_up_calls(const std::vector<int64_t>& executions) {
  // A step of a cancelled execution that runs on this node: its plugin
  // hears it (on_action_cancel) and may abort the provider's work (a call
  // still ringing); one waiting for a slot of its instance (max_in_flight)
  // is never sent.
  if (calls_in_flight_) calls_in_flight_->give_up_executions(executions);
  if (calls_) calls_->give_up_executions(executions);
}

void Runtime::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Every callback into a plugin is delivered or cancelled before the
  // plugin's instances are destroyed (plugin.h promises it).
  if (admin_worker_) admin_worker_->stop();    // long admin reads answer 503 at once
  if (server_) server_->stop();                // no new requests; requests in progress drain
  if (ingest_worker_) ingest_worker_->join();  // batches still queued answer 503, before what they would call stops
  if (time_triggers_) time_triggers_->stop();
  if (retention_) retention_->stop();
  // No step starts; the calls in flight answer (stop_grace), their plugins
  // still running (an email's SMTP session is the plugin's own); the others
  // are in doubt after a restart.
  if (pipeline_) pipeline_->stop();
  for (auto& [name, instance] : instances_) instance->stop();  // triggers stop emitting
  if (store_) {
    store_->on_changes({});
    store_->on_cancelled({});
  }
  if (membership_) {
    membership_->stop();
    // Leases of steps that did not end are another node's at once (or this
    // host's after a restart), not when they run out.
    std::promise<StoreStatus> ended;
    store_->end_leases(node_id_, now_ms(), std::nullopt, [&](StoreStatus s) { ended.set_value(std::move(s)); });
    if (StoreStatus s = ended.get_future().get(); !s.ok())
      log_warn("cluster", "this node's leases stay until they run out", {{"error", s.message}});
  }
  accepting_ = false;  // steps not yet dispatched fail as "shutting down"
  http_->shutdown();   // in-flight requests report "client shut down" to their plugins
  calls_->close();     // calls never completed fail; their emit results reach live plugins
  emitted_->close();   // a late emit is refused, not reported to a plugin that is gone
  store_->flush();     // emitted events' commits are reported to live plugins
  // The client and the call registry outlive the instances (closed, not
  // destroyed): a plugin thread still finishing may call into them safely.
  instances_.clear();
  server_.reset();
  inbound_loops_->stop();
  outbound_loops_->stop();
}

uint16_t Runtime::port() const { return server_->port(); }

void Runtime::dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) {
  if (!accepting_) return done(ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
  auto it = instances_.find(instance);
  if (it == instances_.end())
    return done(ActionOutcome::failure(SB_OUTCOME_PERMANENT, "no instance '" + instance + "'"));
  it->second->invoke(request, std::move(done));
}

json Runtime::describe_plugins() const {
  json out = json::array();
  std::map<std::string, std::vector<std::string>> instances_of;
  std::map<std::string, const PluginLibrary*> libraries;
  for (const auto& [name, instance] : instances_) {
    instances_of[instance->library().name()].push_back(name);
    libraries[instance->library().name()] = &instance->library();
  }
  for (const auto& [name, lib] : libraries) {
    json item = lib->describe(false);
    item.erase("path");
    item["instances"] = instances_of[name];
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace sb
