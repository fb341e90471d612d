#include "rules/Condition.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kContains, kIn, kExists, kBefore, kAfter };

std::optional<Op> op_named(const std::string& s) {
  static const std::pair<const char*, Op> kOps[] = {{"=", Op::kEq},
                                                    {"!=", Op::kNe},
                                                    {"<", Op::kLt},
                                                    {"<=", Op::kLe},
                                                    {">", Op::kGt},
                                                    {">=", Op::kGe},
                                                    {"contains", Op::kContains},
                                                    {"in", Op::kIn},
                                                    {"exists", Op::kExists},
                                                    {"before", Op::kBefore},
                                                    {"after", Op::kAfter}};
  for (const auto& [name, op] : kOps)
    if (s == name) return op;
  return std::nullopt;
}

// "now", "now-2d", "now+1h", an RFC 3339 time or a date alone (a local day).
struct TimeValue {
  bool relative = false;
  int64_t ms = 0;    // offset from now, or the time itself
  std::string date;  // a date alone: its day begins on the local clock
};

std::optional<TimeValue> parse_time_value(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string s = v.get<std::string>();
  if (s == "now") return TimeValue{true, 0, {}};
  if (s.rfind("now", 0) == 0)
    if (auto d = parse_duration_ms(s.substr(3)); d && (s[3] == '+' || s[3] == '-')) return TimeValue{true, *d, {}};
  if (auto t = parse_time_ms(s)) return TimeValue{false, *t, is_date_only(s) ? s : std::string()};
  return std::nullopt;
}

// Whose local days a condition counts in: the contact's "timezone", else the
// condition's own, else the account's ("account.timezone"), else UTC.
class LocalZone {
 public:
  explicit LocalZone(std::string own) : own_(std::move(own)) {}
  std::string of(const json& context) const {
    const auto named = [&](const char* path) {
      const json* z = lookup_path(context, path);
      return z && z->is_string() && is_time_zone(z->get<std::string>()) ? z->get<std::string>() : std::string();
    };
    if (std::string zone = named("contact.timezone"); !zone.empty()) return zone;
    if (!own_.empty()) return own_;
    if (std::string zone = named("account.timezone"); !zone.empty()) return zone;
    return "UTC";
  }

 private:
  std::string own_;
};

// Both as numbers: two numbers, or a number and a number sent as text.
std::optional<std::pair<double, double>> as_numbers(const json& a, const json& b) {
  const auto number = [](const json& v) -> std::optional<double> {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) return number_in_text(v.get_ref<const std::string&>());
    return std::nullopt;
  };
  if (!a.is_number() && !b.is_number()) return std::nullopt;
  const auto x = number(a), y = number(b);
  if (!x || !y) return std::nullopt;
  return std::make_pair(*x, *y);
}

// Numbers with numbers (a number sent as text is one), strings with
// strings; anything else is unordered.
std::optional<int> compare(const json& a, const json& b) {
  if (const auto numbers = as_numbers(a, b)) {
    const auto [x, y] = *numbers;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return std::nullopt;
}

bool equal(const json& a, const json& b) {
  if (const auto numbers = as_numbers(a, b)) return numbers->first == numbers->second;
  return a == b;
}

// A list field (tags) equals one value when it holds it: "tags = VIP", as
// the reference CRMs' "the tag is VIP", is "tagged VIP".
bool holds(const json& field, const json& value) {
  if (field.is_array() && !value.is_array())
    return std::any_of(field.begin(), field.end(), [&](const json& item) { return equal(item, value); });
  return equal(field, value);
}

class FieldCondition final : public Condition {
 public:
  FieldCondition(std::string field, Op op, json value) : field_(std::move(field)), op_(op), value_(std::move(value)) {}

  bool matches(const json& context, int64_t) const override {
    const json* v = lookup_path(context, field_);
    if (op_ == Op::kExists) return v != nullptr;
    // A field with no value is null, and is not any other value ("no status": {"data.status": null}).
    if (!v) {
      if (op_ == Op::kIn) return std::any_of(value_.begin(), value_.end(), [](const json& x) { return x.is_null(); });
      return value_.is_null() ? op_ == Op::kEq : op_ == Op::kNe;
    }
    switch (op_) {
      case Op::kEq:
        return holds(*v, value_);
      case Op::kNe:
        return !holds(*v, value_);
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        auto c = compare(*v, value_);
        if (!c) return false;
        return op_ == Op::kLt ? *c < 0 : op_ == Op::kLe ? *c <= 0 : op_ == Op::kGt ? *c > 0 : *c >= 0;
      }
      case Op::kContains:
        if (v->is_string() && value_.is_string())
          return v->get_ref<const std::string&>().find(value_.get_ref<const std::string&>()) != std::string::npos;
        if (v->is_array()) {
          for (const json& item : *v)
            if (equal(item, value_)) return true;
          return false;
        }
        if (v->is_object() && value_.is_string()) return v->contains(value_.get<std::string>());
        return false;
      case Op::kIn:
        // A list field (tags) is in when one of its items is: "tags in
        // [vip, gold]" holds for a contact tagged vip.
        for (const json& item : value_) {
          if (equal(*v, item)) return true;
          if (v->is_array() && std::any_of(v->begin(), v->end(), [&](const json& x) { return equal(x, item); }))
            return true;
        }
        return false;
      case Op::kBefore:
      case Op::kAfter:  // TimeCondition's
      case Op::kExists:
        break;
    }
    return false;
  }

 private:
  std::string field_;
  Op op_;
  json value_;
};

// A time field before or after a time: RFC 3339, a date alone (a
// date-only booking or deadline), which is the moment its day begins on the
// local clock (LocalZone), as wait_until reads it, not UTC midnight, or a
// date and time without an offset, on that clock.
class TimeCondition final : public Condition {
 public:
  TimeCondition(std::string field, bool before, TimeValue bound, std::string zone)
      : field_(std::move(field)), before_(before), bound_(std::move(bound)), zone_(std::move(zone)) {}

  bool matches(const json& context, int64_t now) const override {
    const json* v = lookup_path(context, field_);
    if (!v || !v->is_string()) return false;
    const std::string& text = v->get_ref<const std::string&>();
    const bool local = is_local_time(text) || !bound_.date.empty();
    const std::string zone = local ? zone_.of(context) : std::string();
    const auto t = local ? parse_local_time_ms(text, zone) : parse_time_ms(text);  // every zone here was found
    if (!t) return false;
    const int64_t bound = bound_.relative       ? now + bound_.ms
                          : bound_.date.empty() ? bound_.ms
                                                : *parse_local_time_ms(bound_.date, zone);
    return before_ ? *t < bound : *t > bound;
  }

 private:
  std::string field_;
  bool before_;
  TimeValue bound_;
  LocalZone zone_;
};

// A date that comes back every year (a birthday, an anniversary of the first
// visit) falls in a period around now: {"op": "anniversary", "value":
// "this_month"}. Local days are the contact's ("contact.timezone"), else the
// condition's "timezone", else the account's ("account.timezone"), else UTC.
class AnniversaryCondition final : public Condition {
 public:
  AnniversaryCondition(std::string field, LocalPeriod period, std::string zone)
      : field_(std::move(field)), period_(period), zone_(std::move(zone)) {}

  bool matches(const json& context, int64_t now) const override {
    const json* v = lookup_path(context, field_);
    if (!v || !v->is_string()) return false;
    const auto yearly = read_month_day(v->get_ref<const std::string&>());
    if (!yearly) return false;
    return period_.contains(*yearly, now, zone_.of(context));  // every zone here was found
  }

 private:
  std::string field_;
  LocalPeriod period_;
  LocalZone zone_;
};

class GroupCondition final : public Condition {
 public:
  enum class Kind { kAll, kAny, kNot };
  GroupCondition(Kind kind, std::vector<std::unique_ptr<Condition>> children)
      : kind_(kind), children_(std::move(children)) {}

  bool matches(const json& context, int64_t now) const override {
    switch (kind_) {
      case Kind::kAll:
        for (const auto& c : children_)
          if (!c->matches(context, now)) return false;
        return true;
      case Kind::kAny:
        for (const auto& c : children_)
          if (c->matches(context, now)) return true;
        return false;
      case Kind::kNot:
        return !children_.front()->matches(context, now);
    }
    return false;
  }

 private:
  Kind kind_;
  std::vector<std::unique_ptr<Condition>> children_;
};

// A condition's own "timezone" ("" when it names none), or nothing when it is not one.
std::optional<std::string> own_zone(const json& f, std::vector<ConditionProblem>& problems,
                                    const std::string& pointer) {
  const json zone = f.value("timezone", json(""));
  if (zone.is_string() && (zone.get<std::string>().empty() || is_time_zone(zone.get<std::string>())))
    return zone.get<std::string>();
  problems.push_back({pointer + "/timezone", "expected an IANA time zone such as \"Asia/Omsk\""});
  return std::nullopt;
}

std::unique_ptr<Condition> compile_anniversary(const json& f, std::vector<ConditionProblem>& problems,
                                               const std::string& pointer) {
  const json value = f.value("value", json());
  const auto period = value.is_string() ? LocalPeriod::parse(value.get<std::string>()) : std::nullopt;
  if (!period)
    problems.push_back({pointer + "/value",
                        "expected today, tomorrow, this_week, this_month, next_month or next_<N>_days (N up to 366)"});
  const auto zone = own_zone(f, problems, pointer);
  if (!period || !zone) return nullptr;
  return std::make_unique<AnniversaryCondition>(f["field"], *period, *zone);
}

std::unique_ptr<Condition> compile_time(const json& f, Op op, std::vector<ConditionProblem>& problems,
                                        const std::string& pointer) {
  if (!f.contains("value")) {
    problems.push_back({pointer, "'" + f["op"].get<std::string>() + "' needs a value"});
    return nullptr;
  }
  const auto bound = parse_time_value(f["value"]);
  if (!bound)
    problems.push_back({pointer + "/value",
                        "expected an RFC 3339 time, a date (\"2026-12-10\"), \"now\", or \"now-2d\" / \"now+1h\""});
  const auto zone = own_zone(f, problems, pointer);
  if (!bound || !zone) return nullptr;
  return std::make_unique<TimeCondition>(f["field"], op == Op::kBefore, *bound, *zone);
}

std::unique_ptr<Condition> compile_field(const json& f, std::vector<ConditionProblem>& problems,
                                         const std::string& pointer) {
  const bool anniversary = f.contains("op") && f["op"] == "anniversary";
  // Local days: a yearly date, or a date alone compared with a time.
  const bool zoned = anniversary || (f.contains("op") && (f["op"] == "before" || f["op"] == "after"));
  for (const auto& [key, v] : f.items())
    if (key != "field" && key != "op" && key != "value" && !(zoned && key == "timezone"))
      problems.push_back(
          {pointer + "/" + escape_pointer_token(key),
           zoned ? "unknown key (expected field, op, value, timezone)" : "unknown key (expected field, op, value)"});
  if (!f["field"].is_string() || f["field"].get<std::string>().empty()) {
    problems.push_back({pointer + "/field", "expected a dotted path such as \"contact.fields.city\""});
    return nullptr;
  }
  if (f.contains("op") && !f["op"].is_string()) {
    problems.push_back({pointer + "/op", "expected an operator name such as \"=\" or \"contains\""});
    return nullptr;
  }
  if (anniversary) return compile_anniversary(f, problems, pointer);
  const std::string op_text = f.value("op", std::string("="));
  const auto op = op_named(op_text);
  if (!op) {
    problems.push_back({pointer + "/op", "unknown operator '" + op_text +
                                             "' (expected = != < <= > >= contains in exists before after "
                                             "anniversary)"});
    return nullptr;
  }
  if (*op == Op::kBefore || *op == Op::kAfter) return compile_time(f, *op, problems, pointer);
  const bool has_value = f.contains("value");
  if (*op == Op::kExists) {
    if (has_value) problems.push_back({pointer + "/value", "'exists' takes no value"});
    return std::make_unique<FieldCondition>(f["field"], *op, json());
  }
  if (!has_value) {
    problems.push_back({pointer, "'" + op_text + "' needs a value"});
    return nullptr;
  }
  const json& value = f["value"];
  if (*op == Op::kIn && !value.is_array()) {
    problems.push_back({pointer + "/value", "'in' needs an array of values"});
    return nullptr;
  }
  if ((*op == Op::kLt || *op == Op::kLe || *op == Op::kGt || *op == Op::kGe) && !value.is_number() &&
      !value.is_string()) {
    problems.push_back({pointer + "/value", "'" + op_text + "' compares numbers or strings"});
    return nullptr;
  }
  if ((value.is_object() || value.is_array()) && *op != Op::kIn) {
    problems.push_back({pointer + "/value", "expected a string, number, boolean or null"});
    return nullptr;
  }
  return std::make_unique<FieldCondition>(f["field"], *op, value);
}

}  // namespace

bool matches_with_account(const Condition& filter, json& context, const json& account, int64_t now_ms) {
  std::optional<json> body_account;
  if (auto it = context.find("account"); it != context.end()) body_account = std::move(*it);
  context["account"] = account;
  const auto restore = [&] {
    if (body_account)
      context["account"] = std::move(*body_account);
    else
      context.erase("account");
  };
  bool passes = false;
  try {
    passes = filter.matches(context, now_ms);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return passes;
}

bool is_condition_group(const std::string& key) { return key == "all" || key == "any" || key == "and" || key == "or"; }

std::unique_ptr<Condition> Condition::compile(const json& filter, std::vector<ConditionProblem>& problems,
                                              const std::string& pointer) {
  const size_t before = problems.size();
  if (!filter.is_object()) {
    problems.push_back({pointer, "expected a condition object"});
    return nullptr;
  }
  auto group = [&](GroupCondition::Kind kind, const char* key) -> std::unique_ptr<Condition> {
    const json& items = filter[key];
    if (filter.size() != 1) problems.push_back({pointer, std::string("'") + key + "' stands alone in its object"});
    std::vector<std::unique_ptr<Condition>> children;
    if (kind == GroupCondition::Kind::kNot) {
      children.push_back(compile(items, problems, pointer + "/not"));
    } else if (!items.is_array() || items.empty()) {
      problems.push_back({pointer + "/" + key, "expected a non-empty array of conditions"});
    } else {
      for (size_t i = 0; i < items.size(); ++i)
        children.push_back(compile(items[i], problems, pointer + "/" + key + "/" + std::to_string(i)));
    }
    if (problems.size() != before) return nullptr;
    return std::make_unique<GroupCondition>(kind, std::move(children));
  };
  for (const char* all : {"all", "and"})
    if (filter.contains(all)) return group(GroupCondition::Kind::kAll, all);
  for (const char* any : {"any", "or"})
    if (filter.contains(any)) return group(GroupCondition::Kind::kAny, any);
  if (filter.contains("not")) return group(GroupCondition::Kind::kNot, "not");
  if (filter.contains("field")) {
    auto c = compile_field(filter, problems, pointer);
    return problems.size() == before ? std::move(c) : nullptr;
  }
  // The shorthand: {"path": value, ...}, every one equal. A condition that
  // forgot its "field" would read as one on the paths "op" and "value", and
  // never match: said instead.
  if (filter.contains("op") && filter.contains("value")) {
    problems.push_back({pointer, "a condition with \"op\" and \"value\" needs \"field\" (the path it tests)"});
    return nullptr;
  }
  std::vector<std::unique_ptr<Condition>> children;
  for (const auto& [path, value] : filter.items()) {
    if (value.is_object() || value.is_array()) {
      problems.push_back(
          {pointer + "/" + escape_pointer_token(path), "a filter value must be a string, number, boolean or null"});
      continue;
    }
    children.push_back(std::make_unique<FieldCondition>(path, Op::kEq, value));
  }
  if (problems.size() != before) return nullptr;
  return std::make_unique<GroupCondition>(GroupCondition::Kind::kAll, std::move(children));
}

}  // namespace sb
