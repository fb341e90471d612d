// The "tasks" action plugin: tasks for the account's managers ("call the
// client back by 18:00"), kept by the host as entities of type "task"
// through switchboard.crm/1, so that task.created, task.status_changed and
// task.field_changed reach rules like any other event.
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>
#include <utility>

#include "crm_change.h"
#include "deadline.h"
#include "serial_worker.h"
#include "tasks_schemas.h"

namespace tasks_plugin {

using nlohmann::json;
using switchboard::ActionResult;

// The outcome of an action made of several changes: done when all are, the
// first failure otherwise. Reported once, when the last change answers.
class Changes {
 public:
  // `listed_unchanged`: a task a change held back is still the action's (a
  // task completed twice is done either way); else only those it changed.
  Changes(size_t count, switchboard::Completion done, bool listed_unchanged = false)
      : left_(count), done_(done), listed_unchanged_(listed_unchanged) {}

  // `task_id` empty: the task the change created, whose id is its event's.
  void answered(sb_status status, std::string_view result, const std::string& task_id) {
    std::lock_guard lock(mutex_);
    if (status != SB_OK) {
      if (failure_.outcome == SB_OUTCOME_DONE) failure_ = switchboard_plugins::change_failed(status, result);
    } else if (!result.empty() || task_id.empty() || listed_unchanged_) {
      // (an empty answer for a task: it had moved on, unchanged)
      const std::string id = task_id.empty() ? std::string(result) : task_id;
      if (std::find(ids_.begin(), ids_.end(), id) == ids_.end()) ids_.push_back(id);
    }
    if (--left_ > 0) return;
    if (failure_.outcome != SB_OUTCOME_DONE) return done_(failure_);
    done_(ActionResult::done(ids_.empty() ? "" : ids_.front(), json{{"tasks", ids_}}.dump()));
  }

 private:
  std::mutex mutex_;
  size_t left_;
  switchboard::Completion done_;
  const bool listed_unchanged_;
  std::vector<std::string> ids_;
  ActionResult failure_;
};

// What an action's parameters mean for the task's fields, or why they mean nothing.
struct Invalid {
  std::string why;
};

class Tasks : public switchboard::Plugin {
 public:
  Tasks(switchboard::Host& host, std::string_view config_json) : host_(host) {
    const json config = json::parse(config_json, nullptr, false);
    methods_ = config.value("methods", std::vector<std::string>{"call", "letter", "meeting"});
    timezone_ = config.value("timezone", "");
    // Found now, not at the first deadline: a misspelt zone is the config's error.
    try {
      if (!timezone_.empty()) date::locate_zone(timezone_);
    } catch (const std::runtime_error&) {
      throw switchboard::ConfigError("/timezone: '" + timezone_ +
                                     "' is not an IANA time zone (such as \"Europe/Moscow\")");
    }
  }

  // Before the host stops its services: no query or change of the worker's comes later.
  void stop() override { worker_.stop(); }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    json params = json::parse(call.params_json, nullptr, false);
    json subject = json::parse(call.subject_json.empty() ? std::string_view("{}") : call.subject_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("parameters are not a JSON object"));
    switchboard_plugins::ids_as_text(params, {"/id", "/about/id", "/assignee/id"});
    // A deadline or reminder a template left empty ("{{data.remind_at|}}") is none.
    for (const char* optional : {"deadline", "reminder"})
      if (params.contains(optional) && params[optional] == "") params.erase(optional);
    if (!subject.is_object()) subject = json::object();
    if (!host_.has_crm()) return done(switchboard_plugins::change_refused(SB_ERR_UNSUPPORTED));
    try {
      if (call.action == "create") return create(call, params, subject, done);
      if (call.action == "update") return update(call, params, subject, done);
      if (call.action == "complete") return complete(call, params, subject, done);
      if (call.action == "cancel") return cancel(call, params, subject, done);
    } catch (const Invalid& e) {
      return done(ActionResult::invalid_params(e.why));
    }
    done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
  }

 private:
  std::string zone_of(const json& subject) const {
    if (!timezone_.empty()) return timezone_;
    const json* account = subject.contains("account") ? &subject["account"] : nullptr;
    if (account && account->contains("timezone") && (*account)["timezone"].is_string())
      return (*account)["timezone"].get<std::string>();
    return "UTC";
  }

  // The task's fields the parameters set (all of them but assignee and
  // about). `stored_deadline`: the task's own, which "1 hour before" counts
  // from when the parameters give none.
  json fields_of(const json& params, const json& subject, const std::string& stored_deadline = "") const {
    json fields = json::object();
    for (const char* name : {"title", "description", "goal", "priority", "category", "tags", "attachments"})
      if (params.contains(name)) fields[name] = params[name];
    // One note, or several: a list either way.
    if (params.contains("comments"))
      fields["comments"] = params["comments"].is_array() ? params["comments"] : json::array({params["comments"]});
    if (fields.contains("priority")) fields["priority"] = priority_word(fields["priority"].get<std::string>());
    if (params.contains("method")) {
      const std::string method = params["method"].get<std::string>();
      if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) {
        std::string known;
        for (const auto& m : methods_) known += (known.empty() ? "" : ", ") + m;
        throw Invalid{"/method: '" + method + "' is not one of this instance's methods (" + known + ")"};
      }
      fields["method"] = method;
    }
    const std::string zone = zone_of(subject);
    const int64_t now = host_.now_unix_ms();
    std::optional<int64_t> deadline;
    try {
      if (params.contains("deadline")) {
        deadline = resolve_deadline(params["deadline"].get<std::string>(), now, zone);
        if (!deadline)
          throw Invalid{"/deadline: '" + params["deadline"].get<std::string>() +
                        "' is not a deadline (\"today 18:00\", \"+1 day\", \"+3 business days\", \"within a week\" "
                        "or RFC 3339)"};
        fields["deadline"] = format_utc(*deadline);
      }
      if (params.contains("reminder")) {
        if (!deadline && !stored_deadline.empty()) deadline = resolve_deadline(stored_deadline, now, zone);
        auto at = resolve_reminder(params["reminder"].get<std::string>(), now, deadline, zone);
        if (!at)
          throw Invalid{"/reminder: '" + params["reminder"].get<std::string>() + "' is not a reminder time" +
                        (deadline ? "" : " (\"... before\" needs a deadline, and the task has none)")};
        fields["reminder"] = format_utc(*at);
      }
    } catch (const std::runtime_error& e) {
      throw Invalid{"the time zone '" + zone + "' is unknown: " + e.what()};
    }
    return fields;
  }

  // A priority as tasks keep it (a filter reads one word): the reference
  // CRMs' "низкая", "средняя", "высокая" are low, medium and high.
  static std::string priority_word(const std::string& given) {
    for (const auto& [russian, english] : {std::pair{"низкая", "low"},
                                           {"средняя", "medium"},
                                           {"высокая", "high"},
                                           {"Низкая", "low"},
                                           {"Средняя", "medium"},
                                           {"Высокая", "high"}})
      if (given == russian) return english;
    return given;
  }

  // A manager's id as text: CRMs number their users.
  static std::string id_text(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

  static bool is_mode(const std::string& text) {
    return text == "responsible" || text == "each_responsible" || text == "all" || text == "responsible_or_all";
  }

  // The mode a text not a manager's name was likely meant to be
  // ("responsibles", "Responsible", "Ответсвенные"): none when it is far
  // from each (distances in bytes: a Cyrillic letter is two).
  static std::string mode_meant(const std::string& text) {
    std::string lower;
    for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Levenshtein's distance, a row at a time.
    const auto distance = [](const std::string& a, const std::string& b) {
      std::vector<size_t> row(b.size() + 1);
      for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
      for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
          diagonal = std::exchange(row[j], std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])}));
      }
      return row[b.size()];
    };
    for (const std::string mode : {"responsible", "each_responsible", "responsible_or_all"})
      if (distance(lower, mode) <= 2) return mode;
    for (const std::string mode : {"Ответственные", "ответственные"})
      if (distance(text, mode) <= 4) return "responsible";
    return "";
  }

  // A manager a template named ("{{Менеджер}}" gives the responsible
  // manager's name): the record's manager of that id, else of that name,
  // else — unless the text is a misspelt mode — one known by the name alone
  // (a specialist the record names in a field).
  static json named_manager(const std::string& named, const std::vector<json>& managers) {
    for (const char* key : {"id", "name"})
      for (const json& m : managers)
        if (m.value(key, json()) == named) return m;
    if (const std::string meant = mode_meant(named); !meant.empty())
      throw Invalid{"/assignee: '" + named + "' is no manager of the record and no mode (did you mean '" + meant +
                    "'?)"};
    return {{"id", named}, {"name", named}};
  }

  // HolliHop's names of the modes, as its settings show them.
  static json mode_of(const json& assignee) {
    static const std::map<std::string, std::string> kRussian{{"Ответственные", "responsible"},
                                                             {"ответственные", "responsible"},
                                                             {"Для всех", "all"},
                                                             {"для всех", "all"},
                                                             {"Ответственный/Для всех", "responsible_or_all"},
                                                             {"ответственный/для всех", "responsible_or_all"}};
    if (!assignee.is_string()) return assignee;
    const auto it = kRussian.find(assignee.get<std::string>());
    return it == kRussian.end() ? assignee : json(it->second);
  }

  // The tasks to make, each as the managers it goes to; none is "for all".
  // "responsible": one task, every responsible manager in it (HolliHop);
  // "each_responsible": a task for each (Bitrix24's robot).
  static std::vector<std::vector<json>> assignees(const json& params, const json& about) {
    const json mode = mode_of(params.contains("assignee") ? params["assignee"] : json("responsible"));
    if (mode.is_object()) return {{mode}};
    if (mode == "all") return {{}};
    std::vector<json> managers;
    if (about.contains("responsible") && about["responsible"].is_array())
      for (const json& r : about["responsible"])
        if (r.is_object() && r.contains("id") && (r["id"].is_string() || r["id"].is_number_integer())) {
          json manager = r;
          manager["id"] = id_text(r["id"]);
          managers.push_back(std::move(manager));
        }
    if (mode.is_number_integer() || (mode.is_string() && !is_mode(mode.get<std::string>())))
      return {{named_manager(id_text(mode), managers)}};
    if (!managers.empty() && mode == "each_responsible") {
      std::vector<std::vector<json>> each;
      for (json& manager : managers) each.push_back({std::move(manager)});
      return each;
    }
    if (!managers.empty()) return {std::move(managers)};
    if (mode == "responsible_or_all") return {{}};
    // Named by its id, else (a contact known by an address) its first email or phone.
    std::string named = about.contains("id") ? id_text(about["id"]) : "";
    for (const auto& [list, field] : {std::pair{"emails", "address"}, std::pair{"phones", "number"}})
      if (named.empty() && about.contains(list) && about[list].is_array() && !about[list].empty() &&
          about[list][0].is_object() && about[list][0].contains(field))
        named = id_text(about[list][0][field]);
    throw Invalid{"/assignee: the " + about.value("type", std::string("event")) + (named.empty() ? "" : " " + named) +
                  " has no responsible manager (use \"all\" or \"responsible_or_all\")"};
  }

  void create(const switchboard::ActionCall& call, const json& params, const json& subject,
              switchboard::Completion done) {
    const json mode = mode_of(params.contains("assignee") ? params["assignee"] : json("responsible"));
    if (!params.contains("about") || mode.is_object() || mode == "all")
      return create_about(call.idempotency_key, params, subject,
                          params.contains("about") ? params["about"] : default_about(subject), done);
    // An entity named by `about` (a deal made by an earlier step): its
    // responsible managers are the host's to tell, read on the worker.
    fields_of(params, subject);  // a bad deadline is said now, not after the read
    worker_.post([this, key = std::string(call.idempotency_key), deadline = call.deadline_unix_ms, params, subject,
                  done](bool stopping) {
      if (stopping) return done(ActionResult::retry("the tasks instance is stopping"));
      if (deadline > 0 && host_.now_unix_ms() > deadline) return;  // given up on: the host runs it again
      json about = params["about"];
      if (about.contains("type") && about.contains("id") && about["type"].is_string() && about["id"].is_string()) {
        std::string stored;
        const sb_status read = host_.crm_get(about["type"].get<std::string>(), about["id"].get<std::string>(), stored);
        if (read != SB_OK && read != SB_ERR_NOT_FOUND)  // not "there is none": the store could not be read
          return done(ActionResult::retry("the host could not read the " + about["type"].get<std::string>() + " " +
                                          about["id"].get<std::string>()));
        const json entity = read == SB_OK ? json::parse(stored, nullptr, false) : json();
        if (entity.is_object() && entity.contains("data") && entity["data"].is_object() &&
            entity["data"].contains("responsible"))
          about["responsible"] = entity["data"]["responsible"];
      }
      try {
        create_about(key, params, subject, about, done);
      } catch (const Invalid& e) {
        done(ActionResult::invalid_params(e.why));
      } catch (const std::exception& e) {
        done(ActionResult::retry(std::string("the task could not be made: ") + e.what()));
      }
    });
  }

  void create_about(std::string_view call_key, const json& params, const json& subject, const json& about,
                    switchboard::Completion done) {
    json fields = fields_of(params, subject);
    fields.emplace("priority", "medium");
    // When it was set and done: the task analytics' completion time.
    fields["created_at"] = format_utc(host_.now_unix_ms());
    if (about.contains("type") && about.contains("id"))
      fields["about"] = {{"type", about["type"]}, {"id", about["id"]}};
    const std::vector<std::vector<json>> to = assignees(params, about);
    auto changes = std::make_shared<Changes>(to.size(), done);
    for (const std::vector<json>& managers : to) {
      // Keyed by its managers: the same task on every retry of the step.
      std::string key;
      for (const json& manager : managers) key += (key.empty() ? "" : ",") + id_text(manager["id"]);
      json task{{"type", "task"}, {"status", "open"}, {"fields", fields}};
      // `assignee` is the first (a manager's own tasks: field.assignees.id in the API).
      task["fields"]["assignee"] = managers.empty() ? json() : managers.front();
      if (!managers.empty()) {
        task["fields"]["assignees"] = managers;
        task["responsible"] = managers;
      }
      const json change{{"op", "create_entity"}, {"key", key.empty() ? "all" : key}, {"entity", task}};
      apply(call_key, change, changes, "");
    }
  }

  // What a task is about when the step does not say: the event's entity,
  // else its contact ("a client registered: a task for their manager").
  static json default_about(const json& subject) {
    if (const auto entity = subject.find("entity"); entity != subject.end() && entity->is_object()) return *entity;
    if (const auto contact = subject.find("contact"); contact != subject.end() && contact->is_object()) {
      json about = *contact;
      about["type"] = "contact";
      return about;
    }
    return json::object();
  }

  // The task a call changes: the one named, else the execution's own.
  static std::string task_id(const json& params, const json& subject) {
    if (params.contains("id")) return params["id"].get<std::string>();
    const json entity = subject.value("entity", json::object());
    if (entity.value("type", "") == "task" && entity.contains("id")) return entity["id"].get<std::string>();
    throw Invalid{"/id: the execution is not about a task, and no id names one"};
  }

  void update(const switchboard::ActionCall& call, const json& params, const json& subject,
              switchboard::Completion done) {
    const std::string id = task_id(params, subject);
    if (params.contains("reminder") && !params.contains("deadline") && is_relative(params["reminder"]))
      return update_on_worker(call, params, subject, id, done);
    update_task(call.idempotency_key, params, subject, id, "", done);
  }

  static bool is_relative(const json& reminder) { return counts_from_deadline(reminder.get<std::string>()); }

  // "1 hour before" with no new deadline: before the one the task has, read
  // on the worker, since reading the store may wait.
  void update_on_worker(const switchboard::ActionCall& call, const json& params, const json& subject,
                        const std::string& id, switchboard::Completion done) {
    worker_.post([this, key = std::string(call.idempotency_key), deadline = call.deadline_unix_ms, params, subject, id,
                  done](bool stopping) {
      if (stopping) return done(ActionResult::retry("the tasks instance is stopping"));
      if (deadline > 0 && host_.now_unix_ms() > deadline) return;  // given up on: the host runs it again
      std::string stored;
      const sb_status read = host_.crm_get("task", id, stored);
      if (read == SB_ERR_NOT_FOUND) return done(ActionResult::invalid_params("/id: there is no task '" + id + "'"));
      if (read != SB_OK) return done(ActionResult::retry("the host could not read the task " + id));
      const json task = json::parse(stored, nullptr, false);
      const json* due = task.is_object() ? &task : nullptr;
      for (const char* key : {"data", "fields", "deadline"})
        due = due && due->is_object() && due->contains(key) ? &(*due)[key] : nullptr;
      try {
        update_task(key, params, subject, id, due && due->is_string() ? due->get<std::string>() : "", done);
      } catch (const Invalid& e) {
        done(ActionResult::invalid_params(e.why));
      } catch (const std::exception& e) {
        done(ActionResult::retry(std::string("the task could not be changed: ") + e.what()));
      }
    });
  }

  void update_task(std::string_view call_key, const json& params, const json& subject, const std::string& id,
                   const std::string& stored_deadline, switchboard::Completion done) {
    json fields = fields_of(params, subject, stored_deadline);
    if (params.contains("assignee")) {
      // Merged into the stored fields: the previous manager's name and email go unless given.
      json assignee = params["assignee"];
      if (assignee.is_object())
        for (const char* key : {"name", "email", "phone"}) assignee.emplace(key, nullptr);
      fields["assignee"] = assignee;
      fields["assignees"] = json::array({params["assignee"]});  // a manager's own tasks are found by it
    }
    std::vector<json> changes;
    if (!fields.empty()) {
      json change{{"op", "set_fields"},
                  {"key", "fields"},
                  {"record", "entity"},
                  {"must_exist", true},
                  {"entity", {{"type", "task"}, {"id", id}}},
                  {"fields", fields}};
      // Given to another manager: {{entity.responsible.0.name}} names them.
      if (params.contains("assignee")) change["responsible"] = json::array({params["assignee"]});
      changes.push_back(std::move(change));
    }
    if (params.contains("status")) changes.push_back(status_change(id, params["status"]));
    if (changes.empty()) throw Invalid{"nothing to change: name a field or the status"};
    auto pending = std::make_shared<Changes>(changes.size(), done, true);
    for (const json& change : changes) apply(call_key, change, pending, id);
  }

  // A move to `status`, with the time it was done or cancelled (the task
  // analytics' times) in the same change: set by a move to done or
  // cancelled (a task done or cancelled already keeps its time: the move
  // does not hold), both cleared by any other.
  json status_change(const std::string& id, const json& status) const {
    json change{{"op", "set_status"},
                {"key", "status"},
                {"must_exist", true},
                {"entity", {{"type", "task"}, {"id", id}}},
                {"status", status}};
    const json now = format_utc(host_.now_unix_ms());
    change["fields"] = {{"completed_at", status == "done" ? now : json()},
                        {"cancelled_at", status == "cancelled" ? now : json()}};
    json others = json::array({"open", "in_progress", "done", "cancelled", nullptr});
    others.erase(std::remove(others.begin(), others.end(), status), others.end());
    if (status == "done" || status == "cancelled") change["if_status"] = std::move(others);
    return change;
  }

  void complete(const switchboard::ActionCall& call, const json& params, const json& subject,
                switchboard::Completion done) {
    const std::string id = task_id(params, subject);
    // A task cancelled stays cancelled, result and all: a rule's "done"
    // comes too late for it. (What came of it goes with the move.)
    json to_done = status_change(id, "done");
    to_done["if_status"] = {"open", "in_progress", nullptr};
    if (params.contains("result")) to_done["fields"]["result"] = params["result"];
    apply(call.idempotency_key, to_done, std::make_shared<Changes>(1, done, true), id);
  }

  // One task by id (or the execution's own), else every task still open
  // about the entity: read on the worker, since the query reads the store.
  void cancel(const switchboard::ActionCall& call, const json& params, const json& subject,
              switchboard::Completion done) {
    if (params.contains("id") && params.contains("about"))
      throw Invalid{"/about: name one task by id or the entity whose tasks are cancelled, not both"};
    const json entity = subject.value("entity", json::object());
    if (params.contains("id") || (!params.contains("about") && entity.value("type", "") == "task")) {
      const std::string id = task_id(params, subject);
      return apply(call.idempotency_key, cancellation(id), std::make_shared<Changes>(1, done), id);
    }
    // As create reads it: the event's entity, else its contact.
    const json about = params.contains("about") ? params["about"] : default_about(subject);
    if (!about.contains("type") || !about.contains("id"))
      throw Invalid{"/about: the execution is about no entity or contact, and neither about nor id names one"};
    const json filter{{"all",
                       {{{"field", "entity.fields.about.type"}, {"op", "="}, {"value", about["type"]}},
                        {{"field", "entity.fields.about.id"}, {"op", "="}, {"value", about["id"]}},
                        {{"field", "entity.status"}, {"op", "in"}, {"value", {"open", "in_progress"}}}}}};
    worker_.post([this, key = std::string(call.idempotency_key), deadline = call.deadline_unix_ms,
                  filter = filter.dump(), done](bool stopping) {
      if (stopping) return done(ActionResult::retry("the tasks instance is stopping"));
      // Queued past the call's deadline: the host has given up on it and will run it again.
      if (deadline > 0 && host_.now_unix_ms() > deadline) return;
      try {
        cancel_found(key, filter, done);
      } catch (const std::exception& e) {
        done(ActionResult::retry(std::string("the tasks could not be cancelled: ") + e.what()));
      }
    });
  }

  // On the worker: the open tasks the filter finds, each cancelled.
  void cancel_found(const std::string& key, const std::string& filter, switchboard::Completion done) {
    std::vector<std::string> ids;
    for (std::string after;;) {
      const auto page = host_.crm_query_entities("task", filter, after, 1000);
      const json found = page ? json::parse(*page, nullptr, false) : json();
      if (!found.is_object()) return done(ActionResult::retry("the host could not list the tasks"));
      for (const json& task : found.value("items", json::array()))
        if (task.is_object() && task.contains("id") && task["id"].is_string()) ids.push_back(task["id"]);
      const json next = found.value("next", json());
      if (!next.is_string()) break;
      after = next.get<std::string>();
    }
    if (ids.empty()) return done(ActionResult::done("", json{{"tasks", json::array()}}.dump()));
    auto changes = std::make_shared<Changes>(ids.size(), done);
    for (const std::string& id : ids) apply(key, cancellation(id), changes, id);
  }

  // Keyed by the task, so that a retry finding fewer open tasks changes none
  // twice; applied only while the task is still open, so that one marked
  // done since it was found stays done.
  json cancellation(const std::string& task_id) const {
    return {{"op", "set_status"},
            {"key", "cancel:" + task_id},
            {"must_exist", true},
            {"if_status", {"open", "in_progress"}},
            {"entity", {{"type", "task"}, {"id", task_id}}},
            {"status", "cancelled"},
            {"fields", {{"cancelled_at", format_utc(host_.now_unix_ms())}, {"completed_at", nullptr}}}};
  }

  void apply(std::string_view call_key, const json& change, const std::shared_ptr<Changes>& changes,
             const std::string& task_id) {
    const sb_status status =
        host_.crm_apply(call_key, change.dump(),
                        [changes, task_id](sb_status s, std::string_view r) { changes->answered(s, r, task_id); });
    if (status != SB_OK)  // no call in flight with that key: the parameters' fault; the host stopping: later
      changes->answered(status, "the host refused the change for this call", task_id);
  }

  switchboard::Host& host_;
  std::vector<std::string> methods_;
  std::string timezone_;
  switchboard_plugins::SerialWorker worker_;  // last: its jobs use the rest
};

switchboard::PluginInfo tasks_info() {
  switchboard::PluginInfo info;
  info.name = "tasks";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Tasks for the account's managers (call, letter, meeting) with deadlines in the account's time zone, kept by "
      "the host as entities of type task: task.created, task.status_changed, task.field_changed, task.overdue, "
      "task.reminder.";
  info.config_schema_json = std::string(tasks_schemas::schema_json);
  const auto action = [&](const char* name, const char* description, std::string_view schema) {
    switchboard::Capability c{name, description, std::string(schema)};
    c.retry_safe = true;  // each change is stored once per step key
    info.actions.push_back(std::move(c));
  };
  action("create", "Creates a task for the responsible managers of the entity (or one for each), or one for all.",
         tasks_schemas::actions_create_json);
  action("update", "Changes a task's fields or status.", tasks_schemas::actions_update_json);
  action("complete", "Marks a task done.", tasks_schemas::actions_complete_json);
  action("cancel", "Cancels the open tasks about the entity, or one task.", tasks_schemas::actions_cancel_json);
  return info;
}

}  // namespace tasks_plugin

SWITCHBOARD_PLUGIN(tasks_plugin::Tasks, tasks_plugin::tasks_info)
