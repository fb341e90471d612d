// Building one RFC 5322 / MIME message: encoded words for Cyrillic subjects
// and display names (RFC 2047), multipart/alternative text and HTML, and
// attachments. Every header value passes through one_line(), so a CR or LF
// that came from a template can never start a header of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace email {

// An address with its optional display name.
struct Mailbox {
  std::string name;
  std::string address;
};

// "ivan@example.com" or "Иван Петров <ivan@example.com>"; nullopt-like empty
// address when the text is neither (see valid_address).
Mailbox parse_mailbox(std::string_view text);
// One '@', no spaces, no control characters, no <>, a dot in the domain.
bool valid_address(std::string_view address);

// CR, LF and other control characters become spaces.
std::string one_line(std::string_view value);
// RFC 2047 encoded words (=?UTF-8?B?...?=, each at most 75 characters, never
// splitting a UTF-8 character), folded with CRLF SP; printable ASCII stays.
std::string encode_header_text(std::string_view text);
// "Name <address>" with the name quoted or encoded as it needs.
std::string format_mailbox(const Mailbox& mailbox);

// A readable text version of an HTML body: tags dropped, block ends as line
// breaks, links as "text (url)", entities decoded, scripts and styles gone.
std::string html_to_text(std::string_view html);

struct Attachment {
  std::string name;  // as the recipient sees it
  std::string content_type;
  std::string bytes;
};

struct Message {
  Mailbox from;
  Mailbox sender;  // the account's mailbox when `from` is another's (a manager): the Sender header
  Mailbox to;
  Mailbox reply_to;  // none when its address is empty
  std::string subject;
  std::string text;  // derived from html when empty
  std::string html;  // may be empty: then text/plain only
  std::vector<Attachment> attachments;
  std::string message_id;  // without angle brackets
  int64_t date_unix_ms = 0;
  std::string list_unsubscribe_url;     // marketing mail: one-click (RFC 8058)
  std::string list_unsubscribe_mailto;  // an address, or empty
};

// The whole message with CRLF line ends, ready for SMTP DATA (no dot-stuffing:
// the SMTP client does that).
std::string render(const Message& message, std::string_view boundary_seed);

// The Content-Type for a file name's extension; application/octet-stream when unknown.
std::string content_type_for(std::string_view file_name);

}  // namespace email
