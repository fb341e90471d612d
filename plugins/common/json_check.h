// Checks JSON text without building a tree of it: for text a plugin only
// passes on (a request body into an event, a provider's answer into an
// action's output), a DOM parse plus a dump would cost far more than the
// check. Shared by the plugins built with Switchboard; header-only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchboard_plugins {

struct JsonCheck {
  bool valid = false;
  bool too_deep = false;  // valid so far but nested deeper than allowed
  bool is_object = false;
  std::string error;  // the parser's message when invalid
};

namespace detail {
// Counts nesting and stops at the first container deeper than `max_depth`.
class DepthCheck : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit DepthCheck(int max_depth) : max_depth_(max_depth) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }
  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  bool enter() {
    too_deep_ = ++depth_ > max_depth_;
    return !too_deep_;
  }
  bool leave() {
    --depth_;
    return true;
  }
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};
}  // namespace detail

// Whether `text` is one JSON value nested at most `max_depth` levels.
inline JsonCheck check_json(std::string_view text, int max_depth) {
  JsonCheck out;
  detail::DepthCheck sax(max_depth);
  out.valid =
      nlohmann::json::sax_parse(text, &sax, nlohmann::json::input_format_t::json, true, false) && !sax.too_deep();
  out.too_deep = sax.too_deep();
  if (!out.valid && !out.too_deep) {
    // Drop the "[json.exception.parse_error.101] " prefix: it means nothing to a sender.
    std::string_view what = sax.error();
    if (auto end = what.find("] "); !what.empty() && what.front() == '[' && end != std::string_view::npos)
      what.remove_prefix(end + 2);
    out.error = std::string(what);
  }
  const size_t first = text.find_first_not_of(" \t\r\n");
  out.is_object = out.valid && first != std::string_view::npos && text[first] == '{';
  return out;
}

}  // namespace switchboard_plugins
