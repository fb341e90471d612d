#include "link_tracking.h"

#include <cctype>
#include <charconv>
#include <utility>

namespace email {

namespace {

bool iequals_at(std::string_view text, size_t at, std::string_view word) {
  if (at + word.size() > text.size()) return false;
  for (size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  return true;
}

}  // namespace

size_t html_entity(std::string_view html, size_t at, std::string& out, bool nbsp_as_space) {
  // The markup's own, and those templates write in Russian and English
  // letters: quotes, dashes, the ellipsis, signs.
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"&amp;", "&"},         {"&lt;", "<"},        {"&gt;", ">"},     {"&quot;", "\""}, {"&apos;", "'"},
      {"&nbsp;", "\xC2\xA0"}, {"&laquo;", "«"},     {"&raquo;", "»"},  {"&bdquo;", "„"}, {"&ldquo;", "“"},
      {"&rdquo;", "”"},       {"&lsquo;", "‘"},     {"&rsquo;", "’"},  {"&sbquo;", "‚"}, {"&mdash;", "—"},
      {"&ndash;", "–"},       {"&hellip;", "…"},    {"&copy;", "©"},   {"&reg;", "®"},   {"&trade;", "™"},
      {"&euro;", "€"},        {"&pound;", "£"},     {"&yen;", "¥"},    {"&cent;", "¢"},  {"&deg;", "°"},
      {"&plusmn;", "±"},      {"&times;", "×"},     {"&divide;", "÷"}, {"&bull;", "•"},  {"&middot;", "·"},
      {"&sect;", "§"},        {"&para;", "¶"},      {"&numero;", "№"}, {"&shy;", ""},    {"&thinsp;", "\u2009"},
      {"&ensp;", "\u2002"},   {"&emsp;", "\u2003"}, {"&larr;", "←"},   {"&rarr;", "→"},  {"&uarr;", "↑"},
      {"&darr;", "↓"},        {"&check;", "✓"},     {"&hearts;", "♥"}, {"&star;", "☆"}};
  for (const auto& [entity, text] : kNamed)
    if (html.substr(at, entity.size()) == entity) {
      out += nbsp_as_space && entity == "&nbsp;" ? " " : text;
      return entity.size();
    }
  // &#39; or &#x27;: a character by its number.
  if (html.substr(at, 2) != "&#") return 0;
  const size_t semicolon = html.find(';', at);
  const bool hex = at + 2 < html.size() && (html[at + 2] == 'x' || html[at + 2] == 'X');
  const size_t digits = at + (hex ? 3 : 2);
  if (semicolon == std::string_view::npos || semicolon <= digits || semicolon - at > 10) return 0;
  unsigned long code = 0;
  const auto [end, ec] = std::from_chars(html.data() + digits, html.data() + semicolon, code, hex ? 16 : 10);
  if (ec != std::errc() || end != html.data() + semicolon || code == 0 || code > 0x10FFFF ||
      (code >= 0xD800 && code <= 0xDFFF))
    return 0;
  if (code == 0xA0 && nbsp_as_space) {
    out += ' ';
  } else if (code < 0x80) {  // UTF-8 of the code point
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return semicolon - at + 1;
}

std::string attribute_text(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size();) {
    const size_t entity = value[i] == '&' ? html_entity(value, i, out, /*nbsp_as_space=*/false) : 0;
    if (entity == 0) out += value[i];
    i += entity == 0 ? 1 : entity;
  }
  return out;
}

std::string attribute_escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string track_links(std::string_view html, const LinkMapper& click, const std::optional<std::string>& pixel_url) {
  std::string out;
  size_t i = 0;
  while (i < html.size()) {
    // An <a ...> tag: rewrite its href="..." when it is http(s).
    if (html[i] == '<' && iequals_at(html, i, "<a") && i + 2 < html.size() &&
        std::isspace(static_cast<unsigned char>(html[i + 2]))) {
      const size_t close = html.find('>', i);
      if (close == std::string_view::npos) break;
      std::string_view tag = html.substr(i, close - i + 1);
      size_t href = std::string_view::npos;
      for (size_t k = 2; k + 5 < tag.size(); ++k)
        if (std::isspace(static_cast<unsigned char>(tag[k - 1])) && iequals_at(tag, k, "href=")) {
          href = k;
          break;
        }
      if (href != std::string_view::npos) {
        // Quoted, or not (HTML takes href=https://x.test/a up to a space or the tag's end).
        const char quote = tag[href + 5];
        const bool quoted = quote == '"' || quote == '\'';
        const size_t from = href + (quoted ? 6 : 5);
        const size_t to = quoted ? tag.find(quote, from) : tag.find_first_of(" \t\r\n>", from);
        const std::string url =
            to == std::string_view::npos ? std::string() : attribute_text(tag.substr(from, to - from));
        const bool web = iequals_at(url, 0, "http://") || iequals_at(url, 0, "https://");
        if (web)
          if (auto tracked = click(url)) {
            out.append(tag.substr(0, from));
            if (!quoted) out += '"';
            out += attribute_escape(*tracked);
            if (!quoted) out += '"';
            out.append(tag.substr(to));
            i = close + 1;
            continue;
          }
      }
      out.append(tag);
      i = close + 1;
      continue;
    }
    out += html[i++];
  }
  if (pixel_url) {
    const std::string pixel =
        "<img src=\"" + attribute_escape(*pixel_url) + "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">";
    size_t body_end = std::string::npos;
    for (size_t k = out.size(); k-- > 0;)
      if (out[k] == '<' && iequals_at(out, k, "</body")) {
        body_end = k;
        break;
      }
    if (body_end == std::string::npos)
      out += pixel;
    else
      out.insert(body_end, pixel);
  }
  return out;
}

}  // namespace email
