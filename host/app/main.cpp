// switchboard — the host executable.
//
//   switchboard [--config FILE] [--listen HOST:PORT]      run the server
//   switchboard validate [--config FILE]                  check config, rules, plugins
//   switchboard plugins [--config FILE] [--schemas]       list plugins
//   switchboard migrate-store --from sqlite:PATH --to postgres [--config FILE] [--force]
//                                                         copy a stopped host's store to PostgreSQL
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>

#ifdef SB_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "app/ConfigCheck.h"
#include "app/Runtime.h"
#include "config/Config.h"
#include "config/SourcePositions.h"
#include "log/Logger.h"
#include "plugins/InvokeWatch.h"
#include "plugins/PluginInstance.h"
#include "store/StoreCopy.h"

namespace fs = std::filesystem;
using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionSet;

namespace {

constexpr int kExitInvalid = 2;

// Plugins next to the binary (build tree: bin/../plugins) and where
// `cmake --install` puts them.
std::vector<fs::path> default_plugin_dirs(const std::string& argv0) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) exe = fs::absolute(argv0);
  const fs::path bin = exe.parent_path();
  return {bin.parent_path() / "plugins", bin.parent_path() / "lib" / "switchboard" / "plugins"};
}

class SwitchboardApp : public Poco::Util::ServerApplication {
 protected:
  void defineOptions(OptionSet& options) override {
    ServerApplication::defineOptions(options);
    options.addOption(Option("help", "h", "show this help and exit").required(false).repeatable(false));
    options.addOption(Option("config", "c", "config file (default: config/switchboard.json)")
                          .required(false)
                          .repeatable(false)
                          .argument("FILE"));
    options.addOption(Option("listen", "l", "listen address, overrides the config's \"listen\"")
                          .required(false)
                          .repeatable(false)
                          .argument("HOST:PORT"));
    options.addOption(Option("schemas", "", "with 'plugins': print every schema as JSON").required(false));
    options.addOption(Option("from", "", "with 'migrate-store': the store to copy, sqlite:PATH")
                          .required(false)
                          .repeatable(false)
                          .argument("sqlite:PATH"));
    options.addOption(Option("to", "", "with 'migrate-store': postgres (the config's store.postgres)")
                          .required(false)
                          .repeatable(false)
                          .argument("postgres"));
    options.addOption(Option("force", "", "with 'migrate-store': replace what the target holds").required(false));
  }

  void handleOption(const std::string& name, const std::string& value) override {
    ServerApplication::handleOption(name, value);
    if (name == "help") {
      help_ = true;
      stopOptionsProcessing();
    } else if (name == "config") {
      config_file_ = value;
    } else if (name == "listen") {
      listen_ = value;
    } else if (name == "schemas") {
      schemas_ = true;
    } else if (name == "from") {
      from_ = value;
    } else if (name == "to") {
      to_ = value;
    } else if (name == "force") {
      force_ = true;
    }
  }

  int main(const ArgVec& args) override {
    if (help_) return print_help();
    const std::string command = args.empty() ? "run" : args.front();
    if (args.size() > 1) return usage_error("unexpected argument '" + args[1] + "'");
    // A plugin that crashes the process (while validate creates it, say) is named on stderr.
    sb::invoke_watch::note_crashes_in({});
    try {
      if (command == "run") return serve();
      if (command == "validate") return validate();
      if (command == "plugins") return plugins();
      if (command == "migrate-store") return migrate_store();
    } catch (const sb::ConfigError& e) {
      for (const auto& issue : e.issues()) std::cerr << "error: " << redact(issue.to_string()) << '\n';
      return kExitInvalid;
    } catch (const std::exception& e) {
      // A plugin's error may quote its config, secrets included.
      std::cerr << "error: " << redact(e.what()) << '\n';
      return EXIT_SOFTWARE;
    }
    return usage_error("unknown command '" + command + "'");
  }

 private:
  int print_help() {
    Poco::Util::HelpFormatter formatter(options());
    formatter.setCommand(commandName());
    formatter.setUsage("[run|validate|plugins|migrate-store] [OPTIONS]");
    formatter.setHeader(
        "Switchboard: routes CRM events through rules to plugin actions.\n\n"
        "Commands:\n"
        "  run       (default) serve HTTP, load plugins, run rules until SIGTERM/SIGINT\n"
        "  validate  check the config, its rules and every plugin's schema; exit 2 on errors\n"
        "  plugins   list the plugins in the plugin dirs with their versions, triggers and actions\n"
        "  migrate-store --from sqlite:PATH --to postgres [--force]\n"
        "            copy a stopped host's SQLite store into the config's PostgreSQL store\n\n"
        "Options:");
    formatter.setFooter("Configuration reference: docs/configuration.md");
    formatter.format(std::cout);
    return EXIT_OK;
  }

  // mimalloc (linked unless sanitizers are on) makes the allocation-heavy
  // request path about a fifth cheaper than glibc's malloc
  // (docs/performance.md); naming it in the log shows which one runs.
  static std::string allocator_name() {
#ifdef SB_WITH_MIMALLOC
    const int v = mi_version();
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10);
#else
    return "glibc malloc";
#endif
  }

  static std::string redact(const std::string& text) { return sb::Logger::instance().redact(text); }

  int usage_error(const std::string& message) {
    std::cerr << "error: " << message << " (see --help)\n";
    return EXIT_USAGE;
  }

  sb::Config load(std::vector<sb::ConfigIssue>* problems = nullptr) {
    sb::Config config = sb::load_config(config_file_, problems);
    if (!listen_.empty()) {
      try {
        std::tie(config.listen_host, config.listen_port) = sb::parse_listen_address(listen_);
      } catch (const std::invalid_argument& e) {
        throw sb::ConfigError({{"--listen", "", e.what()}});
      }
    }
    return config;
  }

  int serve() {
    // Block the termination signals before any thread starts: a signal that
    // arrives while starting is then taken by waitForTerminationRequest()
    // instead of killing the process.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGQUIT}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    (void)check();  // every problem named at once, as validate names them, before anything starts
    sb::Runtime runtime(load(), default_plugin_dirs(commandPath()));
    runtime.start();
    sb::log_info("host", "started", {{"allocator", allocator_name()}});
    waitForTerminationRequest();
    sb::log_info("host", "shutting down");
    runtime.stop();
    sb::log_info("host", "stopped");
    return EXIT_OK;
  }

  struct Checked {
    sb::Config config;
    std::map<std::string, std::string> secrets;
    sb::CheckedConfig against_plugins;
  };
  // The config, its secrets, rules and plugins' schemas checked; throws
  // ConfigError with every problem found (and the warnings printed first:
  // a rule on an event that never comes may be why another is wrong).
  Checked check() {
    std::vector<sb::ConfigIssue> issues;
    Checked out{load(&issues), {}, {}};
    try {
      out.secrets = sb::read_secrets(out.config);
    } catch (const sb::ConfigError& e) {
      issues.insert(issues.end(), e.issues().begin(), e.issues().end());
    }
    sb::PluginCatalog catalog(sb::plugin_dirs(out.config, default_plugin_dirs(commandPath())));
    out.against_plugins = sb::check_against_plugins(out.config, catalog, out.secrets);
    issues.insert(issues.end(), out.against_plugins.issues.begin(), out.against_plugins.issues.end());
    if (!issues.empty()) {
      sb::locate(out.against_plugins.warnings);
      for (const auto& warning : out.against_plugins.warnings)
        std::cerr << "warning: " << redact(warning.to_string()) << '\n';
      throw sb::ConfigError(std::move(issues));
    }
    return out;
  }

  int validate() {
    auto [config, secrets, checked] = check();
    // Last: a plugin is handed only a config that passed every check above
    // (and what it answers is printed without a secret it may repeat).
    for (const auto& [name, value] : secrets) sb::Logger::instance().add_secret(value);
    auto issues = sb::try_creating_instances(config, checked, secrets);
    for (auto& issue : issues) issue.message = sb::Logger::instance().redact(std::move(issue.message));
    if (!issues.empty()) throw sb::ConfigError(std::move(issues));
    std::cout << config.file.string() << ": valid (" << config.instances.size() << " instances, " << config.rules.size()
              << " rules)\n";
    for (const auto& rule : checked.rules)
      if (rule.time_trigger)
        std::cout << "  rule '" << rule.name << "' runs on " << rule.time_trigger->describe() << " -> "
                  << rule.time_trigger->event_type() << '\n';
    sb::locate(checked.warnings);
    for (const auto& warning : checked.warnings) std::cout << "  warning: " << warning.to_string() << '\n';
    return EXIT_OK;
  }

  int migrate_store() {
    if (from_.rfind("sqlite:", 0) != 0 || from_.size() == 7)
      return usage_error("--from: expected sqlite:PATH, got '" + from_ + "'");
    if (to_ != "postgres") return usage_error("--to: expected postgres, got '" + to_ + "'");
    sb::Config config = load();
    if (config.postgres_secret.empty())
      throw sb::ConfigError({{config.file.string(), "/store",
                              "migrate-store --to postgres copies into the config's PostgreSQL store: "
                              "expected \"store\": {\"postgres\": {\"$secret\": \"...\"}}"}});
    const auto secrets = sb::read_secrets(config);
    for (const auto& [name, value] : secrets) sb::Logger::instance().add_secret(value);
    sb::read_numbers_in_account_country(config);  // both stores open, and learn numbers as the host would
    sb::StoreCopyOptions options{from_.substr(7), secrets.at(config.postgres_secret), force_,
                                 std::chrono::milliseconds(config.node_timeout_ms)};
    const bool terminal = ::isatty(STDERR_FILENO);
    options.progress = [terminal](const std::string& table, int64_t done, int64_t total) {
      if (!terminal) return;
      constexpr int kWidth = 30;
      const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
      std::cerr << '\r' << std::left << std::setw(14) << table << " [" << std::string(filled, '#')
                << std::string(kWidth - filled, '.') << "] " << done << '/' << total << (done == total ? "\n" : "")
                << std::flush;
    };
    const sb::StoreCopySummary summary = sb::copy_sqlite_to_postgres(options);
    int64_t rows = 0;
    std::cout << "copied " << options.sqlite_file.string() << " to PostgreSQL in " << summary.took.count() << " ms\n";
    for (const auto& t : summary.tables) {
      std::cout << "  " << std::left << std::setw(14) << t.name << ' ' << t.rows << '\n';
      rows += t.rows;
    }
    std::cout << "  " << std::left << std::setw(14) << "total" << ' ' << rows << " rows\n";
    return EXIT_OK;
  }

  int plugins() {
    std::vector<fs::path> dirs = default_plugin_dirs(commandPath());
    if (fs::exists(config_file_)) dirs = sb::plugin_dirs(sb::load_config(config_file_), dirs);
    sb::PluginCatalog catalog(dirs);
    nlohmann::json all = nlohmann::json::array();
    int broken = 0;
    for (const auto& entry : catalog.scan()) {
      if (!entry.library) {
        ++broken;
        std::cerr << "error: " << entry.error << '\n';
        continue;
      }
      all.push_back(entry.library->describe(schemas_));
    }
    if (schemas_) {
      std::cout << all.dump(2) << '\n';
    } else {
      for (const auto& p : all) {
        std::cout << p["name"].get<std::string>() << ' ' << p["version"].get<std::string>() << " (ABI "
                  << p["abi_version"].get<std::string>() << ") " << p["path"].get<std::string>() << '\n';
        if (!p["description"].get<std::string>().empty())
          std::cout << "  " << p["description"].get<std::string>() << '\n';
        for (const char* kind : {"triggers", "actions"})
          for (const auto& c : p[kind])
            std::cout << "  " << std::string(kind, std::strlen(kind) - 1) << ' ' << c["name"].get<std::string>()
                      << (c["description"].get<std::string>().empty() ? "" : ": " + c["description"].get<std::string>())
                      << '\n';
      }
    }
    return broken ? kExitInvalid : EXIT_OK;
  }

  bool help_ = false;
  bool schemas_ = false;
  bool force_ = false;
  std::string from_, to_;
  std::string config_file_ = "config/switchboard.json";
  std::string listen_;
};

}  // namespace

POCO_SERVER_MAIN(SwitchboardApp)
