// The keys wait_for steps park under and awaited events are looked up by.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sb {

// The key an awaited event is found by: what the wait awaits (its
// awaited_types) and the matched values.
std::string arrival_key(const std::string& awaited, const std::vector<std::pair<std::string, std::string>>& matched);

// What a wait_for awaits: the types that take its then steps, then each
// type that ends it with the else steps, marked with '!'
// ("call.answered|!call.no_answer|!call.busy",
// "message.opened|message.clicked"); a type alone is just the type, as it
// was before else_on.
std::string awaited_types(const std::vector<std::string>& types, const std::vector<std::string>& else_on);

// True when an event of `type` that arrived under `key` takes the else steps.
bool takes_else(const std::string& key, const std::string& type);

}  // namespace sb
