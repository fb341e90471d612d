// Small text helpers shared by the host's parsers.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

// Without leading and trailing spaces and tabs.
inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Lower case, for ASCII and Cyrillic letters ("Ежедневно", "WON"); other
// bytes as they are.
inline std::string lower_case(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c == 0xD0 && next >= 0x90 && next <= 0x9F) {  // А..П
      out += '\xD0';
      out += static_cast<char>(next + 0x20);
      ++i;
    } else if (c == 0xD0 && next >= 0xA0 && next <= 0xAF) {  // Р..Я
      out += '\xD1';
      out += static_cast<char>(next - 0x20);
      ++i;
    } else if (c == 0xD0 && next == 0x81) {  // Ё
      out += "\xD1\x91";
      ++i;
    } else {
      out += c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c);
    }
  }
  return out;
}

// A fraction as a report shows it: 0.41666 is "41.7%", 0.25 "25%".
inline std::string percent_text(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", fraction * 100);
  std::string out = text;
  if (out.size() > 2 && out.compare(out.size() - 2, 2, ".0") == 0) out.resize(out.size() - 2);
  return out + "%";
}

// `&`, `<`, `>` and both quotes as HTML entities: text inside markup or an
// attribute stays text.
inline std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A number a CRM sent as text: "12000", "-3.5", "1,5", "12 000" (spaces,
// no-break and narrow no-break ones too, between digits); none for anything
// else ("12,000").
inline std::optional<double> number_in_text(std::string_view text) {
  std::string plain;
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t space = text[i] == ' '                            ? 1
                         : text.compare(i, 2, "\xC2\xA0") == 0     ? 2
                         : text.compare(i, 3, "\xE2\x80\xAF") == 0 ? 3
                                                                   : 0;
    if (space) {
      const bool between_digits = !plain.empty() && std::isdigit(static_cast<unsigned char>(plain.back())) &&
                                  i + space < text.size() && std::isdigit(static_cast<unsigned char>(text[i + space]));
      if (!between_digits) return std::nullopt;
      i += space - 1;
      continue;
    }
    plain += text[i];
  }
  // A decimal comma ("1,5"); "12,000" could be twelve thousand as well as
  // twelve, and is taken for neither.
  if (const size_t comma = plain.find(','); comma != std::string::npos) {
    const size_t digits_after = plain.size() - comma - 1;
    if (plain.find(',', comma + 1) != std::string::npos || plain.find('.') != std::string::npos || digits_after == 3)
      return std::nullopt;
    plain[comma] = '.';
  }
  double value = 0;
  const char* end = plain.data() + plain.size();
  const auto [stop, error] = std::from_chars(plain.data(), end, value);
  if (plain.empty() || error != std::errc() || stop != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// At most `bytes` of `text`, cut before a character's bytes rather than
// among them (UTF-8: a store refuses half a character).
inline std::string utf8_prefix(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Edit distance between two strings (bytes), two letters swapped counting
// as one edit (optimal string alignment): how a misspelt name is matched
// with the one likeliest meant ("wiat" is one edit from "wait", two from "at").
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace sb
