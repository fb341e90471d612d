#include "plugins/PluginInstance.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "plugins/InvokeWatch.h"
#include "util/JsonText.h"

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// Collects the message a plugin writes into a caller-supplied buffer.
struct ErrorBuffer {
  char data[1024] = {};
  size_t length = 0;
  sb_error_buffer abi{sizeof(sb_error_buffer), data, sizeof(data), &length};
  // What the plugin wrote: at most the buffer, and up to a NUL (a plugin
  // that claimed more than it wrote leaves zeros behind).
  std::string text() const { return std::string(data, strnlen(data, std::min(length, sizeof(data)))); }
  void set(const std::string& what) {
    length = std::min(what.size(), sizeof(data) - 1);
    std::memcpy(data, what.data(), length);
    data[length] = '\0';
  }
};

sb_str view(const std::string& s) { return sb_str{s.data(), s.size()}; }

// Inside a catch: what an exception that crossed the ABI said, when it is
// one the host can read (a C++ plugin built against the same runtime).
std::string what_was_thrown() {
  try {
    throw;
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  } catch (...) {
    return "threw";
  }
}

// The plugin hears that the host gave a call up; what it throws stays with it.
void cancel_guarded(sb_on_action_cancel cancel, const InstanceHost& host, sb_instance* instance,
                    sb_completion* completion) {
  try {
    cancel(instance, completion);
  } catch (...) {
    log_error("plugins", "on_action_cancel threw across the ABI",
              {{"plugin", host.plugin}, {"instance", host.instance}, {"error", what_was_thrown()}});
  }
}

const char* status_name(sb_status s) {
  switch (s) {
    case SB_OK:
      return "ok";
    case SB_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case SB_ERR_NOT_FOUND:
      return "not found";
    case SB_ERR_UNSUPPORTED:
      return "unsupported";
    case SB_ERR_UNAVAILABLE:
      return "unavailable";
    case SB_ERR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}
}  // namespace

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> library, std::string name, HostDependencies& deps,
                               const json& config)
    : library_(std::move(library)), host_(make_instance_host(deps, library_->name(), std::move(name))) {
  for (const CapabilityInfo& trigger : library_->triggers()) host_->emits.push_back(trigger.name);
  const bool sends_messages =
      std::any_of(library_->actions().begin(), library_->actions().end(), [](const CapabilityInfo& action) {
        return action.schema_json.is_object() && action.schema_json.contains("x-switchboard-channel");
      });
  host_->keeps_calls = host_->crm_granted || (deps.tracking && sends_messages);
  const std::string text = dump_text(config);
  ErrorBuffer error;
  sb_status status = SB_ERR_INTERNAL;
  host_->creating = true;
  try {
    const invoke_watch::Scope watched(library_->name(), host_->instance, "on_instance_create", nullptr,
                                      invoke_watch::Scope::kMayTakeItsTime);
    status = library_->entry().create(&host_->table, view(text), &instance_, &error.abi);
  } catch (...) {
    error.set(what_was_thrown());
    status = SB_ERR_INTERNAL;
  }
  host_->creating = false;
  if (status != SB_OK || !instance_) {
    deps.routes->remove_owner(host_->instance);
    std::string why = error.text();
    if (why.empty()) why = status == SB_OK ? "it returned no instance" : status_name(status);
    throw PluginError("instance '" + host_->instance + "' (plugin '" + library_->name() + "'): cannot create: " + why);
  }
}

PluginInstance::~PluginInstance() {
  if (instance_) {
    try {
      library_->entry().destroy(instance_);
    } catch (...) {
      log_error("plugins", "on_instance_destroy threw",
                {{"plugin", host_->plugin}, {"instance", host_->instance}, {"error", what_was_thrown()}});
    }
  }
  host_->deps->routes->remove_owner(host_->instance);
}

void PluginInstance::start() {
  if (!library_->entry().start) return;
  ErrorBuffer error;
  sb_status status = SB_ERR_INTERNAL;
  try {
    const invoke_watch::Scope watched(library_->name(), host_->instance, "on_instance_start", nullptr,
                                      invoke_watch::Scope::kMayTakeItsTime);
    status = library_->entry().start(instance_, &error.abi);
  } catch (...) {
    error.set(what_was_thrown());
    status = SB_ERR_INTERNAL;
  }
  if (status != SB_OK)
    throw PluginError("instance '" + host_->instance +
                      "': cannot start: " + (error.text().empty() ? std::string(status_name(status)) : error.text()));
}

void PluginInstance::stop() noexcept {
  host_->stopped = true;  // what it asks of the store from now on could be answered after it is gone
  if (!library_->entry().stop) return;
  try {
    library_->entry().stop(instance_);
  } catch (...) {
    log_error("plugins", "on_instance_stop threw",
              {{"plugin", host_->plugin}, {"instance", host_->instance}, {"error", what_was_thrown()}});
  }
}

void PluginInstance::invoke(const ActionRequest& request, PendingCalls::Callback done) {
  PendingCalls& calls = *host_->deps->calls;
  const auto deadline = PendingCalls::Clock::now() + request.timeout;
  if (host_->keeps_calls) {
    // The records and tracking services act on behalf of this call until it completes.
    std::lock_guard lock(host_->calls_mutex);
    auto& in_flight = host_->calls_in_flight[request.idempotency_key];
    in_flight.subject = request.subject;
    ++in_flight.calls;
    done = [host = host_.get(), key = request.idempotency_key, done = std::move(done)](ActionOutcome outcome) {
      {
        std::lock_guard lock(host->calls_mutex);
        if (auto it = host->calls_in_flight.find(key); it != host->calls_in_flight.end() && --it->second.calls <= 0)
          host->calls_in_flight.erase(it);
      }
      done(std::move(outcome));
    };
  }
  // Only a call the plugin took (invoke returned SB_OK) is cancelled; one
  // given up while invoke still runs (a cancel, a short deadline) is
  // cancelled once invoke has returned SB_OK.
  enum CallState : int { kInvoking, kTaken, kGivenUpWhileInvoking };
  PendingCalls::GiveUp gave_up;
  const sb_on_action_cancel cancel = library_->entry().cancel;
  // A per-call closure only for a plugin that has the hook.
  auto state = cancel ? std::make_shared<std::atomic<int>>(kInvoking) : nullptr;
  const auto completion_of = [](uint64_t id) { return reinterpret_cast<sb_completion*>(static_cast<uintptr_t>(id)); };
  if (cancel)
    gave_up = [cancel, host = host_.get(), instance = instance_, state, completion_of](uint64_t id) {
      int expected = kInvoking;
      if (!state->compare_exchange_strong(expected, kGivenUpWhileInvoking) && expected == kTaken)
        cancel_guarded(cancel, *host, instance, completion_of(id));
    };
  const uint64_t id =
      calls.add(deadline, host_.get(), std::move(done), std::move(gave_up), request.subject.execution_id);
  if (id == 0) return;  // closed: `done` already ran
  if (!library_->entry().invoke) {
    calls.complete(id, host_.get(), ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, "plugin has no actions"));
    return;
  }
  const std::string params = dump_text(request.params);
  const int64_t deadline_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() +
      request.timeout.count();
  sb_action_call call{sizeof(sb_action_call),        view(request.action), view(params),
                      view(request.idempotency_key), request.attempt,      deadline_unix_ms,
                      view(request.subject.json)};
  ErrorBuffer error;
  sb_status status = SB_ERR_INTERNAL;
  std::string thrown;
  try {
    const InvokingCall invoking(host_.get(), request.subject);
    const invoke_watch::Scope watched(host_->plugin, host_->instance, request.action, &request.subject);
    status = library_->entry().invoke(instance_, &call, completion_of(id), &error.abi);
  } catch (...) {
    thrown = what_was_thrown();
    status = SB_ERR_INTERNAL;
  }
  if (status == SB_OK && state) {
    int expected = kInvoking;
    if (!state->compare_exchange_strong(expected, kTaken)) cancel_guarded(cancel, *host_, instance_, completion_of(id));
  }
  if (status != SB_OK) {
    std::string why = error.text().empty() ? std::string(status_name(status)) : error.text();
    // The plugin promised not to complete; if it did anyway this finds
    // nothing, and its completion stands (it may have sent).
    calls.complete(
        id, host_.get(),
        // A plugin's bug (it threw), which another attempt would meet again: permanent.
        ActionOutcome::failure(
            status == SB_ERR_INVALID_ARGUMENT ? SB_OUTCOME_INVALID_PARAMS : SB_OUTCOME_PERMANENT,
            ActionOutcome::plugin_text(thrown.empty() ? "plugin refused the call: " + why : "plugin " + thrown)));
  }
}

PluginCatalog::PluginCatalog(std::vector<fs::path> dirs) : dirs_(std::move(dirs)) {}

fs::path PluginCatalog::locate(const std::string& name_or_path) const {
  if (name_or_path.find('/') != std::string::npos) return fs::absolute(name_or_path);
  std::vector<fs::path> found;
  for (const auto& dir : dirs_) {
    fs::path candidate = dir / (name_or_path + ".so");
    std::error_code ec;
    if (fs::exists(candidate, ec)) found.push_back(std::move(candidate));
  }
  if (!found.empty()) {
    // The first folder's wins; another of the same name is a mistake
    // (a vendor's plugin named as a bundled one, an old copy) worth saying.
    if (found.size() > 1) {
      std::string others;
      for (size_t i = 1; i < found.size(); ++i) others += (others.empty() ? "" : ", ") + found[i].string();
      log_warn("plugins", "a plugin of this name is in more than one plugin dir: the first is loaded",
               {{"plugin", name_or_path}, {"loaded", found.front().string()}, {"not_loaded", others}});
    }
    return found.front();
  }
  std::string searched;
  for (const auto& dir : dirs_) searched += (searched.empty() ? "" : ", ") + dir.string();
  throw PluginLoadError("plugin '" + name_or_path + "' not found: no " + name_or_path + ".so in " +
                        (searched.empty() ? std::string("(no plugin dirs)") : searched));
}

std::shared_ptr<PluginLibrary> PluginCatalog::get(const std::string& name_or_path) {
  const fs::path file = locate(name_or_path);
  auto it = loaded_.find(file);
  if (it != loaded_.end()) return it->second;
  auto lib = PluginLibrary::load(file);
  loaded_.emplace(file, lib);
  return lib;
}

std::vector<PluginCatalog::Entry> PluginCatalog::scan() {
  std::vector<Entry> out;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".so") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      Entry entry{f, nullptr, {}};
      try {
        entry.library = get(f.string());
      } catch (const PluginLoadError& e) {
        entry.error = e.what();
      }
      out.push_back(std::move(entry));
    }
  }
  return out;
}

}  // namespace sb
