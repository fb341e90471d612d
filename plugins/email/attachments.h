// Files attached to a message: named by the action's `attachments` (a file
// name, or {"file", "name"}), read from the instance's attachments folder
// only. A name that would leave the folder (an absolute path, "..", a
// symbolic link pointing out) is refused, and so is a total over the limit.
// Or a file a CRM keeps at a URL ({"url", "name"}, a record's field), from
// an origin the instance allows (attachment_origins): fetched as the
// message is sent.
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

// An attachment named by URL, to fetch: `out[position]` holds its place
// (and name) until its bytes come.
struct UrlAttachment {
  std::string url;
  size_t position = 0;
  std::string where;  // "/attachments/2", for its errors
};

// Reads every file `list` names into `out`, in order, and lists those named
// by URL in `fetch`; on failure returns false with `error`.
bool load_attachments(const nlohmann::json& list, const std::string& folder,
                      const std::vector<std::string>& url_origins, uint64_t max_total_bytes,
                      std::vector<Attachment>& out, std::vector<UrlAttachment>& fetch, AttachmentError& error);

}  // namespace email
