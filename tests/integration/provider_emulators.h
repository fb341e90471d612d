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

// Zadarma, GET /v1/request/callback/: the Authorization "<key>:<signature>"
// the official client (zadarma/user-api-v1) computes, checked here by its own
// steps (401 "Not authorized"); from, to and format=json (400). Answers
// {"status": "success", "from", "to", "time"}.
HttpSink::Checker zadarma_callback(const std::string& key, const std::string& secret);

// SMS.ru, POST /sms/send: api_id (status_code 200 "Неправильный api_id"),
// "to" and "msg" (202, 203), answered as SMS.ru does with HTTP 200; without
// json=1, in its plain-text lines.
HttpSink::Checker sms_ru_checks(const std::string& api_id);

// Twilio, POST /2010-04-01/Accounts/{Sid}/Messages.json: Basic auth of the
// account's sid and token (401, code 20003), To (21604), From or
// MessagingServiceSid (21603), Body (21602).
HttpSink::Checker twilio_messages(const std::string& account_sid, const std::string& auth_token);

// FCM HTTP v1 with a service account whose key is fake::test_key(): POST
// /token takes an RS256 JWT assertion (jwt-bearer grant) from
// `client_email` with the firebase.messaging scope, this endpoint as its
// audience and at most an hour to live (400 invalid_grant otherwise);
// POST /v1/projects/{project}/messages:send needs "Bearer `access_token`"
// (401 UNAUTHENTICATED) and a message with a device token (400
// INVALID_ARGUMENT, FCM's error details).
HttpSink::Checker fcm(const std::string& project_id, const std::string& client_email, const std::string& token_url,
                      const std::string& access_token);

}  // namespace sb::test
