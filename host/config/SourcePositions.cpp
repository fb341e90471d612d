#include "config/SourcePositions.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/Config.h"

namespace sb {

namespace {

using nlohmann::json;

// A recursive descent over a JSON document, matching the path of each value
// against the pointer's tokens; it stops at the value the pointer names.
class PointerScan {
 public:
  PointerScan(std::string_view text, std::vector<std::string> tokens) : text_(text), tokens_(std::move(tokens)) {}

  // The offset of the pointer's value, or of its deepest ancestor the text
  // has; nothing when the text is not JSON.
  std::optional<size_t> offset() {
    skip_space();
    if (!value(0, true)) return std::nullopt;
    if (found_) return best_;
    skip_space();
    if (at_ != text_.size()) return std::nullopt;  // more after the document
    return best_;
  }

 private:
  static constexpr size_t kMaxDepth = 256;

  // The value at the cursor, whose path matches the pointer's first `depth`
  // tokens when `on_path`. False when the text is not what JSON allows, or
  // nests deeper than kMaxDepth.
  bool value(size_t depth, bool on_path) {
    if (on_path) {
      best_ = at_;  // the deepest match so far
      if (depth == tokens_.size()) return found_ = true;
    }
    if (depth > kMaxDepth || at_ >= text_.size()) return false;
    switch (text_[at_]) {
      case '{':
        return object(depth, on_path);
      case '[':
        return array(depth, on_path);
      case '"':
        return skip_string();
      default:
        return literal();
    }
  }

  bool object(size_t depth, bool on_path) {
    ++at_;
    skip_space();
    if (peek('}')) return ++at_, true;
    while (true) {
      // Only a key on the path is decoded (escapes and all): it may be the next token.
      std::optional<std::string> key;
      if (on_path) {
        key = string();
        if (!key) return false;
      } else if (!skip_string()) {
        return false;
      }
      skip_space();
      if (!peek(':')) return false;
      ++at_;
      skip_space();
      if (!value(depth + 1, on_path && *key == tokens_[depth])) return false;
      if (found_) return true;
      if (!separator('}')) return false;
      if (done_) return done_ = false, true;
    }
  }

  bool array(size_t depth, bool on_path) {
    ++at_;
    skip_space();
    if (peek(']')) return ++at_, true;
    for (size_t index = 0;; ++index) {
      if (!value(depth + 1, on_path && tokens_[depth] == std::to_string(index))) return false;
      if (found_) return true;
      if (!separator(']')) return false;
      if (done_) return done_ = false, true;
    }
  }

  // After a member or element: ',' (more follow) or the closing bracket (done_).
  bool separator(char close) {
    skip_space();
    if (peek(',')) {
      ++at_;
      skip_space();
      return true;
    }
    if (!peek(close)) return false;
    ++at_;
    done_ = true;
    return true;
  }

  // A number, true, false or null: the characters they are made of.
  bool literal() {
    const size_t start = at_;
    while (at_ < text_.size() && std::string_view("-+.0123456789eEtrufalsn").find(text_[at_]) != std::string_view::npos)
      ++at_;
    return at_ > start;
  }

  bool skip_string() {
    if (!peek('"')) return false;
    ++at_;
    while (at_ < text_.size() && text_[at_] != '"') at_ += text_[at_] == '\\' ? 2 : 1;
    if (at_ >= text_.size()) return false;
    ++at_;
    return true;
  }

  // A string token, decoded.
  std::optional<std::string> string() {
    const size_t start = at_;
    if (!skip_string()) return std::nullopt;
    const json decoded = json::parse(text_.substr(start, at_ - start), nullptr, false);
    if (!decoded.is_string()) return std::nullopt;
    return decoded.get<std::string>();
  }

  bool peek(char c) const { return at_ < text_.size() && text_[at_] == c; }
  void skip_space() {
    while (at_ < text_.size() && std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos) ++at_;
  }

  std::string_view text_;
  std::vector<std::string> tokens_;
  size_t at_ = 0;
  bool done_ = false;
  bool found_ = false;
  std::optional<size_t> best_;
};

// A pointer's tokens, unescaped; nothing when it is not a JSON Pointer.
std::optional<std::vector<std::string>> tokens_of(const std::string& pointer) {
  try {
    json::json_pointer parsed(pointer);
    std::vector<std::string> tokens;
    while (!parsed.empty()) {
      tokens.insert(tokens.begin(), parsed.back());
      parsed.pop_back();
    }
    return tokens;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

TextPosition line_and_column(std::string_view text, size_t offset) {
  TextPosition p{1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++p.column;
    }
  }
  return p;
}

}  // namespace

std::optional<TextPosition> position_of(std::string_view text, const std::string& pointer) {
  auto tokens = tokens_of(pointer);
  if (!tokens) return std::nullopt;
  // A byte order mark before the document (nlohmann reads past it) is no column.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  const auto offset = PointerScan(text, std::move(*tokens)).offset();
  if (!offset) return std::nullopt;
  return line_and_column(text, *offset);
}

void locate(std::vector<ConfigIssue>& issues) noexcept {
  // Called while an error is being built: it must not throw, and it reads
  // only what a config file can be (a regular file of a sane size).
  constexpr uintmax_t kMaxBytes = 16 << 20;
  try {
    std::map<std::string, std::optional<std::string>> texts;  // by file; nothing when unreadable
    for (ConfigIssue& issue : issues) {
      if (issue.line || issue.file.empty() || issue.path.empty()) continue;
      auto [it, fresh] = texts.try_emplace(issue.file);
      if (fresh) {
        std::error_code error;
        const std::filesystem::path file(issue.file);
        if (std::filesystem::is_regular_file(file, error) && std::filesystem::file_size(file, error) <= kMaxBytes &&
            !error)
          if (std::ifstream in(file, std::ios::binary); in) {
            std::stringstream buffer;
            buffer << in.rdbuf();
            it->second = buffer.str();
          }
      }
      if (!it->second) continue;
      if (const auto at = position_of(*it->second, issue.path)) {
        issue.line = at->line;
        issue.column = at->column;
      }
    }
  } catch (const std::exception&) {
    // The issues keep what they had: their file and pointer say where.
  }
}

}  // namespace sb
