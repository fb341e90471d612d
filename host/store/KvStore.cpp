#include "store/KvStore.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>

#include <stdexcept>

using namespace Poco::Data::Keywords;

namespace sb {

KvStore::KvStore(const std::filesystem::path& file) {
  static std::once_flag registered;
  std::call_once(registered, [] { Poco::Data::SQLite::Connector::registerConnector(); });
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  try {
    session_ = std::make_unique<Poco::Data::Session>("SQLite", file.string());
    *session_ << "PRAGMA journal_mode=WAL", now;
    *session_ << "PRAGMA synchronous=NORMAL", now;
    *session_ << "CREATE TABLE IF NOT EXISTS plugin_kv (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
                 "PRIMARY KEY (ns, key))",
        now;
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("cannot open store " + file.string() + ": " + e.displayText());
  }
}

KvStore::~KvStore() = default;

std::optional<std::string> KvStore::get(const std::string& ns, const std::string& key) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> values;
  std::string n = ns, k = key;
  *session_ << "SELECT value FROM plugin_kv WHERE ns = ? AND key = ?", use(n), use(k), into(values), now;
  if (values.empty()) return std::nullopt;
  return values.front();
}

void KvStore::put(const std::string& ns, const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  std::string n = ns, k = key, v = value;
  *session_ << "INSERT INTO plugin_kv (ns, key, value) VALUES (?, ?, ?) "
               "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
      use(n), use(k), use(v), now;
}

void KvStore::remove(const std::string& ns, const std::string& key) {
  std::lock_guard lock(mutex_);
  std::string n = ns, k = key;
  *session_ << "DELETE FROM plugin_kv WHERE ns = ? AND key = ?", use(n), use(k), now;
}

}  // namespace sb
