// One call a step asks for, and what a provider reports about it later.
#pragma once

#include <string>

namespace telephony {

struct Call {
  std::string to;    // E.164, "+79990001122"
  std::string from;  // the instance's outgoing number
  std::string text;  // say: what the call speaks ...
  std::string url;   // ... or play: the recording it plays
  // ... or connect: the manager's number (or SIP, PBX extension, PBX
  // scenario) the client is joined to; the client is called first unless
  // `client_first` is false.
  std::string connect;
  std::string connect_e164;  // `connect` as a phone number, when it is one
  bool client_first = true;
  std::string voice, language;
  int speed = 100;    // percent of the voice's normal rate
  int volume_db = 0;  // above or below its normal volume
  int repeat = 1;
  std::string reference;  // the step's idempotency key
  bool says() const { return !text.empty(); }
  bool connects() const { return !connect.empty(); }
};

// A verified status report: the call it is about and how it went.
struct Outcome {
  std::string call_id;
  std::string status;  // answered, completed, no_answer, busy or failed
  std::string provider_status;
  int duration_s = -1;  // known once the call ended
  std::string to, from;
  std::string answered_by = {};  // Twilio's machine detection: human, machine_start, machine_end_beep, fax, ...
};

}  // namespace telephony
