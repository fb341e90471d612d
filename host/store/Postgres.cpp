#include "store/Postgres.h"

#include <charconv>
#include <memory>

namespace sb {

namespace {

// Class 08 (connection exception), 57P01..03 (the server is shutting down
// or starting): the connection is gone or going. 40001 and 40P01: another
// transaction won; running the unit again is what PostgreSQL asks for.
bool connection_lost(std::string_view state) {
  return state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03";
}
bool lost_a_race(std::string_view state) { return state == "40001" || state == "40P01"; }

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PgParams& PgParams::text(std::string_view v) {
  values_.emplace_back(v);
  null_.push_back(false);
  binary_.push_back(false);
  return *this;
}

PgParams& PgParams::bytes(std::string_view v) {
  text(v);
  binary_.back() = true;
  return *this;
}

PgParams& PgParams::integer(int64_t v) { return text(std::to_string(v)); }

PgParams& PgParams::null() {
  values_.emplace_back();
  null_.push_back(true);
  binary_.push_back(false);
  return *this;
}

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int64_t PgResult::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  int64_t value = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), value);
  return value;
}

std::string PgResult::text(int row, int column) const {
  return std::string(PQgetvalue(r_, row, column), static_cast<size_t>(PQgetlength(r_, row, column)));
}

int64_t PgResult::integer(int row, int column) const {
  const char* v = PQgetvalue(r_, row, column);
  int64_t value = 0;
  std::from_chars(v, v + PQgetlength(r_, row, column), value);
  return value;
}

PgConnection::PgConnection(const std::string& conninfo) {
  // A server that does not answer fails the connection in 10 s (a shutdown
  // waits no longer for a listener trying to connect); the connection
  // string's own connect_timeout, if it has one, comes after and wins.
  const char* keywords[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"10", conninfo.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    // libpq's message names the server and the user, never the password.
    const std::string why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    PQfinish(conn_);
    throw PgError("cannot connect to PostgreSQL: " + why, StoreErrc::kUnavailable, true);
  }
  // Notices ("relation already exists, skipping") are not errors: not on stderr.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

PgConnection::~PgConnection() { PQfinish(conn_); }

PgResult PgConnection::check(PGresult* raw, std::string_view what) {
  PgResult result(raw);
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    const std::string_view command = raw ? PQcmdStatus(raw) : "";
    if (command.starts_with("INSERT") || command.starts_with("UPDATE") || command.starts_with("DELETE"))
      rows_changed_ += result.affected();
    return result;
  }
  const char* sqlstate = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view state = sqlstate ? sqlstate : "";
  const std::string message = trimmed(raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_));
  const bool lost = !healthy() || connection_lost(state) || (!sqlstate && status == PGRES_FATAL_ERROR);
  if (lost) throw PgError("PostgreSQL connection lost: " + message, StoreErrc::kUnavailable, true);
  if (lost_a_race(state)) throw PgError("PostgreSQL: " + message, StoreErrc::kConflict, true);
  throw PgError("PostgreSQL statement failed (" + std::string(what.substr(0, 60)) + "): " + message,
                StoreErrc::kUnavailable, false);
}

PgResult PgConnection::execute(std::string_view sql) { return check(PQexec(conn_, std::string(sql).c_str()), sql); }

PgResult PgConnection::run(const std::string& sql, const PgParams& params, bool binary) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), sql);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const size_t n = params.values_.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n), formats(n);
  for (size_t i = 0; i < n; ++i) {
    values[i] = params.null_[i] ? nullptr : params.values_[i].data();
    lengths[i] = static_cast<int>(params.values_[i].size());
    formats[i] = params.binary_[i] ? 1 : 0;
  }
  return check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                              formats.data(), binary ? 1 : 0),
               sql);
}

std::string pg_password(const std::string& conninfo) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(conninfo.c_str(), &error),
                                                                       &PQconninfoFree);
  PQfreemem(error);
  if (!options) return "";
  for (PQconninfoOption* o = options.get(); o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val) return o->val;
  return "";
}

}  // namespace sb
