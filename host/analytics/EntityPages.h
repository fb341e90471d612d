// The records a report counts, read a page at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "store/Store.h"

namespace sb {

// Hands each entity `query` selects (its bounds and type) to `each`, in key
// order, reading at most `most`. Whether every one was read; none when
// `stopping` said so between pages.
std::optional<bool> read_entities(Store& store, RecordQuery query, size_t most, const std::function<bool()>& stopping,
                                  const std::function<void(const StoredEntity&)>& each);

}  // namespace sb
