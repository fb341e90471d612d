// The message builder and the SMTP reply classifier, without a server.
#include "mime.h"

#include <gtest/gtest.h>

#include "base64.h"
#include "link_tracking.h"
#include "smtp_sender.h"

namespace {

using namespace email;

std::string decode_words(const std::string& header) {
  std::string out;
  size_t at = 0;
  while ((at = header.find("=?UTF-8?B?", at)) != std::string::npos) {
    const size_t end = header.find("?=", at + 10);
    const std::string encoded = header.substr(at + 10, end - at - 10);
    std::string bytes(encoded.size(), '\0');
    const int n =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                        reinterpret_cast<const unsigned char*>(encoded.data()), static_cast<int>(encoded.size()));
    bytes.resize(static_cast<size_t>(n) - (encoded.size() - encoded.find_last_not_of('=') - 1));
    out += bytes;
    at = end + 2;
  }
  return out;
}

TEST(Mime, EncodedWordsFollowRfc2047) {
  EXPECT_EQ(encode_header_text("Привет"), "=?UTF-8?B?0J/RgNC40LLQtdGC?=");  // the public vector
  EXPECT_EQ(encode_header_text("Order 42"), "Order 42");
  const std::string long_text = "Добрый день! Напоминаем, что ваше занятие по танцам состоится завтра в 18:00 ✓";
  const std::string encoded = encode_header_text(long_text);
  size_t words = 0;
  for (size_t start = 0, end; start < encoded.size(); start = end + 3, ++words) {
    end = encoded.find("\r\n ", start);
    if (end == std::string::npos) end = encoded.size();
    EXPECT_LE(end - start, 75u);
  }
  EXPECT_GT(words, 2u);
  EXPECT_EQ(decode_words(encoded), long_text);  // no character split across words
}

// A line is at most 998 characters, and should be 78 (RFC 5322 2.1.1): a long
// plain subject is folded before its spaces, and one word too long for any
// line goes in encoded words.
TEST(Mime, LongPlainHeadersAreFoldedAndUnfoldToTheSameText) {
  std::string subject;
  for (int i = 0; subject.size() < 2500; ++i) subject += (i ? " " : "") + std::string("word") + std::to_string(i);
  const std::string folded = encode_header_text(subject);
  size_t lines = 0;
  for (size_t start = 0, end; start < folded.size(); start = end + 2, ++lines) {
    end = folded.find("\r\n", start);
    if (end == std::string::npos) end = folded.size();
    EXPECT_LE(end - start + sizeof "Subject: ", 78u) << folded.substr(start, end - start);
    EXPECT_NE(folded.substr(start, end - start).find_first_not_of(' '), std::string::npos);
    if (start) {
      EXPECT_EQ(folded[start], ' ');  // a continuation starts with the space it was folded before
    }
  }
  EXPECT_GT(lines, 30u);
  std::string unfolded = folded;
  for (size_t at; (at = unfolded.find("\r\n")) != std::string::npos;) unfolded.erase(at, 2);
  EXPECT_EQ(unfolded, subject);
  EXPECT_EQ(encode_header_text("Order 42   "), "Order 42   ");  // short: as it is

  const std::string word(1200, 'x');
  const std::string encoded = encode_header_text("see " + word);
  EXPECT_EQ(encoded.rfind("=?UTF-8?B?", 0), 0u);
  EXPECT_EQ(decode_words(encoded), "see " + word);
  for (size_t start = 0, end; start < encoded.size(); start = end + 3) {
    end = encoded.find("\r\n ", start);
    if (end == std::string::npos) end = encoded.size();
    EXPECT_LE(end - start, 75u);
  }
}

TEST(Mime, LineBreaksInHeaderValuesBecomeSpaces) {
  EXPECT_EQ(one_line("a\r\nBcc: x@y"), "a  Bcc: x@y");
  EXPECT_EQ(format_mailbox({"Ivan \"the\" Great", "i@x.test"}), "\"Ivan \\\"the\\\" Great\" <i@x.test>");
  EXPECT_EQ(format_mailbox({"Иван", "i@x.test"}), "=?UTF-8?B?0JjQstCw0L0=?= <i@x.test>");
  EXPECT_FALSE(valid_address("a@b.test\r\nBcc: c@d.test"));
  EXPECT_FALSE(valid_address("a@localhost"));
  EXPECT_TRUE(valid_address("first.last+tag@sub.example.ru"));
  const Mailbox m = parse_mailbox("  \"Школа\" <info@school.test> ");
  EXPECT_EQ(m.name, "Школа");
  EXPECT_EQ(m.address, "info@school.test");
}

TEST(Mime, TextFromHtml) {
  EXPECT_EQ(html_to_text("<html><head><style>p{color:red}</style></head><body><h1>Заказ&nbsp;№42</h1>"
                         "<p>Сумма: 1&#160;000 &amp; доставка</p><ul><li>Один</li><li>Два</li></ul>"
                         "<p><a href=\"https://x.test/a\">Оплатить</a><br>Спасибо<script>alert(1)</script></p>"
                         "</body></html>"),
            "Заказ №42\n\nСумма: 1 000 & доставка\n\n- Один\n- Два\n\nОплатить (https://x.test/a)\nСпасибо");
  // A link's address is decoded as the text is: every reference, not only &amp;.
  EXPECT_EQ(html_to_text("<a href=\"https://x.test/?n=O&#39;Brien&amp;q=&lt;b&gt;&#x41;&apos;\">Ссылка</a> &#x1F600; "
                         "&bogus; &#xD800;"),
            "Ссылка (https://x.test/?n=O'Brien&q=<b>A') \xF0\x9F\x98\x80 &bogus; &#xD800;");
  // The entities Russian templates write, no title, a table's cells apart.
  EXPECT_EQ(html_to_text("<html><head><title>Письмо школы</title></head><body><p>&laquo;Весна&raquo; &mdash; "
                         "&copy; 2026&hellip;</p><table><tr><th>Курс</th><th>Цена</th></tr>"
                         "<tr><td>Танго</td><td>5&nbsp;000 ₽</td></tr></table></body></html>"),
            "«Весна» — © 2026…\n\nКурс\tЦена\nТанго\t5 000 ₽");
  // An indented template, and a head left open.
  EXPECT_EQ(
      html_to_text("<head><title>x</title><table>\n  <tr>\n    <td>Курс</td>\n    <td>Цена</td>\n  </tr>\n</table>"),
      "Курс\tЦена");
}

TEST(Mime, ARenderedMessageHasTheRequiredHeaders) {
  Message message;
  message.from = {"Школа", "info@school.test"};
  message.to = {"", "ivan@example.com"};
  message.subject = "Hi";
  message.text = "Text";
  message.message_id = "abc@school.test";
  message.date_unix_ms = 1'796'218'400'000;  // 2026-12-02 13:33:20 UTC
  const std::string out = render(message, "seed");
  EXPECT_NE(out.find("Date: Wed, 02 Dec 2026 13:33:20 +0000\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Message-ID: <abc@school.test>\r\n"), std::string::npos);
  EXPECT_NE(out.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_EQ(out.find("List-Unsubscribe"), std::string::npos);  // transactional: none
  message.list_unsubscribe_url = "https://sb.test/t/u/TOKEN";
  message.list_unsubscribe_mailto = "unsubscribe@school.test";
  const std::string marketing = render(message, "seed");
  EXPECT_NE(marketing.find("List-Unsubscribe: <https://sb.test/t/u/TOKEN>,\r\n <mailto:unsubscribe@school.test>\r\n"),
            std::string::npos);
  EXPECT_NE(marketing.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos);
  // RFC 8058's one-click needs an HTTPS link: a plain http one is a link only.
  message.list_unsubscribe_url = "http://sb.test/t/u/TOKEN";
  const std::string plain = render(message, "seed");
  EXPECT_NE(plain.find("List-Unsubscribe: <http://sb.test/t/u/TOKEN>,\r\n <mailto:unsubscribe@school.test>\r\n"),
            std::string::npos);
  EXPECT_EQ(plain.find("List-Unsubscribe-Post"), std::string::npos);
}

// Every line of a header with encoded words is at most 76 characters, its
// name included (RFC 2047 2); a display name is cut only at its own spaces,
// each starting the next word (a reader that keeps the space between two
// words would show a name cut elsewhere as "Смирно ва"), and a long address
// goes on a line of its own.
TEST(Mime, HeaderLinesWithEncodedWordsKeepTo76CharactersAndNamesAreCutAtTheirSpaces) {
  Message message;
  message.from = {"Школа современного танца и хореографии «Движение» на Садовой", "info@school.test"};
  message.to = {"Анна Сергеевна Смирнова-Ковалевская",
                "anna.sergeevna.smirnova-kovalevskaya.personal@mail.example-provider.ru"};
  message.reply_to = parse_mailbox("\"Администратор школы танцев на Садовой улице\" <admin@school.test>");
  message.subject = "Напоминаем о занятии по современному танцу завтра в 18:00";
  message.text = "Text";
  message.message_id = "abc@school.test";
  const std::string out = render(message, "seed");
  const std::string headers = out.substr(0, out.find("\r\n\r\n"));
  const size_t subject = headers.find("Subject: "), date = headers.find("\r\nDate:");
  for (size_t start = 0, end; start < headers.size(); start = end + 2) {
    end = headers.find("\r\n", start);
    if (end == std::string::npos) end = headers.size();
    EXPECT_LE(end - start, 76u) << headers.substr(start, end - start);
  }
  EXPECT_EQ(decode_words(headers.substr(subject, date - subject)), message.subject);
  const auto word = [](const std::string& text) { return "=?UTF-8?B?" + switchboard_plugins::base64(text) + "?="; };
  EXPECT_NE(headers.find("To: " + word("Анна Сергеевна") + "\r\n " + word(" Смирнова-Ковалевская") + "\r\n <"),
            std::string::npos)
      << headers;
  const size_t from = headers.find("From: ");
  EXPECT_EQ(decode_words(headers.substr(from, headers.find("\r\nTo:") - from)), message.from.name);
  EXPECT_NE(headers.find("\r\n <anna.sergeevna.smirnova-kovalevskaya.personal@mail.example-provider.ru>"),
            std::string::npos)
      << headers;
}

// A long non-ASCII file name goes in numbered RFC 2231 sections, each on a
// line of its own, no %XX escape cut in two.
TEST(Mime, ALongFileNameIsCutIntoSections) {
  Message message;
  message.from = {"", "a@b.test"};
  message.to = {"", "c@d.test"};
  message.subject = "x";
  message.text = "x";
  std::string name;
  for (int i = 0; i < 150; ++i) name += "ж";
  message.attachments.push_back({name + ".pdf", "application/pdf", "%PDF"});
  const std::string out = render(message, "seed");
  EXPECT_NE(out.find("\r\n filename*0*=UTF-8''%D0%B6"), std::string::npos);
  EXPECT_NE(out.find(";\r\n filename*1*=%D0%B6"), std::string::npos);
  EXPECT_NE(out.find(".pdf\r\n"), std::string::npos);
  for (size_t start = 0, end; start < out.size(); start = end + 2) {
    end = out.find("\r\n", start);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(start, end - start);
    EXPECT_LE(line.size(),
              out.compare(start, 10, " filename*") == 0 || out.compare(start, 6, " name*") == 0 ? 78u : 998u)
        << line;
  }
  // The type's name in the same form (an encoded word in a quoted string is what RFC 2047 5 forbids).
  EXPECT_NE(out.find("Content-Type: application/pdf;\r\n name*0*=UTF-8''%D0%B6"), std::string::npos) << out;
  EXPECT_EQ(out.find("=?UTF-8?"), std::string::npos);
}

// A quoted display name's quoted pairs are its text (RFC 5322 3.2.4), and
// are quoted once when written out.
TEST(Mime, AQuotedNameIsReadWithoutItsEscapes) {
  const Mailbox m = parse_mailbox("\"O\\\"Brien, J.\" <j@b.test>");
  EXPECT_EQ(m.name, "O\"Brien, J.");
  EXPECT_EQ(m.address, "j@b.test");
  EXPECT_EQ(format_mailbox(m), "\"O\\\"Brien, J.\" <j@b.test>");
}

TEST(Mime, TrackedLinksAndThePixel) {
  const std::string html =
      "<body><a class=x href=\"https://a.test/?q=1&amp;r=2\">A</a> <a href='mailto:x@y.test'>M</a>"
      "<A HREF=\"http://b.test\">B</A><a href=https://c.test/x?y=1>C</a></body>";
  const std::string out = track_links(
      html, [](const std::string& url) { return std::optional<std::string>("https://t/c?u=" + url); },
      std::optional<std::string>("https://t/o"));
  EXPECT_EQ(out,
            "<body><a class=x href=\"https://t/c?u=https://a.test/?q=1&amp;r=2\">A</a> <a href='mailto:x@y.test'>M</a>"
            "<A HREF=\"https://t/c?u=http://b.test\">B</A><a href=\"https://t/c?u=https://c.test/x?y=1\">C</a><img "
            "src=\"https://t/o\" width=\"1\" height=\"1\" alt=\"\" "
            "style=\"display:none\"></body>");
}

TEST(SmtpReplies, AreClassified) {
  using Kind = SmtpOutcome::Kind;
  EXPECT_EQ(classify(0, 250, "250 OK", "").kind, Kind::kSent);
  const SmtpOutcome unknown = classify(55, 550, "550 5.1.1 <x@y>: User unknown", "RCPT failed: 550");
  EXPECT_EQ(unknown.kind, Kind::kUnreachable);
  EXPECT_EQ(unknown.code, "5.1.1");
  EXPECT_EQ(unknown.reason, "550 5.1.1 <x@y>: User unknown");
  // A full mailbox may empty (RFC 5321 4.5.3.1.10, RFC 3463 X.2.2): again later.
  EXPECT_EQ(classify(55, 552, "552 5.2.2 Mailbox full", "").kind, Kind::kRetry);
  EXPECT_EQ(classify(55, 552, "552 Requested mail action aborted", "RCPT failed: 552").kind, Kind::kRetry);
  // Moved without a forwarding address, disabled, not local, a name not allowed: unreachable.
  EXPECT_EQ(classify(55, 550, "550 5.1.6 Recipient no longer on server", "").kind, Kind::kUnreachable);
  EXPECT_EQ(classify(55, 550, "550 5.2.1 The email account that you tried to reach is disabled", "").kind,
            Kind::kUnreachable);
  EXPECT_EQ(classify(55, 551, "551 User not local", "RCPT failed: 551").kind, Kind::kUnreachable);
  EXPECT_EQ(classify(55, 553, "553 Mailbox name not allowed", "RCPT failed: 553").kind, Kind::kUnreachable);
  EXPECT_EQ(classify(55, 554, "554 5.7.1 Message rejected as spam", "").kind, Kind::kPermanent);
  EXPECT_EQ(classify(55, 421, "421 4.7.0 Try again later", "").kind, Kind::kRetry);
  EXPECT_EQ(classify(7, 0, "", "Failed to connect").kind, Kind::kRetry);
  EXPECT_EQ(classify(28, 0, "", "Timeout").kind, Kind::kRetry);
  EXPECT_EQ(classify(64, 0, "", "").code, "starttls_unavailable");
  EXPECT_EQ(classify(67, 535, "535 5.7.8 Authentication credentials invalid", "").code, "auth");
  EXPECT_EQ(classify(67, 454, "454 4.7.0 Temporary authentication failure", "").kind, Kind::kRetry);
  EXPECT_EQ(classify(35, 0, "", "SSL connect error").kind, Kind::kRetry);  // a handshake cut short
  EXPECT_EQ(classify(60, 0, "", "SSL certificate problem").kind, Kind::kPermanent);
}

// A multi-line reply (Gmail explains a refusal on its first lines) is one
// line of text; QUIT's reply after it is not the one that decided.
TEST(SmtpReplies, TheDecidingReplyKeepsAllItsLines) {
  const std::vector<std::string> replies = {
      "250 2.1.0 OK", "550-5.1.1 The email account that you tried to reach does not exist. Please try",
      "550-5.1.1 double-checking the recipient's email address for typos or",
      "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser", "221 2.0.0 closing connection"};
  EXPECT_EQ(deciding_reply(replies, 550),
            "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
            "recipient's email address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser");
  EXPECT_EQ(deciding_reply({"451 4.3.0 Try later"}, 451), "451 4.3.0 Try later");
  EXPECT_EQ(deciding_reply({"250 OK"}, 550), "");
}

}  // namespace
