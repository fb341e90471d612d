// Where dry-run channels put what they would have sent: one JSON object per
// line in <data_dir>/outbox.jsonl, with secrets redacted.
#pragma once

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

namespace sb {

class Outbox {
 public:
  explicit Outbox(std::filesystem::path file);
  // Adds "ts", "plugin" and "instance" to `record`. Throws on I/O failure.
  void write(const std::string& plugin, const std::string& instance, nlohmann::json record);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::mutex mutex_;
  std::ofstream out_;
};

}  // namespace sb
