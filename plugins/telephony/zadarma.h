// Zadarma: its API places no call that speaks a text (providers.md); it
// connects two parties (GET /v1/request/callback/): the client and
// a manager's number, SIP or PBX extension, or a PBX scenario that plays a
// recording. Requests are signed as its official client signs them; the
// outcomes come as its PBX notifications (NOTIFY_OUT_END), signed too.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "providers.h"

namespace telephony {

std::unique_ptr<Provider> make_zadarma(const nlohmann::json& config);

}  // namespace telephony
