// The "http" action plugin: "post" sends one JSON request through the host's
// asynchronous HTTP client and maps the answer to done / retry / permanent.
#include <memory>
#include <mutex>
#include <set>
#include <switchboard/plugin.hpp>

#include "deadline.h"
#include "http_config.h"
#include "http_schemas.h"
#include "post_request.h"
#include "response_mapping.h"

namespace http_plugin {

using switchboard::ActionResult;

// The endpoints that answered 410 Gone to an instance sending Standard
// Webhooks: the standard's sender disables them, so later steps fail at once
// instead of calling them again. Shared with the response callbacks, which
// may outlive the instance.
class GoneEndpoints {
 public:
  void add(const std::string& url) {
    std::lock_guard lock(mutex_);
    urls_.insert(url);
  }
  bool has(const std::string& url) const {
    std::lock_guard lock(mutex_);
    return urls_.count(url) != 0;
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> urls_;
};

class HttpAction : public switchboard::Plugin {
 public:
  HttpAction(switchboard::Host& host, std::string_view config_json)
      : host_(host), config_(HttpConfig::parse(config_json)) {
    // Its headers are often credentials: without a base_url they go to
    // whatever URL a step renders, event data included.
    if (!config_.headers.empty() && config_.base_url.empty())
      host_.warn(
          "http: the instance has headers and no 'base_url', so they go to any URL a step gives; set "
          "'base_url' to keep them to one server");
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    if (call.action != "post")
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    PostRequest request;
    try {
      request = PostRequest::from_params(config_, call.params_json, call.idempotency_key);
    } catch (const InvalidParams& e) {
      return done(ActionResult::invalid_params(e.what()));
    }
    if (config_.signing_key) {
      if (gone_->has(request.url))
        return done(ActionResult::permanent(
            "the endpoint answered 410 Gone: this instance sends it no more webhooks until the host restarts", "410"));
      request.sign(*config_.signing_key, host_.now_unix_ms() / 1000);
    }
    if (config_.dry_run) return record(request, std::move(done));
    send(request, call.deadline_unix_ms, std::move(done));
  }

 private:
  void record(const PostRequest& request, switchboard::Completion done) const {
    const std::string record =
        request.to_outbox_record().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!host_.outbox(record)) return done(ActionResult::retry("the host's outbox did not take the dry-run record"));
    done(ActionResult::done("dry-run"));
  }

  void send(const PostRequest& request, int64_t deadline_unix_ms, switchboard::Completion done) const {
    switchboard::HttpRequest out = request.to_http_request();
    // An answer after the step's deadline is thrown away by the host: stop waiting then.
    out.timeout_ms =
        switchboard_plugins::timeout_within_deadline(out.timeout_ms, deadline_unix_ms, host_.now_unix_ms());
    host_.count("http_requests_total");
    // Runs on a host I/O thread: only maps and completes, and touches nothing
    // of this instance, which the callback may outlive.
    auto on_response = [done, gone = config_.signing_key ? gone_ : nullptr,
                        url = request.url](const switchboard::HttpResponse& response) mutable {
      if (gone && response.status == 410) gone->add(url);
      done(map_response(response));
    };
    if (const sb_status status = host_.http(out, std::move(on_response)); status != SB_OK)
      done(status == SB_ERR_INVALID_ARGUMENT
               ? ActionResult::invalid_params("the host's HTTP client refused the request (invalid URL or headers)")
               : ActionResult::retry("the host's HTTP client did not take the request"));
  }

  switchboard::Host& host_;
  const HttpConfig config_;
  const std::shared_ptr<GoneEndpoints> gone_ = std::make_shared<GoneEndpoints>();
};

switchboard::PluginInfo http_info() {
  switchboard::PluginInfo info;
  info.name = "http";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description = "Sends JSON requests (POST, PUT, PATCH, DELETE, GET) to HTTP endpoints.";
  info.config_schema_json = std::string(http_schemas::schema_json);
  info.actions.push_back({"post",
                          "Sends one request with a JSON body and an Idempotency-Key header; 2xx is done, "
                          "408/425/429/5xx retry (Retry-After honoured), other statuses fail permanently.",
                          std::string(http_schemas::actions_post_json),
                          /*retry_safe=*/true});  // the Idempotency-Key header
  return info;
}

}  // namespace http_plugin

SWITCHBOARD_PLUGIN(http_plugin::HttpAction, http_plugin::http_info)
