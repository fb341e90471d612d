#include "mime.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <functional>
#include <optional>

#include "base64.h"
#include "form.h"
#include "link_tracking.h"

namespace email {

namespace {

constexpr std::string_view kCrlf = "\r\n";

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// The length of the UTF-8 sequence that starts with `lead` (1 for a stray byte).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xf0 && lead < 0xf8) return 4;
  if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

// Base64 body lines of at most 76 characters (RFC 2045).
void append_base64_lines(std::string& out, std::string_view bytes) {
  const std::string encoded = switchboard_plugins::base64(bytes);
  for (size_t i = 0; i < encoded.size(); i += 76) {
    out.append(encoded, i, 76);
    out += kCrlf;
  }
}

std::string rfc5322_date(int64_t unix_ms) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[static_cast<size_t>(tm.tm_wday)],
                tm.tm_mday, kMonths[static_cast<size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// <parameter>*=UTF-8''<percent-encoded>, in numbered sections of a line
// each when long (RFC 2231 3-4): a Cyrillic name of 150 letters is 900
// characters encoded, near a line's 998.
std::string rfc2231_parameter(const std::string& parameter, const std::string& name) {
  constexpr size_t kSection = 54;  // a section's line within 78 characters
  const std::string encoded = switchboard_plugins::percent_encode(name);
  if (encoded.size() <= kSection) return " " + parameter + "*=UTF-8''" + encoded;
  std::string out;
  for (size_t at = 0, n = 0; at < encoded.size(); ++n) {
    size_t end = std::min(at + kSection, encoded.size());
    // A %XX escape stays whole.
    if (end < encoded.size() && encoded[end - 1] == '%')
      end -= 1;
    else if (end < encoded.size() && end >= 2 && encoded[end - 2] == '%')
      end -= 2;
    out += std::string(n ? ";" : "") + "\r\n " + parameter + "*" + std::to_string(n) + "*=" + (n ? "" : "UTF-8''") +
           encoded.substr(at, end - at);
    at = end;
  }
  return out;
}

std::string attachment_headers(const Attachment& attachment) {
  const std::string name = one_line(attachment.name);
  std::string out = "Content-Type: " + attachment.content_type;
  if (is_printable_ascii(name)) {
    out += "; name=" + quoted(name) + "\r\nContent-Disposition: attachment; filename=" + quoted(name);
  } else {
    // RFC 2231 for both: an encoded word inside a quoted parameter is what
    // RFC 2047 (5) forbids, and readers (Python's) flag it as a defect.
    out += ";" + rfc2231_parameter("name", name) + "\r\nContent-Disposition: attachment;" +
           rfc2231_parameter("filename", name);
  }
  return out + "\r\nContent-Transfer-Encoding: base64\r\n";
}

void append_part(std::string& out, std::string_view boundary, std::string_view headers, std::string_view bytes) {
  out += "--";
  out += boundary;
  out += kCrlf;
  out += headers;
  out += kCrlf;
  append_base64_lines(out, bytes);
}

std::string text_part_headers(std::string_view subtype) {
  return "Content-Type: text/" + std::string(subtype) + "; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n";
}

// Text with CRLF line breaks, as RFC 2045 (6.8) wants them before a text
// is base64-encoded: a bare LF or CR becomes CRLF.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    if (text[i] == '\r' || text[i] == '\n') {
      out += kCrlf;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The body: text, or text and HTML as alternatives, wrapped with attachments in multipart/mixed.
std::string body_of(const Message& message, std::string& content_type, const std::string& boundary) {
  const std::string text =
      crlf_lines(message.text.empty() && !message.html.empty() ? html_to_text(message.html) : message.text);
  std::string body;
  std::string inner_type;
  if (message.html.empty()) {
    inner_type = "text/plain; charset=UTF-8";
    append_base64_lines(body, text);
  } else {
    const std::string alternative = boundary + "_alt";
    inner_type = "multipart/alternative; boundary=\"" + alternative + "\"";
    append_part(body, alternative, text_part_headers("plain"), text);
    append_part(body, alternative, text_part_headers("html"), crlf_lines(message.html));
    body += "--" + alternative + "--\r\n";
  }
  if (message.attachments.empty()) {
    content_type = inner_type;
    return body;
  }
  const std::string mixed = boundary + "_mix";
  content_type = "multipart/mixed; boundary=\"" + mixed + "\"";
  std::string out = "--" + mixed + "\r\nContent-Type: " + inner_type + "\r\n";
  if (message.html.empty()) out += "Content-Transfer-Encoding: base64\r\n";
  out += kCrlf;
  out += body;
  for (const Attachment& attachment : message.attachments)
    append_part(out, mixed, attachment_headers(attachment), attachment.bytes);
  out += "--" + mixed + "--\r\n";
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_address(std::string_view address) {
  const size_t at = address.find('@');
  if (at == 0 || at == std::string_view::npos || address.find('@', at + 1) != std::string_view::npos) return false;
  if (address.size() > 320) return false;
  for (unsigned char c : address)
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '"' ||
        c == '\\')
      return false;
  const std::string_view domain = address.substr(at + 1);
  const size_t dot = domain.find('.');
  return dot != std::string_view::npos && dot != 0 && domain.back() != '.';
}

Mailbox parse_mailbox(std::string_view text) {
  text = trim(text);
  const size_t open = text.rfind('<');
  if (open == std::string_view::npos || text.back() != '>') return {"", std::string(text)};
  std::string_view name = trim(text.substr(0, open));
  std::string shown(name);
  // A quoted name's own quoted pairs (RFC 5322 3.2.4): "O\"Brien" is O"Brien,
  // quoted again when written out.
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    shown.clear();
    for (size_t i = 1; i + 1 < name.size(); ++i) shown += name[i] == '\\' && i + 2 < name.size() ? name[++i] : name[i];
  }
  return {one_line(shown), std::string(trim(text.substr(open + 1, text.size() - open - 2)))};
}

std::string one_line(std::string_view value) {
  std::string out(value);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

namespace {
// Folded before a space (RFC 5322 2.2.3) so that a line with the header's
// name stays near 78 characters; nothing when a word is too long for a line
// (998 characters at most), which encoded words then carry.
std::optional<std::string> folded(std::string_view text) {
  constexpr size_t kLine = 66, kLongest = 900;
  if (text.size() <= kLine) return std::string(text);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);  // no line of spaces alone at the end
  std::string out;
  size_t line = 0, fold = std::string_view::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    // Before a space that ends a word: the line before it is not blank.
    if (text[i] == ' ' && i > line && text[i - 1] != ' ') fold = i;
    if (i - line >= kLine && fold != std::string_view::npos) {
      out.append(text.substr(line, fold - line)).append("\r\n");
      line = fold;
      fold = std::string_view::npos;
    }
    if (i - line >= kLongest) return std::nullopt;
  }
  return out.append(text.substr(line));
}
}  // namespace

std::string encode_header_text(std::string_view raw) {
  const std::string text = one_line(raw);
  if (is_printable_ascii(text) && text.find("=?") == std::string::npos)
    if (auto lines = folded(text)) return *lines;
  // A line with an encoded word is at most 76 characters (RFC 2047 2), the
  // header's name included on the first: 39 bytes make 52 of base64, a
  // word of 64, and "Reply-To: " before it leaves 74.
  constexpr size_t kBytesPerWord = 39;
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = start;
    while (end < text.size()) {
      const size_t next = end + utf8_length(static_cast<unsigned char>(text[end]));
      if (next - start > kBytesPerWord) break;
      end = std::min(next, text.size());
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + switchboard_plugins::base64(std::string_view(text).substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

// A display name in encoded words of at most 75 characters (RFC 2047 2),
// cut at the name's own spaces, each space starting the next word: a reader
// drops the folding between two words, and one that keeps it (Python's
// address parser before 3.14) shows a double space, never a word cut in two
// ("Сидоро в"). Only a word longer than one encoded word is cut.
std::string encode_phrase(const std::string& name) {
  // The first word shares its line with the header's name ("Reply-To: ",
  // as in encode_header_text); a folded line holds a word of 75 (45 bytes).
  const auto room = [](size_t index) -> size_t { return index == 0 ? 39 : 45; };
  std::vector<std::string> chunks;
  for (size_t start = 0; start < name.size();) {
    size_t end = name.find(' ', start + 1);
    if (end == std::string::npos) end = name.size();
    const std::string piece = name.substr(start, end - start);  // " Петрович": its space first
    if (!chunks.empty() && chunks.back().size() + piece.size() <= room(chunks.size() - 1))
      chunks.back() += piece;
    else
      chunks.push_back(piece);
    start = end;
  }
  std::string out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i) out += "\r\n ";
    out += chunks[i].size() <= room(i) ? "=?UTF-8?B?" + switchboard_plugins::base64(chunks[i]) + "?="
                                       : encode_header_text(chunks[i]);
  }
  return out;
}

std::string format_mailbox(const Mailbox& mailbox) {
  const std::string address = one_line(mailbox.address);
  if (mailbox.name.empty()) return address;
  const std::string name = one_line(mailbox.name);
  const bool plain = is_printable_ascii(name) && name.find("=?") == std::string::npos;
  const std::string shown = plain ? quoted(name) : encode_phrase(name);
  // The address on a line of its own when it would take the name's last
  // one past 76 (a header's name may stand before it).
  const size_t last_line = shown.size() - (shown.rfind('\n') == std::string::npos ? 0 : shown.rfind('\n') + 1);
  return shown + (last_line + address.size() + 3 > 66 ? "\r\n <" : " <") + address + ">";
}

std::string html_to_text(std::string_view html) {
  std::string out;
  std::string pending_href;
  size_t i = 0;
  auto lower_starts = [&](size_t at, std::string_view word) {
    if (at + word.size() > html.size()) return false;
    for (size_t k = 0; k < word.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(html[at + k])) != word[k]) return false;
    return true;
  };
  // Ensures the text ends with `count` line breaks (none at the very start).
  auto breaks = [&](size_t count) {
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    if (out.empty()) return;
    size_t have = 0;
    while (have < out.size() && out[out.size() - 1 - have] == '\n') ++have;
    for (; have < count; ++have) out += '\n';
  };
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      const size_t close = html.find('>', i);
      if (close == std::string_view::npos) break;
      const std::string_view tag = html.substr(i + 1, close - i - 1);
      std::string name;
      for (char t : tag) {
        if (std::isspace(static_cast<unsigned char>(t)) || t == '>') break;
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(t)));
      }
      // What a reader does not see: the head's title, scripts and styles.
      if (name == "script" || name == "style" || name == "title") {
        const std::string end = "</" + name;
        size_t j = close;
        while (j < html.size() && !lower_starts(j, end)) ++j;
        const size_t after = html.find('>', j);
        i = after == std::string_view::npos ? html.size() : after + 1;
        continue;
      }
      static constexpr std::array<std::string_view, 16> kBlocks = {
          "p", "/p", "div", "/div", "h1", "/h1", "h2", "/h2", "h3", "/h3", "ul", "/ul", "ol", "/ol", "table", "/table"};
      if (name == "br" || name == "br/") {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\n';
      } else if (std::find(kBlocks.begin(), kBlocks.end(), name) != kBlocks.end()) {
        breaks(2);
      } else if (name == "tr" || name == "/tr" || name == "/li") {
        breaks(1);
      } else if ((name == "/td" || name == "/th") && !out.empty() && out.back() != '\n') {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\t';  // a table's cells apart on their line
      } else if (name == "li") {
        breaks(1);
        out += "- ";
      }
      if (name == "a") {
        pending_href.clear();
        const size_t href = tag.find("href=");
        if (href != std::string_view::npos && href + 5 < tag.size()) {
          const char quote = tag[href + 5];
          const size_t from = href + (quote == '"' || quote == '\'' ? 6 : 5);
          const size_t to = quote == '"' || quote == '\'' ? tag.find(quote, from) : tag.find(' ', from);
          pending_href = attribute_text(tag.substr(from, to == std::string_view::npos ? to : to - from));
        }
      }
      if (name == "/a" && !pending_href.empty()) {
        if (out.find(pending_href, out.size() >= pending_href.size() ? out.size() - pending_href.size() : 0) ==
            std::string::npos)
          out += " (" + pending_href + ")";
        pending_href.clear();
      }
      i = close + 1;
      continue;
    }
    if (c == '&') {
      // A no-break space is a space that may break: this is plain text.
      const size_t entity = html_entity(html, i, out, /*nbsp_as_space=*/true);
      if (entity == 0) out += '&';
      i += entity == 0 ? 1 : entity;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ' && out.back() != '\n' && out.back() != '\t') out += ' ';
      ++i;
      continue;
    }
    out += c;
    ++i;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n' || out.back() == '\t')) out.pop_back();
  return out;
}

std::string content_type_for(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kTypes = {{
      {".pdf", "application/pdf"},
      {".txt", "text/plain; charset=UTF-8"},
      {".csv", "text/csv; charset=UTF-8"},
      {".html", "text/html; charset=UTF-8"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ics", "text/calendar; charset=UTF-8"},
      {".doc", "application/msword"},
      {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {".xls", "application/vnd.ms-excel"},
      {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {".zip", "application/zip"},
  }};
  const size_t dot = file_name.rfind('.');
  if (dot != std::string_view::npos) {
    std::string extension(file_name.substr(dot));
    for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& [suffix, type] : kTypes)
      if (extension == suffix) return std::string(type);
  }
  return "application/octet-stream";
}

std::string render(const Message& message, std::string_view boundary_seed) {
  char boundary[40];
  std::snprintf(boundary, sizeof boundary, "=_sb_%016zx", std::hash<std::string_view>{}(boundary_seed));
  std::string content_type;
  const std::string body = body_of(message, content_type, boundary);

  std::string out;
  auto header = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += kCrlf;
  };
  header("From", format_mailbox(message.from));
  if (!message.sender.address.empty()) header("Sender", format_mailbox(message.sender));
  header("To", format_mailbox(message.to));
  if (!message.reply_to.address.empty()) header("Reply-To", format_mailbox(message.reply_to));
  header("Subject", encode_header_text(message.subject));
  header("Date", rfc5322_date(message.date_unix_ms));
  header("Message-ID", "<" + one_line(message.message_id) + ">");
  if (!message.list_unsubscribe_url.empty() || !message.list_unsubscribe_mailto.empty()) {
    std::string value;
    if (!message.list_unsubscribe_url.empty()) value = "<" + one_line(message.list_unsubscribe_url) + ">";
    // Each address on a line of its own: a long link and the mailto address
    // together would pass a line's 998 characters.
    if (!message.list_unsubscribe_mailto.empty())
      value += (value.empty() ? "<mailto:" : ",\r\n <mailto:") + one_line(message.list_unsubscribe_mailto) + ">";
    header("List-Unsubscribe", value);
    // One-click (RFC 8058) is for an HTTPS link only: mailbox providers
    // ignore the POST header beside a plain http one.
    if (message.list_unsubscribe_url.rfind("https://", 0) == 0)
      header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
  }
  header("MIME-Version", "1.0");
  header("Content-Type", content_type);
  if (message.html.empty() && message.attachments.empty()) header("Content-Transfer-Encoding", "base64");
  out += kCrlf;
  out += body;
  return out;
}

}  // namespace email
