// A request's query parameters as the admin APIs read them: each name once.
// A list given `?limit=1&limit=2` would otherwise be read with one of them
// and the other dropped without a word.
#pragma once

#include <Poco/URI.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

// The parameters of `target`, or the reason they cannot be read: a
// malformed query, or a name given twice that is not one of `repeatable`
// (?tag=a&tag=b asks for both tags; "field." stands for every name it
// begins).
struct QueryParameters {
  Poco::URI::QueryParameters parameters;
  std::optional<std::string> refusal;
};
QueryParameters read_query(const std::string& target, std::initializer_list<std::string_view> repeatable = {});

}  // namespace sb
