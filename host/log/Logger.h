// Structured logging: one JSON object per line on stderr.
//
// Every line passes through the redactor, which replaces every known secret
// value (declared in the config, including its JSON-escaped form) with
// "[redacted]" — so a plugin that logs a token by mistake leaks nothing.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

class Logger {
 public:
  // The process-wide logger. Tests may point it at another stream.
  static Logger& instance();

  void set_level(LogLevel level) { level_ = level; }
  void set_stream(std::ostream* out);
  // Adds values that must never be written; empty values are ignored.
  void add_secret(std::string value);

  bool enabled(LogLevel level) const { return level >= level_; }
  void log(LogLevel level, std::string_view component, std::string_view message,
           const nlohmann::json& fields = nlohmann::json::object());

  using Secrets = std::vector<std::string>;  // longest first

  // The secrets known when it was made; read without the lock that writing
  // a line holds: redaction runs on every plugin result, and must not wait
  // for a slow stderr.
  class Redactor {
   public:
    explicit Redactor(std::shared_ptr<const Secrets> secrets) : secrets_(std::move(secrets)) {}
    // `text` with every secret replaced.
    std::string operator()(std::string text) const;
    // The same in every string of `value`, keys included: a document stays
    // JSON whatever a secret looks like (a number, a quote).
    void operator()(nlohmann::json& value) const;
    // Whether any secret may be in `text` (a document's text holds every
    // string of it, escaped forms being secrets too; one with \u escapes may
    // hide one): most documents are not walked at all.
    bool any_in(std::string_view text) const;

   private:
    std::shared_ptr<const Secrets> secrets_;
  };
  Redactor redactor() const { return Redactor(std::atomic_load(&secrets_)); }
  // Returns `text` with every known secret replaced.
  std::string redact(std::string text) const { return redactor()(std::move(text)); }

 private:
  Logger();

  LogLevel level_ = LogLevel::info;
  std::ostream* out_;
  std::mutex mutex_;  // the stream, and adding secrets
  std::shared_ptr<const Secrets> secrets_ = std::make_shared<const Secrets>();
};

inline void log_debug(std::string_view c, std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  if (Logger::instance().enabled(LogLevel::debug)) Logger::instance().log(LogLevel::debug, c, m, f);
}
inline void log_info(std::string_view c, std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Logger::instance().log(LogLevel::info, c, m, f);
}
inline void log_warn(std::string_view c, std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Logger::instance().log(LogLevel::warn, c, m, f);
}
inline void log_error(std::string_view c, std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  Logger::instance().log(LogLevel::error, c, m, f);
}

}  // namespace sb
