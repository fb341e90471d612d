#include "plugins/PluginLibrary.h"

#include <boost/dll/shared_library.hpp>
#include <regex>
#include <set>

namespace sb {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr size_t kMaxCapabilities = 1024;
constexpr size_t kMaxStringBytes = 1 << 20;

std::string version_text(sb_version v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

// Copies a view the plugin handed over, refusing what is obviously garbage.
std::string copy(sb_str s, const std::string& what) {
  if (s.len == 0) return {};
  if (!s.ptr) throw PluginLoadError(what + " has a null pointer with length " + std::to_string(s.len));
  if (s.len > kMaxStringBytes)
    throw PluginLoadError(what + " is implausibly long (" + std::to_string(s.len) + " bytes)");
  return std::string(s.ptr, s.len);
}

json parse_schema(const std::string& text, const std::string& what) {
  if (text.empty()) return json{{"type", "object"}};
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw PluginLoadError(what + " is not valid JSON: " + e.what());
  }
}

std::shared_ptr<const JsonSchema> compile(const json& schema, const std::string& what) {
  try {
    return std::make_shared<const JsonSchema>(schema);
  } catch (const std::invalid_argument& e) {
    throw PluginLoadError(what + " is not a valid JSON Schema: " + e.what());
  }
}
}  // namespace

std::string abi_incompatibility(sb_version plugin, sb_version host) {
  if (plugin.major != host.major)
    return "plugin was built for ABI " + version_text(plugin) + " but this host implements ABI " + version_text(host) +
           "; rebuild the plugin against a " + std::to_string(host.major) + ".x SDK";
  if (plugin.minor > host.minor)
    return "plugin needs ABI " + version_text(plugin) + " but this host implements only ABI " + version_text(host) +
           "; upgrade the host";
  return {};
}

std::shared_ptr<PluginLibrary> PluginLibrary::load(const fs::path& file) {
  const std::string where = file.string() + ": ";
  std::error_code ec;
  if (!fs::exists(file, ec)) throw PluginLoadError(where + "plugin file not found");
  if (!fs::is_regular_file(file, ec)) throw PluginLoadError(where + "not a regular file");

  std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->path_ = file;
  try {
    lib->library_ = std::make_unique<boost::dll::shared_library>(
        file.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginLoadError(where + "cannot load the library: " + e.what());
  }
  if (!lib->library_->has(SB_PLUGIN_ENTRY_SYMBOL))
    throw PluginLoadError(where + "missing symbol '" SB_PLUGIN_ENTRY_SYMBOL
                                  "': not a Switchboard plugin (export it with SWITCHBOARD_PLUGIN or SB_EXPORT)");
  auto entry = lib->library_->get<const sb_plugin_descriptor*()>(SB_PLUGIN_ENTRY_SYMBOL);
  const sb_plugin_descriptor* d = nullptr;
  try {
    d = entry();
  } catch (const std::exception& e) {
    throw PluginLoadError(where + SB_PLUGIN_ENTRY_SYMBOL "() threw: " + e.what());
  } catch (...) {
    throw PluginLoadError(where + SB_PLUGIN_ENTRY_SYMBOL "() threw");
  }
  if (!d) throw PluginLoadError(where + SB_PLUGIN_ENTRY_SYMBOL "() returned no descriptor");
  try {
    lib->read_descriptor(d);
  } catch (const PluginLoadError& e) {
    throw PluginLoadError(where + e.what());
  }
  return lib;
}

PluginLibrary::~PluginLibrary() = default;

void PluginLibrary::read_descriptor(const sb_plugin_descriptor* d) {
  // The head (struct_size, abi_version) is the same in every ABI version.
  constexpr size_t kHead = offsetof(sb_plugin_descriptor, abi_version) + sizeof(sb_version);
  if (d->struct_size < kHead)
    throw PluginLoadError("descriptor is " + std::to_string(d->struct_size) +
                          " bytes, too small to be a Switchboard descriptor");
  abi_version_ = d->abi_version;
  const sb_version host{SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, SB_ABI_VERSION_PATCH};
  if (auto why = abi_incompatibility(abi_version_, host); !why.empty()) throw PluginLoadError(why);
  if (d->struct_size < SB_PLUGIN_DESCRIPTOR_MIN_SIZE)
    throw PluginLoadError("descriptor is " + std::to_string(d->struct_size) + " bytes; ABI " +
                          version_text(abi_version_) + " requires at least " +
                          std::to_string(SB_PLUGIN_DESCRIPTOR_MIN_SIZE));

  name_ = copy(d->name, "descriptor name");
  static const std::regex kName("[a-z0-9_]{1,64}");
  if (!std::regex_match(name_, kName))
    throw PluginLoadError("descriptor name '" + name_ + "' must match [a-z0-9_]{1,64}");
  version_ = copy(d->version, "descriptor version");
  vendor_ = copy(d->vendor, "descriptor vendor");
  description_ = copy(d->description, "descriptor description");
  const std::string plugin = "plugin '" + name_ + "': ";
  config_schema_json_ = parse_schema(copy(d->config_schema_json, plugin + "config schema"), plugin + "config schema");
  config_schema_ = compile(config_schema_json_, plugin + "config schema");

  entry_.create = d->on_instance_create;
  entry_.destroy = d->on_instance_destroy;
  entry_.invoke = d->on_action_invoke;
  if (!entry_.create || !entry_.destroy)
    throw PluginLoadError(plugin + "descriptor lacks on_instance_create or on_instance_destroy");
  if (SB_HAS_FIELD(d, sb_plugin_descriptor, on_instance_start)) entry_.start = d->on_instance_start;
  if (SB_HAS_FIELD(d, sb_plugin_descriptor, on_instance_stop)) entry_.stop = d->on_instance_stop;
  if (SB_HAS_FIELD(d, sb_plugin_descriptor, on_action_cancel)) entry_.cancel = d->on_action_cancel;

  auto read_caps = [&](const sb_capability* const* caps, size_t count, const char* kind) {
    std::vector<CapabilityInfo> out;
    if (count > kMaxCapabilities)
      throw PluginLoadError(plugin + "declares " + std::to_string(count) + " " + kind + "s; at most " +
                            std::to_string(kMaxCapabilities) + " are allowed");
    if (count && !caps)
      throw PluginLoadError(plugin + kind + " list is null but its count is " + std::to_string(count));
    // A trigger names the event type it emits, or a family of them ("message.*").
    const bool trigger = std::string_view(kind) == "trigger";
    static const std::regex kCapName("[a-z0-9_.]{1,64}");
    static const std::regex kTriggerName("[a-z0-9_.]{1,64}|[a-z0-9_.]{1,62}\\.\\*");
    const char* expected = trigger ? "[a-z0-9_.]{1,64}, or a prefix ending in .*" : "[a-z0-9_.]{1,64}";
    std::set<std::string> seen;
    for (size_t i = 0; i < count; ++i) {
      const sb_capability* c = caps[i];
      const std::string at = plugin + kind + " #" + std::to_string(i);
      if (!c || c->struct_size < offsetof(sb_capability, schema_json) + sizeof(sb_str))
        throw PluginLoadError(at + " is null or too small");
      CapabilityInfo info;
      info.name = copy(c->name, at + " name");
      if (!std::regex_match(info.name, trigger ? kTriggerName : kCapName))
        throw PluginLoadError(at + " name '" + info.name + "' must match " + expected);
      if (!seen.insert(info.name).second)
        throw PluginLoadError(plugin + kind + " '" + info.name + "' is declared twice");
      const std::string named = plugin + kind + " '" + info.name + "'";
      info.description = copy(c->description, named + " description");
      info.schema_json = parse_schema(copy(c->schema_json, named + " schema"), named + " schema");
      info.schema = compile(info.schema_json, named + " schema");
      // A 1.0 capability ends before its flags: not retry-safe.
      if (SB_HAS_FIELD(c, sb_capability, flags)) info.retry_safe = (c->flags & SB_CAPABILITY_RETRY_SAFE) != 0;
      out.push_back(std::move(info));
    }
    return out;
  };
  actions_ = read_caps(d->actions, d->action_count, "action");
  triggers_ = read_caps(d->triggers, d->trigger_count, "trigger");
  if (!actions_.empty() && !entry_.invoke)
    throw PluginLoadError(plugin + "declares actions but has no on_action_invoke");
}

const CapabilityInfo* PluginLibrary::find_action(const std::string& name) const {
  for (const auto& a : actions_)
    if (a.name == name) return &a;
  return nullptr;
}

json PluginLibrary::describe(bool with_schemas) const {
  auto caps = [&](const std::vector<CapabilityInfo>& list) {
    json out = json::array();
    for (const auto& c : list) {
      json item{{"name", c.name}, {"description", c.description}};
      if (c.retry_safe) item["retry_safe"] = true;
      if (with_schemas) item["schema"] = c.schema_json;
      out.push_back(std::move(item));
    }
    return out;
  };
  json out{{"name", name_},
           {"version", version_},
           {"vendor", vendor_},
           {"description", description_},
           {"abi_version", version_text(abi_version_)},
           {"path", path_.string()},
           {"actions", caps(actions_)},
           {"triggers", caps(triggers_)}};
  if (with_schemas) out["config_schema"] = config_schema_json_;
  return out;
}

}  // namespace sb
