#include "link_tracking.h"

#include <cctype>

namespace email {

namespace {

bool iequals_at(std::string_view text, size_t at, std::string_view word) {
  if (at + word.size() > text.size()) return false;
  for (size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  return true;
}

}  // namespace

std::string attribute_text(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value.substr(i, 5) == "&amp;") {
      out += '&';
      i += 4;
    } else if (value.substr(i, 6) == "&quot;") {
      out += '"';
      i += 5;
    } else {
      out += value[i];
    }
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
      const char quote = href == std::string_view::npos ? 0 : tag[href + 5];
      if (quote == '"' || quote == '\'') {
        const size_t from = href + 6;
        const size_t to = tag.find(quote, from);
        const std::string url = attribute_text(tag.substr(from, to - from));
        const bool web = iequals_at(url, 0, "http://") || iequals_at(url, 0, "https://");
        if (to != std::string_view::npos && web) {
          if (auto tracked = click(url)) {
            out.append(tag.substr(0, from));
            out += attribute_escape(*tracked);
            out.append(tag.substr(to));
            i = close + 1;
            continue;
          }
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
