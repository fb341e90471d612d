// Files attached to a message: named by the action's `attachments` (a file
// name, or {"file", "name"}), read from the instance's attachments folder
// only. A name that would leave the folder (an absolute path, "..", a
// symbolic link pointing out) is refused, and so is a total over the limit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mime.h"

namespace email {

struct AttachmentError {
  bool bad_params = false;  // the rule's fault (a name or size), not a missing file
  std::string message;
};

// Reads every attachment `list` names; on failure returns false with `error`.
bool load_attachments(const nlohmann::json& list, const std::string& folder, uint64_t max_total_bytes,
                      std::vector<Attachment>& out, AttachmentError& error);

}  // namespace email
