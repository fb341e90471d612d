// The admin API over the CRM records the host keeps (Authorization: Bearer,
// api.admin_tokens), each list answering {"items": [...], "next": <cursor>}
// ("next" is null on the last page; pass it back as `cursor`):
//
//   GET /api/v1/contacts?tag=vip&field.city=Omsk&updated_after=..&limit=..&cursor=..
//   GET /api/v1/contacts/{id}/preferences                 what the contact chose per channel and category
//   PATCH /api/v1/contacts/{id}/preferences {"sms": {"marketing": false}}
//                                                         merged (null forgets a choice): a
//                                                         contact.preferences_changed event
//   GET /api/v1/entities?type=deal&status=won&tag=..&field.budget=..&updated_before=..
//   GET /api/v1/tasks?status=open&field.assignee.id=m1    (entities of type "task")
//   PATCH /api/v1/tasks/{id} {"status": "done"}           a task.status_changed event
//   GET /api/v1/segments                                  the segments the config declares (a dynamic
//                                                         one with its size at the last refresh)
//   GET /api/v1/segments/{name}/history                   a dynamic one's size, entered, left at each
//                                                         refresh, newest first
//   GET /api/v1/segments/{name}/members?tag=..            contacts in it, paged as contacts
//   POST /api/v1/segments/{name}/members {"contact": "<id>"}, DELETE .../members/{id}
//                                                         a contact.updated event (segment.entered / left follow)
//
// `status=` (empty) finds entities with no status. `field.<path>` compares
// the record's value at that dotted path (under "fields" first, then the
// record itself) with the text given. Times are RFC 3339. Records come in
// key order; a page may hold fewer than `limit` items when filters skip
// many rows (a page reads a bounded number), and `next` goes on from there.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/Config.h"
#include "http/BearerTokens.h"
#include "http/ServerConnection.h"

namespace sb {

class Store;
struct EventRecord;

class RecordsApi {
 public:
  // `stored` runs after a change is committed (it wakes the pipeline).
  RecordsApi(Store& store, std::vector<std::string> admin_tokens, std::map<std::string, SegmentConfig> segments,
             std::function<void()> stored);

  void contacts(ServerRequest&& request, ServerConnection::Reply reply);
  void entities(ServerRequest&& request, ServerConnection::Reply reply);
  void tasks(ServerRequest&& request, ServerConnection::Reply reply);
  void segments(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  void change_task(const std::string& id, const ServerRequest& request, ServerConnection::Reply reply);
  void one_contact(const std::string& contact, const ServerRequest& request, ServerConnection::Reply reply);
  void preferences(const std::string& contact, const ServerRequest& request, ServerConnection::Reply reply);
  // kIn, kOut: the contact is put in or taken out (of a dynamic segment by
  // a manager's choice, which its filter does not undo); kByFilter: a
  // dynamic segment's filter decides again.
  enum class Membership { kIn, kOut, kByFilter };
  void change_membership(const std::string& segment, const std::string& contact, Membership membership,
                         ServerConnection::Reply reply);
  nlohmann::json size_history(const std::string& segment) const;  // a dynamic segment's, oldest first
  // A segment as the segments list shows it.
  nlohmann::json segment_json(const std::string& name, const SegmentConfig& segment) const;
  // Stores a change the API makes as an event, answering `answer` once committed.
  void store_change(EventRecord event, nlohmann::json answer, ServerConnection::Reply reply);

  Store& store_;
  BearerTokens tokens_;
  const std::map<std::string, SegmentConfig> segments_;
  std::function<void()> stored_;
};

}  // namespace sb
