#include "store/MessageReports.h"

namespace sb {

std::string reported_message_id(const std::string& type, const nlohmann::json& event) {
  if (!type.starts_with("message.") || type == "message.received" || !event.is_object()) return {};
  const auto data = event.find("data");
  if (data == event.end() || !data->is_object()) return {};
  const auto id = data->find(type == "message.replied" ? "in_reply_to" : "message_id");
  if (id == data->end()) return {};
  std::string text = id->is_string() ? id->get<std::string>() : id->is_number_integer() ? id->dump() : "";
  if (text.size() > kMostMessageIdBytes || text.find('\0') != std::string::npos) return {};
  return text;
}

}  // namespace sb
