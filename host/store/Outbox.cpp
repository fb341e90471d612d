#include "store/Outbox.h"

#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include "log/Logger.h"

namespace sb {

Outbox::Outbox(std::filesystem::path file) : path_(std::move(file)) {}

void Outbox::write(const std::string& plugin, const std::string& instance, nlohmann::json record) {
  record["ts"] = Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
  record["plugin"] = plugin;
  record["instance"] = instance;
  const std::string line =
      Logger::instance().redact(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::lock_guard lock(mutex_);
  if (!out_.is_open()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    out_.open(path_, std::ios::app);
    if (!out_) throw std::runtime_error("cannot open outbox " + path_.string());
  }
  out_ << line << '\n' << std::flush;
  if (!out_) throw std::runtime_error("cannot write outbox " + path_.string());
}

}  // namespace sb
