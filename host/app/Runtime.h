// The composition root: builds every part of the host from a Config, in an
// order that lets each part depend only on parts that outlive it, and takes
// them down in the reverse order (stop accepting, drain, stop plugins, drop
// in-flight I/O, destroy instances, unload libraries).
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "executor/ActionRequests.h"
#include "plugins/HostServices.h"
#include "util/NodeId.h"

namespace sb {

class CallQueue;
class ClusterApi;
class Membership;
class CompletedRoutes;
class CrmService;
class EventLoopGroup;
class FrequencyCaps;
class EventsApi;
class ApiWorker;
class AnalyticsApi;
class ExecutionsApi;
class RecordsApi;
class Retention;
class TrackingApi;
class TrackingTokens;
class EmittedEvents;
class Pipeline;
class Store;
class StoreLock;
class TimeTriggers;
class HttpClient;
class HttpServer;
class Metrics;
class Outbox;
class PendingCalls;
class PluginCatalog;
class PluginWatchdog;
class PluginInstance;
class WebhookRoutes;

class Runtime : public ActionDispatcher {
 public:
  // Throws ConfigError, PluginLoadError, PluginError or std::runtime_error
  // with a message that says what to fix.
  Runtime(Config config, const std::vector<std::filesystem::path>& default_plugin_dirs);
  ~Runtime() override;

  void start();
  void stop();
  uint16_t port() const;

  void dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) override;

 private:
  nlohmann::json describe_plugins() const;
  // Gives up this node's calls of cancelled executions, in flight or waiting.
  void give_up_calls(const std::vector<int64_t>& executions);

  Config config_;
  const std::string node_id_ = unique_node_id();  // the owner of this run's leases, unique across machines
  std::unique_ptr<PluginCatalog> catalog_;
  // They outlive the server and client that run on them.
  std::unique_ptr<EventLoopGroup> inbound_loops_;   // the HTTP server's, and the calls its requests make
  std::unique_ptr<EventLoopGroup> outbound_loops_;  // the pipeline's provider calls
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<StoreLock> store_lock_;  // an embedded store's: one host on it
  std::unique_ptr<Store> store_;
  std::unique_ptr<Membership> membership_;  // this node's heartbeat; dead nodes' steps taken over
  std::unique_ptr<ClusterApi> cluster_api_;
  std::unique_ptr<EventsApi> events_api_;
  std::unique_ptr<ExecutionsApi> executions_api_;
  std::unique_ptr<AnalyticsApi> analytics_api_;
  std::unique_ptr<RecordsApi> records_api_;
  // The admin's long reads (stats, analytics), and the events API's batches.
  // Declared after the APIs whose jobs they run: destroyed (their threads
  // joined) before them.
  std::unique_ptr<ApiWorker> admin_worker_;
  std::unique_ptr<ApiWorker> ingest_worker_;
  std::unique_ptr<TrackingTokens> tracking_tokens_;  // null: no tracking.base_url
  std::unique_ptr<TrackingApi> tracking_api_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<WebhookRoutes> routes_;
  std::unique_ptr<PendingCalls> calls_;
  std::unique_ptr<HttpClient> http_;
  HostDependencies deps_;
  std::unique_ptr<FrequencyCaps> frequency_caps_;  // null: the config has none
  std::unique_ptr<CallQueue> calls_in_flight_;     // per-instance bounds, for both runners
  std::unique_ptr<CompletedRoutes> completed_;     // plugins' events whose emitter waits for the result
  std::unique_ptr<CrmService> crm_;                // switchboard.crm/1: records read, changes stored as events
  std::unique_ptr<EmittedEvents> emitted_;         // plugins' events: to the store, or to completed_
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Retention> retention_;         // forgets old events and ended executions
  std::unique_ptr<TimeTriggers> time_triggers_;  // schedules, special dates, overdue: events of their own          //
                                                 // events from the events API (durable)
  std::map<std::string, std::unique_ptr<PluginInstance>> instances_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<PluginWatchdog> watchdog_;  // says when a plugin's call blocks
  std::atomic<bool> accepting_{false};
  bool stopped_ = false;
};

// Numbers without "+" are read in the config's account.country
// (store/ContactAliases.h): set before a store opens, since an opening store
// learns its contacts' numbers again when the country is another.
void read_numbers_in_account_country(const Config& config);

// The store the config names: its PostgreSQL database (the connection string
// from `secrets`), else its SQLite file (reading numbers as above). Throws StoreError.
std::unique_ptr<Store> open_store(const Config& config, const std::map<std::string, std::string>& secrets);

// Every plugin dir: the config's, then the defaults.
std::vector<std::filesystem::path> plugin_dirs(const Config& config,
                                               const std::vector<std::filesystem::path>& default_plugin_dirs);

}  // namespace sb
