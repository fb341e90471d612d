// The "email" plugin: one action, "send", through the account's own SMTP
// server (STARTTLS, implicit TLS, or plain when the config says so), from a
// thread of its own. The message is built here (mime.cpp); the host seals
// the tracked links and the unsubscribe link (switchboard.tracking/1).
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "addressing.h"
#include "attachments.h"
#include "deadline.h"
#include "email_schemas.h"
#include "hex.h"
#include "json_fields.h"
#include "link_tracking.h"
#include "mime.h"
#include "provider_answers.h"
#include "smtp_sender.h"
#include "url.h"

namespace email {

namespace {
using nlohmann::json;
using switchboard::ActionResult;

using switchboard_plugins::dump;

std::string sha256_hex(std::string_view bytes, size_t hex_chars) {
  return switchboard_plugins::digest_hex(EVP_sha256(), bytes).substr(0, hex_chars);
}

// "Мария <maria@example.com>" for people to read (the outbox), not encoded for the wire.
std::string readable(const Mailbox& mailbox) {
  return mailbox.name.empty() ? mailbox.address : one_line(mailbox.name) + " <" + mailbox.address + ">";
}

std::string domain_of(const std::string& address) { return address.substr(address.find('@') + 1); }

// The name given in EHLO, which RFC 5321 wants fully qualified: the
// config's, else this machine's host name when it is one, else the domain
// the instance sends from (a container's host name is a bare id, which a
// server checking HELO names refuses with a 5xx).
std::string helo_name(const json& config) {
  const json smtp = config.value("smtp", json::object());
  if (const std::string given = smtp.value("helo_name", ""); !given.empty()) return given;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0 && std::strchr(host, '.')) return host;
  for (const char* key : {"from", "default_from"})
    if (const std::string address = ascii_or_as_is(parse_mailbox(config.value(key, "")).address);
        address.find('@') != std::string::npos)
      return domain_of(address);
  // Only managers send ("from": "responsible"): the login's mailbox is the account's.
  if (const std::string login = smtp.value("username", ""); login.find('@') != std::string::npos)
    return domain_of(ascii_or_as_is(login));
  return "";
}

SmtpSettings smtp_settings(const json& config) {
  SmtpSettings s;
  const json smtp = config.value("smtp", json::object());
  s.host = smtp.value("host", "");
  s.security = smtp.value("security", "starttls");
  s.port = static_cast<uint16_t>(smtp.value("port", s.security == "tls" ? 465 : s.security == "none" ? 25 : 587));
  s.username = smtp.value("username", "");
  s.password = smtp.value("password", "");
  s.auth = smtp.value("auth", "");
  s.ca_file = smtp.value("ca_file", "");
  s.helo_name = helo_name(config);
  s.max_connections = config.value("max_connections", 4u);
  s.reuse_connections = config.value("reuse_connections", true);
  s.timeout_ms = config.value("timeout_ms", 30000u);
  return s;
}

ActionResult result_of(const SmtpOutcome& outcome, const std::string& message_id, const std::string& output) {
  switch (outcome.kind) {
    case SmtpOutcome::Kind::kSent:
      return ActionResult::done(message_id, output);
    case SmtpOutcome::Kind::kRetry:
      return ActionResult::retry(outcome.reason, 0, outcome.code);
    case SmtpOutcome::Kind::kUnreachable:
      return ActionResult::unreachable(outcome.reason, outcome.code);
    case SmtpOutcome::Kind::kPermanent:
      break;
  }
  return ActionResult::permanent(outcome.reason, outcome.code);
}
}  // namespace

class Email : public switchboard::Plugin {
 public:
  Email(switchboard::Host& host, std::string_view config_json)
      : Email(host, switchboard_plugins::config_object(config_json)) {}

  void stop() override {
    stopping_ = true;  // a fetch that ends now sends nothing
    if (sender_) sender_->stop();
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    if (call.action != "send")
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    const json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("the parameters must be a JSON object"));
    const json subject = json::parse(call.subject_json, nullptr, false);
    std::string error;

    Message message;
    const auto to = recipient(params.value("to", json()), subject, error);
    if (!to) return done(ActionResult::unreachable(error, "no_address"));
    // A step's "responsible" with no manager to send as: the account's own
    // sender (a fixed from), else the system one.
    const std::string& fallback = from_.empty() || from_ == "responsible" ? default_from_ : from_;
    const auto from = sender(params.value("from", from_), fallback, subject, error);
    if (!from) return done(ActionResult::invalid_params(error));
    message.to = *to;
    message.from = *from;
    // The account's mailbox submits it: a server refuses a login sending as
    // someone else in MAIL FROM ("sender address not owned by user"), and
    // bounces come back to the account. A manager's From is then also said
    // in Sender (RFC 5322 3.6.2).
    if (!account_.address.empty() && !same_address(account_.address, message.from.address)) message.sender = account_;
    if (const std::string reply_to = params.value("reply_to", reply_to_); !reply_to.empty()) {
      // An international domain in its ASCII form, as the recipient's.
      const auto reply = reply_to_mailbox(reply_to, error);
      if (!reply) return done(ActionResult::invalid_params("/reply_to: " + error));
      message.reply_to = *reply;
    }
    message.subject = params.value("subject", "");
    message.html = params.value("html", "");
    message.text = params.value("text", "");
    if (message.subject.empty() || (message.html.empty() && message.text.empty()))
      return done(ActionResult::invalid_params("'subject' and 'html' or 'text' are required"));
    const std::string category = params.value("category", "marketing");
    // The same Message-ID on every attempt: a receiving server or client can tell a repeat.
    message.message_id = sha256_hex(call.idempotency_key, 32) + "@" + domain_of(message.from.address);
    message.date_unix_ms = host_.now_unix_ms();

    AttachmentError attachment_error;
    auto sending = std::make_shared<Sending>(
        Sending{{}, std::string(call.idempotency_key), "", category, call.deadline_unix_ms, std::move(done), {}});
    // The step's files, then those every message of the instance carries.
    json files = params.value("attachments", json::array());
    if (files.is_string()) files = json::array({std::move(files)});  // one alone, as a template gave it
    if (files.is_array()) files.insert(files.end(), always_attached_.begin(), always_attached_.end());
    if (!load_attachments(files, attachments_dir_, attachment_origins_, max_attachment_bytes_, message.attachments,
                          sending->fetch, attachment_error))
      return sending->done(attachment_error.bad_params
                               ? ActionResult::invalid_params(attachment_error.message)
                               : ActionResult::permanent(attachment_error.message, "attachment"));
    if (is_the_contact(message.to, subject))
      add_tracking(call.idempotency_key, category, params.value("tracking", track_), message);
    else if (category == "marketing")
      message.list_unsubscribe_mailto = unsubscribe_mailto_;
    sending->output = dump(json{{"message_id", message.message_id},
                                {"to", message.to.address},
                                {"from", message.from.address},
                                {"category", category}});
    sending->message = std::move(message);
    fetch_next(std::move(sending));
  }

 private:
  // A message on its way: its files named by URL are fetched one after
  // another, then it is rendered and sent. Shared with the fetches'
  // callbacks.
  struct Sending {
    Message message;
    std::string key, output, category;
    int64_t deadline_ms = 0;
    switchboard::Completion done;
    std::vector<UrlAttachment> fetch;
    size_t fetched = 0;
  };

  void fetch_next(std::shared_ptr<Sending> s) {
    if (s->fetched == s->fetch.size()) {
      // The host gave up the step meanwhile (it reports a retry): no send it would not know of.
      if (s->deadline_ms > 0 && host_.now_unix_ms() >= s->deadline_ms)
        return s->done(ActionResult::retry("the step's time ran out while its attachments were fetched"));
      return deliver(*s);
    }
    switchboard::HttpRequest request;
    request.method = "GET";
    request.url = s->fetch[s->fetched].url;
    request.timeout_ms = switchboard_plugins::timeout_within_deadline(timeout_ms_, s->deadline_ms, host_.now_unix_ms());
    // Runs on a host I/O thread (the host answers every request before it destroys the instance).
    auto on_response = [this, s](const switchboard::HttpResponse& response) {
      try {
        if (stopping_) return s->done(ActionResult::retry("the instance stopped"));
        const UrlAttachment& file = s->fetch[s->fetched];
        if (auto failure = fetch_failure(response, file.where)) return s->done(*failure);
        uint64_t total = response.body.size();
        for (const Attachment& a : s->message.attachments) total += a.bytes.size();
        if (total > max_attachment_bytes_)
          return s->done(ActionResult::invalid_params(file.where + ": the attachments come to more than " +
                                                      std::to_string(max_attachment_bytes_) + " bytes"));
        Attachment& attachment = s->message.attachments.at(file.position);
        attachment.bytes = std::string(response.body);
        // A name without a known extension: the type the server said, if it is a plain one.
        if (attachment.content_type == "application/octet-stream")
          if (auto type = media_type(response.header("content-type"))) attachment.content_type = std::move(*type);
        ++s->fetched;
        fetch_next(s);
      } catch (const std::exception& e) {
        s->done(ActionResult::permanent(std::string("the message could not be made: ") + e.what(), "attachment"));
      }
    };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      s->done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

  // "type/subtype" of a server's Content-Type (its parameters left out),
  // when it is one: it goes into the message's own headers.
  static std::optional<std::string> media_type(std::optional<std::string_view> header) {
    if (!header) return std::nullopt;
    std::string_view type = header->substr(0, header->find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    const size_t slash = type.find('/');
    const bool token = std::all_of(type.begin(), type.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("!#$&^_.+-/").find(c) != std::string_view::npos;
    });
    if (!token || type.size() > 100 || slash == 0 || slash == std::string_view::npos || slash + 1 == type.size() ||
        type.find('/', slash + 1) != std::string_view::npos || type.rfind("multipart/", 0) == 0)
      return std::nullopt;
    return std::string(type);
  }

  // Why a fetched file cannot go: the server is away or busy (again,
  // later), or refused it for good, or the file is larger than the host
  // takes (for good too). The URL is not said: it may be signed. The host
  // follows no redirect: a 3xx is a refusal.
  static std::optional<ActionResult> fetch_failure(const switchboard::HttpResponse& response,
                                                   const std::string& where) {
    if (response.status == 0) {
      const std::string error(response.transport_error);
      // The host's client stops a body past its limit (http/OutboundConnection, CurlDriver).
      if (error.rfind("response body larger than", 0) == 0)
        return ActionResult::permanent(where + ": the file is larger than the host takes (" + error + ")",
                                       "attachment");
      return ActionResult::retry(where + ": the file's server did not answer: " + error);
    }
    if (response.status >= 200 && response.status < 300) return std::nullopt;
    const std::string why = where + ": the file's server answered HTTP " + std::to_string(response.status);
    if (response.status == 408 || response.status == 429 || response.status >= 500)
      return ActionResult::retry(why, switchboard_plugins::retry_after(response));
    return ActionResult::permanent(why, "attachment");
  }

  void deliver(Sending& s) {
    const Message& message = s.message;
    const std::string data = render(message, s.key);
    if (dry_run_) {
      json attachments = json::array();
      for (const Attachment& a : message.attachments)
        attachments.push_back({{"name", a.name}, {"bytes", a.bytes.size()}});
      json record{{"channel", "email"},
                  {"from", readable(message.from)},
                  {"to", readable(message.to)},
                  {"subject", message.subject},
                  {"text", message.text.empty() ? html_to_text(message.html) : message.text},
                  {"html", message.html},
                  {"attachments", attachments},
                  {"category", s.category},
                  {"message_id", message.message_id},
                  {"list_unsubscribe", message.list_unsubscribe_url},
                  {"idempotency_key", s.key}};
      // The rest of what the message's headers would say, for a rehearsal to show.
      if (!message.list_unsubscribe_mailto.empty()) record["list_unsubscribe_mailto"] = message.list_unsubscribe_mailto;
      if (!message.sender.address.empty()) record["sender"] = readable(message.sender);
      if (!message.reply_to.address.empty()) record["reply_to"] = readable(message.reply_to);
      if (!host_.outbox(dump(record))) return s.done(ActionResult::retry("the host's outbox did not take the record"));
      return s.done(ActionResult::done(message.message_id, s.output));
    }
    host_.count("email_sends_total");
    Envelope envelope{(message.sender.address.empty() ? message.from : message.sender).address, message.to.address,
                      data,
                      switchboard_plugins::timeout_within_deadline(timeout_ms_, s.deadline_ms, host_.now_unix_ms())};
    sender_->submit(std::move(envelope),
                    [done = s.done, message_id = message.message_id, output = s.output](const SmtpOutcome& outcome) {
                      done(result_of(outcome, message_id, output));
                    });
  }

  Email(switchboard::Host& host, const json& config)
      : host_(host),
        from_(config.value("from", "")),
        default_from_(config.value("default_from", "")),
        reply_to_(config.value("reply_to", "")),
        attachments_dir_(config.value("attachments_dir", "")),
        max_attachment_bytes_(config.value("max_attachment_bytes", uint64_t{10} << 20)),
        always_attached_(config.value("attachments", json::array())),
        attachment_origins_(attachment_origins(config)),
        unsubscribe_mailto_(unsubscribe_address(config.value("unsubscribe_mailto", ""))),
        account_(account_mailbox(config)),
        track_(config.value("tracking", true)),
        timeout_ms_(config.value("timeout_ms", 30000u)),
        dry_run_(config.value("dry_run", false)) {
    if (from_.empty() && default_from_.empty())
      throw switchboard::ConfigError("set 'from' (an address or \"responsible\") or 'default_from'");
    for (const std::string* address : {&from_, &default_from_})
      if (!address->empty() && *address != "responsible" && !valid_address(parse_mailbox(*address).address))
        throw switchboard::ConfigError("'" + *address + "' is not an email address");
    if (std::string error; !reply_to_.empty() && !reply_to_mailbox(reply_to_, error))
      throw switchboard::ConfigError("reply_to: " + error);
    if (dry_run_) return;
    SmtpSettings settings = smtp_settings(config);
    if (settings.host.empty()) throw switchboard::ConfigError("'smtp.host' is required unless 'dry_run' is true");
    if (settings.security == "none" && !settings.username.empty())
      host_.warn("email: SMTP without TLS sends the password in the clear (\"security\": \"none\")");
    sender_ = std::make_unique<SmtpSender>(std::move(settings));
  }

  // Tracked links and the open pixel in the HTML, and List-Unsubscribe on
  // marketing mail, when the host serves /t/ links: for a message to the
  // contact the call is about. Another recipient (a manager) would opt the
  // contact out, and their opens would count as the contact's.
  void add_tracking(std::string_view call_key, const std::string& category, bool tracking, Message& message) const {
    if (category == "marketing") {
      if (auto url = host_.tracking_link(call_key, "unsubscribe", "email", message.message_id))
        message.list_unsubscribe_url = *url;
      message.list_unsubscribe_mailto = unsubscribe_mailto_;
    }
    if (!tracking || message.html.empty()) return;
    const auto pixel = host_.tracking_link(call_key, "open", "email", message.message_id);
    if (!pixel) return;
    if (message.text.empty()) message.text = html_to_text(message.html);  // the plain links, not the tracked ones
    message.html = track_links(
        message.html,
        [&](const std::string& url) {
          return host_.tracking_link(call_key, "click", "email", message.message_id, url);
        },
        pixel);
  }

  // A Reply-To address as sent: checked, its domain in ASCII.
  static std::optional<Mailbox> reply_to_mailbox(const std::string& written, std::string& error) {
    Mailbox reply = parse_mailbox(written);
    if (!valid_address(reply.address)) {
      error = "'" + one_line(written) + "' is not an address";
      return std::nullopt;
    }
    auto ascii = ascii_address(reply.address, error);
    if (!ascii) return std::nullopt;
    reply.address = std::move(*ascii);
    return reply;
  }

  // The List-Unsubscribe mailto address: a URI holds ASCII only (RFC 6068).
  static std::string unsubscribe_address(const std::string& written) {
    if (written.empty()) return written;
    std::string error;
    const auto ascii = valid_address(written) ? ascii_address(written, error) : std::nullopt;
    if (!ascii)
      throw switchboard::ConfigError("unsubscribe_mailto: " +
                                     (error.empty() ? "'" + one_line(written) + "' is not an email address" : error));
    return *ascii;
  }

  // The origins files named by URL may come from, as "scheme://host[:port]".
  static std::vector<std::string> attachment_origins(const json& config) {
    std::vector<std::string> out;
    for (const json& given : config.value("attachment_origins", json::array())) {
      std::string text = given.is_string() ? given.get<std::string>() : "";
      const std::string origin = switchboard_plugins::is_base_url(text) ? switchboard_plugins::origin(text) : "";
      if (!text.empty() && text.back() == '/') text.pop_back();
      if (origin.empty() || origin.size() != text.size())  // a path, a query: not an origin
        throw switchboard::ConfigError("attachment_origins: '" +
                                       one_line(given.is_string() ? given.get<std::string>() : given.dump()) +
                                       "' is not an origin such as \"https://files.example.com\"");
      out.push_back(origin);
    }
    return out;
  }

  // The account's own mailbox: a fixed 'from' (the mailbox the admin says
  // the account sends as), else the SMTP login when it is an address (the
  // one the server knows the login owns), else the system sender; none when
  // only managers send.
  static Mailbox account_mailbox(const json& config) {
    const auto configured = [&config](const char* key) -> std::optional<Mailbox> {
      const std::string given = config.value(key, "");
      if (given.empty() || given == "responsible") return std::nullopt;
      Mailbox account = parse_mailbox(given);
      account.address = ascii_or_as_is(account.address);
      return account;
    };
    if (auto from = configured("from")) return *from;
    const std::string login = config.value("smtp", json::object()).value("username", "");
    if (login.find('@') != std::string::npos) return Mailbox{"", ascii_or_as_is(login)};
    return configured("default_from").value_or(Mailbox{});
  }

  switchboard::Host& host_;
  const std::string from_, default_from_, reply_to_, attachments_dir_;
  const uint64_t max_attachment_bytes_;
  const json always_attached_;                         // config "attachments": on every message
  const std::vector<std::string> attachment_origins_;  // where files named by URL may come from
  const std::string unsubscribe_mailto_;
  const Mailbox account_;
  const bool track_;
  const uint32_t timeout_ms_;
  const bool dry_run_;
  std::unique_ptr<SmtpSender> sender_;
  std::atomic<bool> stopping_{false};
};

switchboard::PluginInfo email_info() {
  switchboard::PluginInfo info;
  info.name = "email";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Email through the account's own SMTP server (STARTTLS or TLS), with tracked opens and clicks and one-click "
      "unsubscribe.";
  info.config_schema_json = std::string(email_schemas::schema_json);
  info.actions.push_back({"send", "One message to one recipient; the Message-ID is the external id.",
                          std::string(email_schemas::actions_send_json)});
  return info;
}

}  // namespace email

SWITCHBOARD_PLUGIN(email::Email, email::email_info)
