// The email plugin against a real SMTP server (aiosmtpd, tests/support/
// smtp_server.py) with STARTTLS, implicit TLS and a test CA. What arrives is
// parsed by Python's email package and checked here.
#include <gtest/gtest.h>
#include <switchboard/testing/fake_host.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../../support/closed_port.h"
#include "smtp_server.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class EmailPlugin : public ::testing::Test {
 protected:
  json smtp(int port, const std::string& security) const {
    json s{
        {"host", "localhost"}, {"port", port}, {"security", security}, {"username", "mailer"}, {"password", "s3cret"}};
    if (security != "none") s["ca_file"] = std::string(SB_TEST_CA_DIR) + "/ca.pem";
    return s;
  }
  json config(int port, const std::string& security = "starttls") const {
    return {{"smtp", smtp(port, security)}, {"from", "Школа танцев <info@school.test>"}};
  }

  // Sends one message and waits for the step's result.
  fake::Result send(fake::Host& host, const json& config, const json& params, const json& subject = json::object(),
                    const std::string& key = "exec-1:step-1") {
    fake::Instance instance(library_, host, config.dump());
    EXPECT_EQ(instance.status(), SB_OK) << instance.error();
    const size_t before = host.results.size();
    EXPECT_EQ(instance.invoke("send", params.dump(), key, 0, subject.dump()), SB_OK);
    EXPECT_TRUE(host.wait_results(before + 1));
    return host.result(before);
  }

  fake::Library library_{PLUGIN_PATH};
  test_smtp::SmtpServer server_;
};

// 100 Cyrillic letters: 600 characters percent-encoded, in RFC 2231 sections.
const std::string kLongName =
    "Прайс-лист школы танцев на учебный год 2027: расписание, цены абонементов и условия оплаты.pdf";

TEST_F(EmailPlugin, StartTlsDeliversAMultipartMessageWithACyrillicSubjectAndAnAttachment) {
  const fs::path folder = fs::temp_directory_path() / ("sb-attach-" + std::to_string(::getpid()));
  fs::create_directories(folder);
  std::string pdf = "%PDF-1.4\n";
  for (int i = 0; i < 5000; ++i) pdf += static_cast<char>(i * 7);
  std::ofstream(folder / "price.pdf", std::ios::binary) << pdf;
  std::ofstream(folder / "terms.txt") << "Условия";
  json cfg = config(server_.starttls);
  cfg["attachments_dir"] = folder.string();
  cfg["attachments"] = {"terms.txt"};  // on every message, after the step's own
  cfg["reply_to"] = "Офис школы <office@school.test>";
  fake::Host host("email");
  host.tracking = true;
  const std::string subject_line = "Подтверждение записи: занятие начнётся в понедельник, ждём вас в 18:00 — школа";
  const fake::Result r = send(host, cfg,
                              {{"to", "Иван Петров <ivan@example.com>"},
                               {"subject", subject_line},
                               {"html",
                                "<p>Здравствуйте, Иван!</p><p><a href=\"https://school.test/lk?a=1&amp;b=2\">"
                                "Личный кабинет</a></p>"},
                               {"attachments", json::array({{{"file", "price.pdf"}, {"name", kLongName}}})}},
                              {{"contact", {{"id", "c1"}, {"emails", {{{"address", "Ivan@Example.com"}}}}}}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["listener"], "starttls");
  // No helo_name: this machine's name when it has a domain, else the sender's domain; never a bare name.
  EXPECT_NE(m["helo"].get<std::string>().find('.'), std::string::npos) << m["helo"];
  EXPECT_TRUE(m["tls"]);
  EXPECT_TRUE(m["authenticated"]);
  // PLAIN, though the server lists CRAM-MD5 first (and refuses it).
  EXPECT_EQ(server_.auth_mechanisms(), std::vector<std::string>{"PLAIN"});
  EXPECT_EQ(m["defects"], json::array());
  EXPECT_EQ(m["mail_from"], "info@school.test");
  EXPECT_EQ(m["rcpt_tos"], json::array({"ivan@example.com"}));
  const json& h = m["headers"];
  EXPECT_EQ(h["Subject"], subject_line);  // decoded from RFC 2047 by Python
  EXPECT_EQ(h["From"], "Школа танцев <info@school.test>");
  EXPECT_EQ(h["To"], "Иван Петров <ivan@example.com>");
  EXPECT_EQ(h["Reply-To"], "Офис школы <office@school.test>");
  EXPECT_EQ(h["Message-ID"], "<" + r.external_id + ">");
  EXPECT_TRUE(h.contains("Date"));
  EXPECT_FALSE(h.contains("List-Unsubscribe-Post"));  // one-click needs an https link (RFC 8058)
  EXPECT_EQ(h["List-Unsubscribe"], "<http://t.test/unsubscribe/" + r.external_id + ">");
  // On the wire: encoded words of at most 75 characters, ASCII only.
  const std::string raw = m["raw_headers"];
  EXPECT_NE(raw.find("Subject: =?UTF-8?B?"), std::string::npos);
  for (size_t start = 0, end; start < raw.size(); start = end + 2) {
    end = raw.find("\r\n", start);
    if (end == std::string::npos) end = raw.size();
    EXPECT_LE(end - start, 998u);
  }
  EXPECT_EQ(m["content_type"], "multipart/mixed");
  ASSERT_EQ(m["parts"].size(), 2u);
  EXPECT_EQ(m["parts"][0]["content_type"], "text/plain");
  // The text part is derived from the HTML, with the link as written (not the tracked one), its
  // lines ending in CRLF before base64 (RFC 2045 6.8).
  EXPECT_EQ(m["parts"][0]["content"], "Здравствуйте, Иван!\r\n\r\nЛичный кабинет (https://school.test/lk?a=1&b=2)");
  EXPECT_EQ(m["parts"][1]["content_type"], "text/html");
  const std::string html = m["parts"][1]["content"];
  EXPECT_NE(html.find("href=\"http://t.test/click/" + r.external_id + "?u=https://school.test/lk?a=1&amp;b=2\""),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<img src=\"http://t.test/open/" + r.external_id + "\""), std::string::npos) << html;
  ASSERT_EQ(m["attachments"].size(), 2u);
  EXPECT_EQ(m["attachments"][1]["filename"], "terms.txt");
  EXPECT_EQ(m["attachments"][1]["content_type"], "text/plain");
  EXPECT_EQ(m["attachments"][0]["filename"], kLongName);  // RFC 2231 sections, read back whole
  EXPECT_EQ(m["attachments"][0]["content_type"], "application/pdf");
  EXPECT_EQ(m["attachments"][0]["size"], pdf.size());
  fs::remove_all(folder);
}

// A message to another address than the contact's own (a manager told of
// the lead) is not the contact's: no one-click link that would opt the
// contact out, no tracking that would count the manager's opens as theirs,
// and not the contact's name on it.
TEST_F(EmailPlugin, AMessageToAnotherAddressIsNeitherTrackedNorUnsubscribedAsTheContacts) {
  json cfg = config(server_.starttls);
  cfg["unsubscribe_mailto"] = "unsubscribe@school.test";
  fake::Host host("email");
  host.tracking = true;
  const json contact{{"contact", {{"id", "c1"}, {"name", "Иван"}, {"emails", {{{"address", "ivan@example.com"}}}}}}};
  const fake::Result r = send(host, cfg,
                              {{"to", "manager@school.test"},
                               {"subject", "Новый лид"},
                               {"html", "<p><a href=\"https://crm.test/lead/1\">Лид</a></p>"}},
                              contact);
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  EXPECT_EQ(m["headers"]["To"], "manager@school.test");
  EXPECT_EQ(m["headers"]["List-Unsubscribe"], "<mailto:unsubscribe@school.test>");
  const std::string html = m["parts"][1]["content"];
  EXPECT_EQ(html.find("t.test"), std::string::npos) << html;
}

// A step may turn tracking off (or on) for its own message, whatever the
// instance says: "track clicks" is a choice per message in the reference CRMs.
TEST_F(EmailPlugin, AStepTurnsTrackingOnOrOffForItsMessage) {
  fake::Host host("email");
  host.tracking = true;
  const json contact{{"contact", {{"id", "c1"}, {"emails", {{{"address", "ivan@example.com"}}}}}}};
  const json params{
      {"to", {{"type", "any"}}}, {"subject", "x"}, {"html", "<p><a href=\"https://school.test/a\">a</a></p>"}};
  json untracked = params;
  untracked["tracking"] = false;
  ASSERT_EQ(send(host, config(server_.starttls), untracked, contact, "off").outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(server_.message(1)["parts"][1]["content"].get<std::string>().find("t.test"), std::string::npos);
  json cfg = config(server_.starttls);
  cfg["tracking"] = false;
  json tracked = params;
  tracked["tracking"] = true;
  ASSERT_EQ(send(host, cfg, tracked, contact, "on").outcome, SB_OUTCOME_DONE);
  EXPECT_NE(server_.message(2)["parts"][1]["content"].get<std::string>().find("t.test/click"), std::string::npos)
      << server_.message(2).dump();
}

// Reply-To and the unsubscribe address are sent in ASCII as the recipient
// is (RFC 5322 headers, RFC 6068 mailto), and a quoted name keeps its quotes.
TEST_F(EmailPlugin, ReplyToAndTheUnsubscribeAddressAtAnInternationalDomainAreSentInAscii) {
  json cfg = config(server_.starttls);
  cfg["unsubscribe_mailto"] = "unsubscribe@школа.рф";
  fake::Host host("email");
  const fake::Result r = send(host, cfg,
                              {{"to", "manager@school.test"},
                               {"reply_to", "\"Школа \\\"Движение\\\"\" <info@школа.рф>"},
                               {"subject", "x"},
                               {"text", "x"}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  // The name decoded is Школа "Движение" (Python writes it quoted back).
  EXPECT_EQ(m["headers"]["Reply-To"], "\"Школа \\\"Движение\\\"\" <info@xn--80atdl2c.xn--p1ai>") << m.dump();
  EXPECT_EQ(m["headers"]["List-Unsubscribe"], "<mailto:unsubscribe@xn--80atdl2c.xn--p1ai>") << m.dump();
  EXPECT_TRUE(m["defects"].empty()) << m.dump();
}

// An address at a Russian domain (школа.рф) goes in its ASCII form (IDNA
// 2008), in the envelope and the headers; one with Cyrillic before the @
// would need SMTPUTF8, and is refused before any connection.
TEST_F(EmailPlugin, AnInternationalDomainIsSentInItsAsciiForm) {
  json cfg = config(server_.starttls);
  cfg["from"] = "Школа <info@школа.рф>";
  fake::Host host("email");
  fake::Result r = send(host, cfg, {{"to", "Иван <ivan@пример.рф>"}, {"subject", "Привет"}, {"text", "x"}}, {}, "idn");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  EXPECT_EQ(m["mail_from"], "info@xn--80atdl2c.xn--p1ai");
  EXPECT_EQ(m["rcpt_tos"], json::array({"ivan@xn--e1afmkfd.xn--p1ai"}));
  EXPECT_EQ(m["headers"]["To"], "Иван <ivan@xn--e1afmkfd.xn--p1ai>");
  EXPECT_NE(r.external_id.find("@xn--80atdl2c.xn--p1ai"), std::string::npos) << r.external_id;
  // The contact's own address at such a domain is still the contact's: tracked, with its one-click link.
  host.tracking = true;
  const json contact{{"contact", {{"id", "c1"}, {"emails", {{{"address", "Ivan@Пример.рф"}}}}}}};
  r = send(host, cfg, {{"to", {{"type", "any"}}}, {"subject", "x"}, {"html", "<p>x</p>"}}, contact, "idn-contact");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(2)["rcpt_tos"], json::array({"Ivan@xn--e1afmkfd.xn--p1ai"}));
  EXPECT_EQ(server_.message(2)["headers"]["List-Unsubscribe"], "<http://t.test/unsubscribe/" + r.external_id + ">");
  r = send(host, cfg, {{"to", "иван@пример.рф"}, {"subject", "x"}, {"text", "x"}}, {}, "utf8-local");
  EXPECT_EQ(r.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_NE(r.reason.find("SMTPUTF8"), std::string::npos) << r.reason;
  EXPECT_EQ(server_.messages(), 2);
}

// A password the server refuses (535) fails the step for good, with the
// server's words and never the password.
TEST_F(EmailPlugin, ARefusedLoginFailsForGood) {
  json cfg = config(server_.starttls);
  cfg["smtp"]["password"] = "wr0ng-passw0rd";
  fake::Host host("email");
  const fake::Result r = send(host, cfg, {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT) << r.reason;
  EXPECT_EQ(r.provider_code, "auth") << r.reason;
  EXPECT_NE(r.reason.find("535"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reason.find("wr0ng-passw0rd"), std::string::npos) << r.reason;
  EXPECT_EQ(server_.messages(), 0);
}

TEST_F(EmailPlugin, ImplicitTlsWithAuthLogin) {
  json cfg = config(server_.tls, "tls");
  cfg["smtp"]["auth"] = "login";
  cfg["smtp"]["helo_name"] = "mailer.school.test";
  fake::Host host("email");
  const fake::Result r = send(host, cfg, {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "Plain text"}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  EXPECT_EQ(m["listener"], "tls");
  EXPECT_EQ(m["helo"], "mailer.school.test");
  EXPECT_TRUE(m["tls"]);
  EXPECT_TRUE(m["authenticated"]);
  EXPECT_EQ(server_.auth_mechanisms(), std::vector<std::string>{"LOGIN"});
  EXPECT_EQ(m["content_type"], "text/plain");
  EXPECT_EQ(m["parts"][0]["content"], "Plain text");
  // Transactional by default? No: marketing is the default, and without tracking there is no one-click link.
  EXPECT_FALSE(m["headers"].contains("List-Unsubscribe-Post"));
}

// "auth": "any" leaves the choice to the client, which takes the strongest
// the server lists: the test server's CRAM-MD5, which it refuses.
TEST_F(EmailPlugin, AuthAnyTakesTheStrongestMechanismTheServerLists) {
  json cfg = config(server_.starttls);
  cfg["smtp"]["auth"] = "any";
  fake::Host host("email");
  const fake::Result r = send(host, cfg, {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "auth");
  EXPECT_EQ(server_.auth_mechanisms(), std::vector<std::string>{"CRAM-MD5"});
  EXPECT_EQ(server_.messages(), 0);
}

TEST_F(EmailPlugin, AServerCertificateFromAnUnknownCaIsRefused) {
  json cfg = config(server_.starttls);
  cfg["smtp"].erase("ca_file");  // the system's CAs do not know the test CA
  fake::Host host("email");
  const fake::Result r = send(host, cfg, {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "tls");
  EXPECT_NE(r.reason.find("TLS"), std::string::npos) << r.reason;
  EXPECT_EQ(server_.messages(), 0);
}

TEST_F(EmailPlugin, WithoutStartTlsNothingIsSentAndNoPasswordGoesOut) {
  fake::Host host("email");
  const fake::Result r =
      send(host, config(server_.plain, "starttls"), {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "starttls_unavailable");
  EXPECT_NE(r.reason.find("STARTTLS"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reason.find("s3cret"), std::string::npos);
  EXPECT_EQ(server_.messages(), 0);
  EXPECT_TRUE(server_.auth_mechanisms().empty());  // the server offered AUTH in the clear; it was not used
}

TEST_F(EmailPlugin, PlainSmtpOnlyWhenTheConfigSaysSo) {
  fake::Host host("email");
  const fake::Result r =
      send(host, config(server_.plain, "none"), {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_FALSE(server_.message(1)["tls"]);
}

TEST_F(EmailPlugin, RepliesAreClassified) {
  fake::Host host("email");
  const json cfg = config(server_.starttls);
  fake::Result r = send(host, cfg, {{"to", "nobody@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_UNREACHABLE);  // 550 5.1.1: a fallback chain moves on
  EXPECT_EQ(r.provider_code, "5.1.1");
  EXPECT_NE(r.reason.find("User unknown"), std::string::npos) << r.reason;
  r = send(host, cfg, {{"to", "later@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.provider_code, "451");
  EXPECT_NE(r.reason.find("try again later"), std::string::npos) << r.reason;
  r = send(host, cfg, {{"to", "rejected@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "5.7.1");
  EXPECT_NE(r.reason.find("Relay access denied"), std::string::npos) << r.reason;
}

TEST_F(EmailPlugin, AServerThatIsDownIsRetried) {
  const sb::test::ClosedPort down;
  const int closed_port = down.port();
  fake::Host host("email");
  const fake::Result r =
      send(host, config(closed_port, "none"), {{"to", "ivan@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.provider_code, "transport");
}

TEST_F(EmailPlugin, ABurstReusesAtMostMaxConnections) {
  for (const bool reuse : {true, false}) {
    test_smtp::SmtpServer server;
    json cfg = config(server.starttls);
    cfg["max_connections"] = 2;
    cfg["reuse_connections"] = reuse;
    fake::Host host("email");
    fake::Instance instance(library_, host, cfg.dump());
    ASSERT_EQ(instance.status(), SB_OK) << instance.error();
    constexpr int kMessages = 12;
    for (int i = 0; i < kMessages; ++i)
      ASSERT_EQ(instance.invoke("send", json{{"to", "ivan@example.com"}, {"subject", "N"}, {"text", "x"}}.dump(),
                                "key-" + std::to_string(i)),
                SB_OK);
    ASSERT_TRUE(host.wait_results(kMessages));
    for (int i = 0; i < kMessages; ++i) EXPECT_EQ(host.result(i).outcome, SB_OUTCOME_DONE) << host.result(i).reason;
    if (reuse)
      EXPECT_LE(server.connections(), 2);
    else
      EXPECT_EQ(server.connections(), kMessages);
  }
}

// The server closes a kept connection (421 to the next MAIL FROM): the next
// message goes on a new connection at once, not as a failed attempt.
TEST_F(EmailPlugin, AMessageOnAKeptConnectionTheServerClosedGoesOnANewOne) {
  test_smtp::SmtpServer server;
  json cfg = config(server.starttls);
  cfg["max_connections"] = 1;
  fake::Host host("email");
  fake::Instance instance(library_, host, cfg.dump());
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  size_t n = 0;
  for (const std::string to : {"last@example.com", "ivan@example.com", "later@example.com"}) {
    ASSERT_EQ(instance.invoke("send", json{{"to", to}, {"subject", "N"}, {"text", "x"}}.dump(), "key-" + to), SB_OK);
    ASSERT_TRUE(host.wait_results(++n));
  }
  EXPECT_EQ(host.result(0).outcome, SB_OUTCOME_DONE) << host.result(0).reason;
  EXPECT_EQ(host.result(1).outcome, SB_OUTCOME_DONE) << host.result(1).reason;
  EXPECT_EQ(server.message(2)["rcpt_tos"], json::array({"ivan@example.com"}));
  EXPECT_EQ(server.connections(), 2);
  // A refusal on a kept connection is the server's answer, not a closed
  // connection: it is not sent again on a new one.
  EXPECT_EQ(host.result(2).outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(host.result(2).provider_code, "451");
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(EmailPlugin, ATemplateValueCannotAddAHeader) {
  fake::Host host("email");
  const fake::Result r =
      send(host, config(server_.starttls),
           {{"to", "ivan@example.com"}, {"subject", "Hello\r\nBcc: thief@evil.test\r\nX-Injected: 1"}, {"text", "x"}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  const json m = server_.message(1);
  EXPECT_FALSE(m["headers"].contains("Bcc"));
  EXPECT_FALSE(m["headers"].contains("X-Injected"));
  EXPECT_EQ(m["rcpt_tos"], json::array({"ivan@example.com"}));
  EXPECT_EQ(m["headers"]["Subject"], "Hello  Bcc: thief@evil.test  X-Injected: 1");
  // An address with a line break is not an address.
  EXPECT_EQ(send(host, config(server_.starttls), {{"to", "a@b.test\r\nBcc: c@d.test"}, {"subject", "x"}, {"text", "x"}},
                 json::object(), "k2")
                .outcome,
            SB_OUTCOME_UNREACHABLE);
}

TEST_F(EmailPlugin, TheRecipientIsTheContactsAddressOfATypeAndTheSenderTheResponsibleManager) {
  const json subject = {
      {"contact",
       {{"name", "Анна"},
        {"emails", json::array({{{"address", "anna@work.test"}, {"type", "work"}},
                                {{"address", "anna@home.test"}, {"type", "private"}},
                                {{"address", "anna2@work.test"}, {"type", "work"}}})}}},
      {"entity",
       {{"type", "deal"},
        {"id", "D1"},
        {"responsible", json::array({{{"id", "7"}, {"name", "Ольга"}, {"email", "olga@school.test"}},
                                     {{"id", "8"}, {"name", "Пётр"}, {"email", "petr@school.test"}}})}}}};
  json cfg = config(server_.starttls);
  cfg["from"] = "responsible";
  cfg["default_from"] = "noreply@system.test";
  fake::Host host("email");
  fake::Result r =
      send(host, cfg, {{"to", {{"type", "work"}, {"pick", "last"}}}, {"subject", "x"}, {"text", "x"}}, subject, "k1");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  json m = server_.message(1);
  EXPECT_EQ(m["rcpt_tos"], json::array({"anna2@work.test"}));
  EXPECT_EQ(m["headers"]["To"], "Анна <anna2@work.test>");
  EXPECT_EQ(m["headers"]["From"], "Ольга <olga@school.test>");
  // The account submits it: its address in MAIL FROM (a server refuses a
  // login sending as another) and in Sender.
  EXPECT_EQ(m["mail_from"], "noreply@system.test");
  EXPECT_EQ(m["headers"]["Sender"], "noreply@system.test");

  r = send(host, cfg, {{"to", {{"type", "private"}}}, {"subject", "x"}, {"text", "x"}}, subject, "k2");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(2)["rcpt_tos"], json::array({"anna@home.test"}));

  // No responsible manager: the system sender.
  json no_manager = subject;
  no_manager["entity"].erase("responsible");
  r = send(host, cfg, {{"to", {{"type", "any"}}}, {"subject", "x"}, {"text", "x"}}, no_manager, "k3");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(3)["mail_from"], "noreply@system.test");
  EXPECT_FALSE(server_.message(3)["headers"].contains("Sender"));  // the account's own From needs none

  // No deal (a client who registered): the contact's own manager.
  json client_only = subject;
  client_only.erase("entity");
  client_only["contact"]["responsible"] =
      json::array({{{"id", "9"}, {"name", "Ирина"}, {"email", "irina@school.test"}}});
  r = send(host, cfg, {{"to", {{"type", "any"}}}, {"subject", "x"}, {"text", "x"}}, client_only, "k5");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(4)["headers"]["From"], "Ирина <irina@school.test>");

  // No address of that type: unreachable, so a fallback moves on.
  r = send(host, cfg, {{"to", {{"type", "newsletter"}}}, {"subject", "x"}, {"text", "x"}}, subject, "k4");
  EXPECT_EQ(r.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_NE(r.reason.find("newsletter"), std::string::npos);

  // A manager's address the CRM holds wrong: the system sender sends it;
  // without one the step fails naming the address.
  json typo = subject;
  typo["entity"]["responsible"][0]["email"] = "olga at school";
  r = send(host, cfg, {{"to", {{"type", "any"}}}, {"subject", "x"}, {"text", "x"}}, typo, "k6");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(5)["headers"]["From"], "noreply@system.test");
  cfg.erase("default_from");
  r = send(host, cfg, {{"to", {{"type", "any"}}}, {"subject", "x"}, {"text", "x"}}, typo, "k7");
  EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_NE(r.reason.find("olga at school"), std::string::npos) << r.reason;
}

// The envelope sender is the account's mailbox: the fixed From, else the
// login when it is an address (a server refuses a login sending as another,
// 553); the system sender only when there is neither. A From the account
// sends as itself needs no Sender.
TEST_F(EmailPlugin, TheEnvelopeSenderIsTheMailboxTheLoginOwns) {
  json cfg = config(server_.starttls);  // from info@school.test, login "mailer"
  cfg["default_from"] = "noreply@system.test";
  fake::Host host("email");
  fake::Result r = send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}}, json::object(), "k1");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(1)["mail_from"], "info@school.test");
  EXPECT_FALSE(server_.message(1)["headers"].contains("Sender")) << server_.message(1).dump();

  cfg["smtp"]["username"] = "info@school.test";  // the school's mailbox logs in as itself
  r = send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}}, json::object(), "k2");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(2)["mail_from"], "info@school.test");
  EXPECT_FALSE(server_.message(2)["headers"].contains("Sender"));

  // A manager's From: still submitted by the login's mailbox, said in Sender.
  const json subject = {
      {"entity", {{"responsible", json::array({{{"id", "7"}, {"name", "Ольга"}, {"email", "olga@school.test"}}})}}}};
  r = send(host, cfg, {{"to", "a@b.test"}, {"from", "responsible"}, {"subject", "x"}, {"text", "x"}}, subject, "k3");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(3)["mail_from"], "info@school.test");
  EXPECT_EQ(server_.message(3)["headers"]["From"], "Ольга <olga@school.test>");
  EXPECT_EQ(server_.message(3)["headers"]["Sender"], "Школа танцев <info@school.test>");  // the fixed From
  // The step's "responsible" with no manager to send as: the fixed From, not the system sender.
  r = send(host, cfg, {{"to", "a@b.test"}, {"from", "responsible"}, {"subject", "x"}, {"text", "x"}}, json::object(),
           "k3b");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(4)["headers"]["From"], "Школа танцев <info@school.test>");

  // Managers send (no fixed From) and there is a system sender: the login's
  // mailbox still submits, not the system sender the server would refuse.
  cfg["from"] = "responsible";
  r = send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}}, subject, "k4");
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(server_.message(5)["mail_from"], "info@school.test");
  EXPECT_EQ(server_.message(5)["headers"]["Sender"], "info@school.test");
}

TEST_F(EmailPlugin, AttachmentsCannotLeaveTheirFolderOrExceedTheLimit) {
  const fs::path root = fs::temp_directory_path() / ("sb-attach-limit-" + std::to_string(::getpid()));
  fs::create_directories(root / "files");
  std::ofstream(root / "secret.txt") << "do not send";
  std::ofstream(root / "files" / "big.bin") << std::string(2000, 'x');
  fs::create_symlink(root / "secret.txt", root / "files" / "link.txt");
  json cfg = config(server_.starttls);
  cfg["attachments_dir"] = (root / "files").string();
  cfg["max_attachment_bytes"] = 1000;
  fake::Host host("email");
  for (const std::string& name :
       std::vector<std::string>{"../secret.txt", (root / "secret.txt").string(), "link.txt"}) {
    const fake::Result r =
        send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}, {"attachments", {name}}}, {}, name);
    EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS) << name;
    EXPECT_NE(r.reason.find("outside the attachments folder"), std::string::npos) << r.reason;
  }
  fake::Result r =
      send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}, {"attachments", {"big.bin"}}}, {}, "big");
  EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_NE(r.reason.find("1000 bytes"), std::string::npos) << r.reason;
  r = send(host, cfg, {{"to", "a@b.test"}, {"subject", "x"}, {"text", "x"}, {"attachments", {"none.pdf"}}}, {}, "no");
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(server_.messages(), 0);
  fs::remove_all(root);
}

// A record's file field as a template gives it: one URL alone, a list of
// URLs as items, or a field holding several files ({"url": [...]}): each a
// file at its URL, named after it; an error names where it is, not the URL.
TEST_F(EmailPlugin, AFileFieldOfSeveralUrlsAttachesEachFile) {
  json cfg = config(server_.starttls);
  cfg["attachment_origins"] = {"https://files.crm.test/"};
  fake::Host host("email");
  fake::Instance instance(library_, host, cfg.dump());
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  json params{{"to", "ivan@example.com"}, {"subject", "Документы"}, {"text", "Во вложении"}};
  params["attachments"] = {{{"url", {"https://files.crm.test/a/invoice.pdf", "https://files.crm.test/a/act.pdf"}}},
                           "https://files.crm.test/a/price.xlsx"};
  ASSERT_EQ(instance.invoke("send", params.dump(), "k-several"), SB_OK);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(host.sent.size(), i + 1);
    host.finish_http(i, 200, {}, "file " + std::to_string(i));
  }
  ASSERT_TRUE(host.wait_results(1));
  ASSERT_EQ(host.result(0).outcome, SB_OUTCOME_DONE) << host.result(0).reason;
  const json m = server_.message(1);
  ASSERT_EQ(m["attachments"].size(), 3u) << m.dump();
  EXPECT_EQ(m["attachments"][0]["filename"], "invoice.pdf");
  EXPECT_EQ(m["attachments"][1]["filename"], "act.pdf");
  EXPECT_EQ(m["attachments"][2]["filename"], "price.xlsx");
  // One URL alone, not in a list; one from elsewhere is named by its place.
  params["attachments"] = "https://files.crm.test/a/one.pdf";
  ASSERT_EQ(instance.invoke("send", params.dump(), "k-one"), SB_OK);
  ASSERT_EQ(host.sent.size(), 4u);
  EXPECT_EQ(host.sent[3].url, "https://files.crm.test/a/one.pdf");
  host.finish_http(3, 200, {}, "one");
  ASSERT_TRUE(host.wait_results(2));
  EXPECT_EQ(host.result(1).outcome, SB_OUTCOME_DONE) << host.result(1).reason;
  params["attachments"] = {{{"url", {"https://files.crm.test/a/ok.pdf", "https://evil.test/x.pdf?sig=s3cr3t"}}}};
  ASSERT_EQ(instance.invoke("send", params.dump(), "k-evil"), SB_OK);
  ASSERT_TRUE(host.wait_results(3));
  EXPECT_EQ(host.result(2).outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.result(2).reason,
            "/attachments/0/url/1: https://evil.test is not one of the instance's 'attachment_origins'");
}

// A file a CRM keeps at a URL (a deal's invoice field) is fetched from an
// origin the instance allows and attached under its URL's name or the one
// given; another origin is refused unsent, a missing file fails for good,
// a busy server is tried again later.
TEST_F(EmailPlugin, AFileAtAnAllowedUrlIsFetchedAndAttached) {
  json cfg = config(server_.starttls);
  cfg["attachment_origins"] = {"https://files.crm.test/"};
  fake::Host host("email");
  fake::Instance instance(library_, host, cfg.dump());
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  const std::string pdf = "%PDF-1.4 invoice " + std::string(300, 'x');
  const json params{{"to", "ivan@example.com"},
                    {"subject", "Счёт"},
                    {"text", "Счёт во вложении"},
                    {"attachments",
                     {{{"url", "https://files.crm.test/deals/42/%D0%A1%D1%87%D1%91%D1%82.pdf?sig=s3cr3t"}},
                      {{"url", "https://Files.CRM.test/f/77"}, {"name", "Договор"}}}}};
  ASSERT_EQ(instance.invoke("send", params.dump(), "exec-9:step-1"), SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);  // one file at a time
  EXPECT_EQ(host.sent[0].method, "GET");
  EXPECT_EQ(host.sent[0].url, "https://files.crm.test/deals/42/%D0%A1%D1%87%D1%91%D1%82.pdf?sig=s3cr3t");
  host.finish_http(0, 200, {{"Content-Type", "application/octet-stream"}}, pdf);
  ASSERT_EQ(host.sent.size(), 2u);
  EXPECT_EQ(host.sent[1].url, "https://Files.CRM.test/f/77");
  host.finish_http(1, 200, {{"Content-Type", "application/msword"}}, "the contract");
  ASSERT_TRUE(host.wait_results(1));
  ASSERT_EQ(host.result(0).outcome, SB_OUTCOME_DONE) << host.result(0).reason;
  const json m = server_.message(1);
  ASSERT_EQ(m["attachments"].size(), 2u) << m.dump();
  EXPECT_EQ(m["attachments"][0]["filename"], "Счёт.pdf");             // the URL's name, decoded
  EXPECT_EQ(m["attachments"][0]["content_type"], "application/pdf");  // by its name
  EXPECT_EQ(m["attachments"][0]["size"], pdf.size());
  EXPECT_EQ(m["attachments"][1]["filename"], "Договор");
  EXPECT_EQ(m["attachments"][1]["content_type"], "application/msword");  // no extension: as the server said
  EXPECT_EQ(m["attachments"][1]["size"], std::string("the contract").size());

  const auto attach = [&](const std::string& url, const std::string& key) {
    json p = params;
    p["attachments"] = {{{"url", url}}};
    EXPECT_EQ(instance.invoke("send", p.dump(), key), SB_OK);
  };
  const size_t sent = host.sent.size();
  attach("https://evil.test/x.pdf", "k-evil");  // not an allowed origin: nothing fetched
  EXPECT_EQ(host.sent.size(), sent);
  ASSERT_TRUE(host.wait_results(2));
  EXPECT_EQ(host.result(1).outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.result(1).reason,
            "/attachments/0/url: https://evil.test is not one of the instance's 'attachment_origins'");
  attach("https://files.crm.test/gone.pdf", "k-gone");
  host.finish_http(sent, 404);
  ASSERT_TRUE(host.wait_results(3));
  EXPECT_EQ(host.result(2).outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(host.result(2).reason, "/attachments/0: the file's server answered HTTP 404");
  attach("https://files.crm.test/busy.pdf?sig=s3cr3t", "k-busy");
  host.finish_http(sent + 1, 503);
  ASSERT_TRUE(host.wait_results(4));
  EXPECT_EQ(host.result(3).outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(host.result(3).reason.find("s3cr3t"), std::string::npos);  // a signed URL is not said
  attach("https://files.crm.test/huge.pdf", "k-huge");                 // past what the host's client takes
  host.finish_http(sent + 2, 0, {}, "", "response body larger than 16777216 bytes");
  ASSERT_TRUE(host.wait_results(5));
  EXPECT_EQ(host.result(4).outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(server_.messages(), 1);  // nothing of the failed ones

  // A server's type that is no plain media type is not copied into the message.
  attach("https://files.crm.test/f/79", "k-type");
  host.finish_http(sent + 3, 200, {{"Content-Type", "multipart/mixed; boundary=x"}}, "data");
  ASSERT_TRUE(host.wait_results(6));
  ASSERT_EQ(host.result(5).outcome, SB_OUTCOME_DONE) << host.result(5).reason;
  EXPECT_EQ(server_.message(2)["attachments"][0]["content_type"], "application/octet-stream");

  // The fetched bytes count toward the message's limit.
  json small = cfg;
  small["max_attachment_bytes"] = 100;
  fake::Instance limited(library_, host, small.dump());
  json p = params;
  p["attachments"] = {{{"url", "https://files.crm.test/big.pdf"}}};
  ASSERT_EQ(limited.invoke("send", p.dump(), "k-big"), SB_OK);
  host.finish_http(host.sent.size() - 1, 200, {}, std::string(101, 'x'));
  ASSERT_TRUE(host.wait_results(7));
  EXPECT_EQ(host.result(6).outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.result(6).reason, "/attachments/0: the attachments come to more than 100 bytes");

  fake::Instance bad(
      library_, host,
      json{{"from", "a@b.test"}, {"dry_run", true}, {"attachment_origins", {"https://x.test/files"}}}.dump());
  EXPECT_NE(bad.status(), SB_OK);
  EXPECT_NE(bad.error().find("is not an origin"), std::string::npos) << bad.error();
}

TEST_F(EmailPlugin, DryRunWritesTheOutboxAndSendsNothing) {
  fake::Host host("email");
  const json cfg = {{"from", "info@school.test"}, {"dry_run", true}};
  const fake::Result r =
      send(host, cfg,
           {{"to", "ivan@example.com"}, {"subject", "Тема"}, {"html", "<b>Привет</b>"}, {"category", "transactional"}});
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE);
  ASSERT_EQ(host.outbox.size(), 1u);
  const json record = json::parse(host.outbox[0]);
  EXPECT_EQ(record["channel"], "email");
  EXPECT_EQ(record["subject"], "Тема");
  EXPECT_EQ(record["text"], "Привет");
  EXPECT_EQ(record["category"], "transactional");
  EXPECT_EQ(record["message_id"], r.external_id);
  EXPECT_EQ(json::parse(r.output_json)["to"], "ivan@example.com");
  EXPECT_EQ(server_.messages(), 0);
}

TEST_F(EmailPlugin, TheSameStepKeyGivesTheSameMessageId) {
  fake::Host host("email");
  const json cfg = {{"from", "info@school.test"}, {"dry_run", true}};
  const json params = {{"to", "ivan@example.com"}, {"subject", "x"}, {"text", "x"}};
  const std::string first = send(host, cfg, params, {}, "exec-9:welcome").external_id;
  EXPECT_EQ(send(host, cfg, params, {}, "exec-9:welcome").external_id, first);
  EXPECT_NE(send(host, cfg, params, {}, "exec-9:reminder").external_id, first);
  EXPECT_NE(first.find("@school.test"), std::string::npos);
}

TEST_F(EmailPlugin, BadConfigIsRefusedWithTheReason) {
  fake::Host host("email");
  fake::Instance no_sender(library_, host, R"({"dry_run": true})");
  EXPECT_NE(no_sender.status(), SB_OK);
  EXPECT_NE(no_sender.error().find("default_from"), std::string::npos) << no_sender.error();
  fake::Instance no_server(library_, host, R"({"from": "a@b.test"})");
  EXPECT_NE(no_server.status(), SB_OK);
  EXPECT_NE(no_server.error().find("smtp.host"), std::string::npos) << no_server.error();
}

}  // namespace
