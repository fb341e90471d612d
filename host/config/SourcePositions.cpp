#include "config/SourcePositions.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/Config.h"

namespace sb {

namespace {

using nlohmann::json;

// A recursive descent over a document that is known to parse, matching the
// path of each value against the pointer's tokens.
class PointerScan {
 public:
  PointerScan(std::string_view text, std::vector<std::string> tokens) : text_(text), tokens_(std::move(tokens)) {}

  std::optional<size_t> offset() {
    skip_space();
    if (!value(0, true)) return std::nullopt;
    return best_;
  }

 private:
  static constexpr size_t kMaxDepth = 256;

  // The value at the cursor, whose path matches the pointer's first `depth`
  // tokens when `on_path`. False when the text is not what JSON allows, or
  // nests deeper than kMaxDepth.
  bool value(size_t depth, bool on_path) {
    if (on_path) best_ = at_;                                 // the deepest match so far
    if (on_path && depth == tokens_.size()) on_path = false;  // found: the rest is skipped
    if (depth > kMaxDepth) return false;
    if (at_ >= text_.size()) return false;
    switch (text_[at_]) {
      case '{':
        return object(depth, on_path);
      case '[':
        return array(depth, on_path);
      case '"':
        return string().has_value();
      default:
        while (at_ < text_.size() && std::string_view(",]} \t\r\n").find(text_[at_]) == std::string_view::npos) ++at_;
        return true;
    }
  }

  bool object(size_t depth, bool on_path) {
    ++at_;
    skip_space();
    if (peek('}')) return ++at_, true;
    while (true) {
      const auto key = string();
      if (!key) return false;
      skip_space();
      if (!peek(':')) return false;
      ++at_;
      skip_space();
      if (!value(depth + 1, on_path && *key == tokens_[depth])) return false;
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

  // A string token, decoded (escapes as JSON has them).
  std::optional<std::string> string() {
    if (!peek('"')) return std::nullopt;
    const size_t start = at_++;
    while (at_ < text_.size() && text_[at_] != '"') at_ += text_[at_] == '\\' ? 2 : 1;
    if (at_ >= text_.size()) return std::nullopt;
    ++at_;
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
  std::optional<size_t> best_;
};

std::vector<std::string> tokens_of(const std::string& pointer) {
  try {
    json::json_pointer parsed(pointer);
    std::vector<std::string> tokens;
    while (!parsed.empty()) {
      tokens.insert(tokens.begin(), parsed.back());
      parsed.pop_back();
    }
    return tokens;
  } catch (const json::exception&) {
    return {};
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
  const auto offset = PointerScan(text, tokens_of(pointer)).offset();
  if (!offset) return std::nullopt;
  return line_and_column(text, *offset);
}

void locate(std::vector<ConfigIssue>& issues) {
  std::map<std::string, std::optional<std::string>> texts;  // by file; nothing when unreadable
  for (ConfigIssue& issue : issues) {
    if (issue.line || issue.file.empty() || issue.path.empty()) continue;
    auto [it, fresh] = texts.try_emplace(issue.file);
    if (fresh) {
      std::ifstream in(issue.file, std::ios::binary);
      if (in) {
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
}

}  // namespace sb
