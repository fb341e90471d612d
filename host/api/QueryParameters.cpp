#include "api/QueryParameters.h"

#include <Poco/Exception.h>

#include <algorithm>
#include <set>

namespace sb {

QueryParameters read_query(const std::string& target, std::initializer_list<std::string_view> repeatable) {
  QueryParameters out;
  try {
    out.parameters = Poco::URI(target).getQueryParameters();
  } catch (const Poco::Exception&) {
    out.refusal = "malformed query string";
    return out;
  }
  const auto may_repeat = [&](std::string_view name) {
    return std::any_of(repeatable.begin(), repeatable.end(),
                       [&](std::string_view r) { return name == r || (r.ends_with('.') && name.starts_with(r)); });
  };
  std::set<std::string_view> seen;
  for (const auto& [name, value] : out.parameters)
    if (!seen.insert(name).second && !may_repeat(name)) {
      out.refusal = "'" + name + "' is given more than once: give it once";
      return out;
    }
  return out;
}

}  // namespace sb
