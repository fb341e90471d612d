// Durable key-value state for plugin instances, in the host's SQLite file
// (WAL mode). Keys are namespaced by instance name.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace Poco::Data {
class Session;
}

namespace sb {

class KvStore {
 public:
  // Creates the file and its folder if needed. Throws std::runtime_error.
  explicit KvStore(const std::filesystem::path& sqlite_file);
  ~KvStore();

  std::optional<std::string> get(const std::string& ns, const std::string& key);
  void put(const std::string& ns, const std::string& key, const std::string& value);
  void remove(const std::string& ns, const std::string& key);

 private:
  std::mutex mutex_;  // one SQLite connection, used by one thread at a time
  std::unique_ptr<Poco::Data::Session> session_;
};

}  // namespace sb
