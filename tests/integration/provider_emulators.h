// What the providers refuse, for the HTTP sinks that stand in for them: each
// checker answers a request the provider would refuse with that provider's
// own error (status and body), and lets through what it would take.
#pragma once

#include <string>

#include "integration/test_support.h"

namespace sb::test {

// WhatsApp Cloud API, POST /v{N}/{phone-number-id}/messages: the Bearer
// token (401, OAuthException 190), a JSON body with messaging_product
// "whatsapp", "to", and a text's body or a template's name and language code
// (400, code 100).
HttpSink::Checker whatsapp_cloud_api(const std::string& access_token, const std::string& phone_number_id);

// SMS.ru, POST /sms/send: api_id (status_code 200 "Неправильный api_id"),
// "to" and "msg" (202, 203), answered as SMS.ru does with HTTP 200; without
// json=1, in its plain-text lines.
HttpSink::Checker sms_ru_checks(const std::string& api_id);

// Twilio, POST /2010-04-01/Accounts/{Sid}/Messages.json: Basic auth of the
// account's sid and token (401, code 20003), To (21604), From or
// MessagingServiceSid (21603), Body (21602).
HttpSink::Checker twilio_messages(const std::string& account_sid, const std::string& auth_token);

}  // namespace sb::test
