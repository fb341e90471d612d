// /t/: the tracked links the host seals for messages (util/TrackingTokens.h).
//   GET /t/o/<token>   a 1x1 GIF; the first open of a message becomes message.opened
//   GET /t/c/<token>   302 to the link's URL (only that one); message.clicked, once per link
//   GET /t/u/<token>   a page asking to confirm; POST (the page's button, or
//                      RFC 8058's one-click "List-Unsubscribe=One-Click") records
//                      the contact's opt-out of the channel's marketing messages:
//                      a contact.unsubscribed event that sets
//                      contact.preferences.<channel>.marketing to false.
// A token this host did not seal for that kind gets 404, and nothing is stored.
// Events carry data.message_id, data.channel and the execution, rule and
// step that sent the message, so a rule's wait_for can match them.
#pragma once

#include <functional>
#include <string>

#include "http/ServerConnection.h"
#include "util/TrackingTokens.h"

namespace sb {

class Counter;
class Metrics;
class Store;

class TrackingApi {
 public:
  // `on_stored` runs after an event was committed (it wakes the pipeline).
  TrackingApi(Store& store, const TrackingTokens& tokens, Metrics& metrics, std::function<void()> on_stored);

  void handle(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  // Stores the event the link stands for, then answers with `answer` (or
  // `failed` when the store could not commit).
  void store_event(const TrackedLink& link, const std::string& token, ServerResponse answer, ServerResponse failed,
                   ServerConnection::Reply reply);

  Store& store_;
  const TrackingTokens& tokens_;
  std::function<void()> on_stored_;
  Counter& opens_;
  Counter& clicks_;
  Counter& unsubscribes_;
  Counter& refused_;
};

}  // namespace sb
