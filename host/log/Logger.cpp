#include "log/Logger.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>

namespace sb {

namespace {
const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

// A secret shorter than this is masked only where it stands as a word of
// its own: a token "ad" in "lead" (or "ev" in a log line's "level") is not
// the token, and masking it there made the text unreadable. Real keys and
// tokens are longer, and masked wherever they are.
constexpr size_t kMaskedAnywhereFrom = 8;

bool word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Whether a word may start at `pos`: after a character that is no word's,
// or after an escape that ends in letters (a serialised line's "\n" or
// "\u001b", a URL's "%3D") — the secret is the next word.
bool word_starts(const std::string& text, size_t pos) {
  if (pos == 0 || !word_char(text[pos - 1])) return true;
  if (pos >= 2 && text[pos - 2] == '\\') return true;
  if (pos >= 6 && text[pos - 6] == '\\' && text[pos - 5] == 'u' && hex_digit(text[pos - 4]) &&
      hex_digit(text[pos - 3]) && hex_digit(text[pos - 2]) && hex_digit(text[pos - 1]))
    return true;
  return pos >= 3 && text[pos - 3] == '%' && hex_digit(text[pos - 2]) && hex_digit(text[pos - 1]);
}

void replace_all(std::string& text, const std::string& needle) {
  static const std::string kMask = "[redacted]";
  const bool anywhere = needle.size() >= kMaskedAnywhereFrom;
  for (size_t pos = text.find(needle); pos != std::string::npos;) {
    const size_t end = pos + needle.size();
    if (anywhere || (word_starts(text, pos) && (end == text.size() || !word_char(text[end])))) {
      text.replace(pos, needle.size(), kMask);
      pos = text.find(needle, pos + kMask.size());
    } else {
      pos = text.find(needle, pos + 1);
    }
  }
}
// The start of a secret at the very end of a text, as a word of its own: a
// provider's answer cut to its first bytes (an error body quoting the
// token) may end inside one. Not a value with a scheme or a space ("Bearer
// <token>", "postgresql://..."): its credential is a secret of its own, and
// its first word is ordinary text.
void mask_cut_secret(std::string& text, const std::string& secret) {
  static const std::string kMask = "[redacted]";
  if (secret.size() <= kMaskedAnywhereFrom || secret.find(' ') != std::string::npos ||
      secret.find("://") != std::string::npos)
    return;
  const size_t from = text.size() > secret.size() ? text.size() - secret.size() + 1 : 0;
  for (size_t at = text.find(secret[0], from); at != std::string::npos; at = text.find(secret[0], at + 1)) {
    const size_t kept = text.size() - at;
    if (kept < kMaskedAnywhereFrom) return;
    if (word_starts(text, at) && text.compare(at, kept, secret, 0, kept) == 0) {
      text.replace(at, kept, kMask);
      return;
    }
  }
}

// The credential in an Authorization value ("Bearer <token>", "Basic
// <base64>"): a provider that refuses it echoes the credential alone.
std::string credential_of(const std::string& value) {
  for (const char* scheme : {"bearer ", "basic ", "token ", "bot ", "key ", "oauth "}) {
    const size_t n = std::strlen(scheme);
    if (value.size() <= n || !std::equal(scheme, scheme + n, value.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        }))
      continue;
    const size_t start = value.find_first_not_of(' ', n);
    return start == std::string::npos ? std::string() : value.substr(start);
  }
  return {};
}
}  // namespace

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

Logger::Logger() : out_(&std::cerr) {}

void Logger::set_stream(std::ostream* out) {
  std::lock_guard lock(mutex_);
  out_ = out ? out : &std::cerr;
}

void Logger::add_secret(std::string value) {
  if (value.empty()) return;
  if (const std::string credential = credential_of(value); credential.size() >= kMaskedAnywhereFrom)
    add_secret(credential);
  std::lock_guard lock(mutex_);
  auto secrets = std::make_shared<Secrets>(*secrets_);
  // The JSON-escaped form is what appears inside a serialized line.
  std::string escaped = nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  escaped = escaped.substr(1, escaped.size() - 2);
  // Other writers of JSON (PHP's by default) write '/' as "\/": a provider
  // echoing the secret in a body may have it so.
  if (escaped.find('/') != std::string::npos) {
    std::string slashed;
    for (char c : escaped) slashed += c == '/' ? std::string("\\/") : std::string(1, c);
    secrets->push_back(std::move(slashed));
  }
  if (escaped != value) secrets->push_back(std::move(escaped));
  secrets->push_back(std::move(value));
  // Longest first: a secret inside another must not be masked first, which
  // would leave the longer one unmatched and the rest of it in the text.
  std::sort(secrets->begin(), secrets->end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets->erase(std::unique(secrets->begin(), secrets->end()), secrets->end());
  std::atomic_store(&secrets_, std::shared_ptr<const Secrets>(std::move(secrets)));
}

std::string Logger::Redactor::operator()(std::string text) const {
  for (const auto& s : *secrets_) replace_all(text, s);
  for (const auto& s : *secrets_) mask_cut_secret(text, s);
  return text;
}

bool Logger::Redactor::any_in(std::string_view text) const {
  if (secrets_->empty()) return false;
  // "\u0430": a character written as an escape could hide one; walked then.
  if (text.find("\\u") != std::string_view::npos) return true;
  for (const auto& s : *secrets_)
    if (text.find(s) != std::string_view::npos) return true;
  return false;
}

void Logger::Redactor::operator()(nlohmann::json& value) const {
  if (secrets_->empty()) return;
  // Iteratively: a plugin's document may be deep.
  std::vector<nlohmann::json*> pending{&value};
  while (!pending.empty()) {
    nlohmann::json* at = pending.back();
    pending.pop_back();
    if (at->is_string()) {
      for (const auto& s : *secrets_) replace_all(at->get_ref<std::string&>(), s);
    } else if (at->is_array()) {
      for (auto& item : *at) pending.push_back(&item);
    } else if (at->is_object()) {
      // A key that holds a secret: the object is made again with it masked.
      bool renamed = false;
      for (const auto& item : at->items()) renamed = renamed || (*this)(item.key()) != item.key();
      if (renamed) {
        nlohmann::json masked = nlohmann::json::object();
        for (auto& [key, item] : at->items()) masked[(*this)(key)] = std::move(item);
        *at = std::move(masked);
      }
      for (auto& item : *at) pending.push_back(&item);
    }
  }
}

void Logger::log(LogLevel level, std::string_view component, std::string_view message, const nlohmann::json& fields) {
  if (!enabled(level)) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
  line["level"] = level_name(level);
  line["component"] = component;
  line["msg"] = message;
  if (fields.is_object())
    for (const auto& [k, v] : fields.items()) line[k] = v;
  std::string text = redact(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::lock_guard lock(mutex_);
  *out_ << text << '\n' << std::flush;
}

}  // namespace sb
