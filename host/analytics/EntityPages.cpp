#include "analytics/EntityPages.h"

#include <algorithm>

namespace sb {

std::optional<bool> read_entities(Store& store, RecordQuery query, size_t most, const std::function<bool()>& stopping,
                                  const std::function<void(const StoredEntity&)>& each) {
  query.after.clear();
  size_t read = 0;
  while (read < most) {
    if (stopping && stopping()) return std::nullopt;
    query.limit = std::min<size_t>(1000, most - read);
    const std::vector<StoredEntity> page = store.entities_page(query);
    for (const StoredEntity& entity : page) each(entity);
    if (!page.empty()) query.after = entity_cursor_key(page.back().type, page.back().id);
    read += page.size();
    if (page.size() < query.limit) return true;
  }
  // `most` read: complete when none is left after the last.
  query.limit = 1;
  return store.entities_page(query).empty();
}

}  // namespace sb
