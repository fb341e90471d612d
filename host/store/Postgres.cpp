#include "store/Postgres.h"

#include <charconv>
#include <memory>
#include <utility>

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

double PgResult::real(int row, int column) const {
  const char* v = PQgetvalue(r_, row, column);
  double value = 0;
  std::from_chars(v, v + PQgetlength(r_, row, column), value);
  return value;
}

PgConnection::PgConnection(const std::string& conninfo) {
  // A server that does not answer fails the connection in 10 s (a shutdown
  // waits no longer for a listener trying to connect); the connection
  // string's own connect_timeout, if it has one, comes after and wins.
  // libpq's parse errors quote the text they could not read, which may be
  // the password ("invalid percent-encoded token"): checked first, and
  // refused without its words.
  {
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
    PQfreemem(parse_error);
    if (!parsed)
      throw PgError(
          "cannot connect to PostgreSQL: the connection string is not valid (a postgresql:// URI with its "
          "special characters percent-encoded, or key=value pairs)",
          StoreErrc::kInvalid, false);
    PQconninfoFree(parsed);
  }
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

const std::string& PgConnection::prepared(const std::string& sql) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), sql);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  return it->second;
}

namespace {

// A statement's parameters as libpq takes them (views into `params`).
struct Values {
  explicit Values(const std::vector<std::string>& values, const std::vector<bool>& null,
                  const std::vector<bool>& binary)
      : pointers(values.size()), lengths(values.size()), formats(values.size()) {
    for (size_t i = 0; i < values.size(); ++i) {
      pointers[i] = null[i] ? nullptr : values[i].data();
      lengths[i] = static_cast<int>(values[i].size());
      formats[i] = binary[i] ? 1 : 0;
    }
  }
  int count() const { return static_cast<int>(pointers.size()); }
  std::vector<const char*> pointers;
  std::vector<int> lengths, formats;
};

}  // namespace

PgResult PgConnection::run(const std::string& sql, const PgParams& params, bool binary) {
  const std::string& name = prepared(sql);
  const Values v(params.values_, params.null_, params.binary_);
  return check(PQexecPrepared(conn_, name.c_str(), v.count(), v.pointers.data(), v.lengths.data(), v.formats.data(),
                              binary ? 1 : 0),
               sql);
}

std::vector<PgResult> PgConnection::run_all(const std::vector<PgStatement>& statements, size_t* succeeded) {
  if (succeeded) *succeeded = 0;
  std::vector<const std::string*> names;
  for (const PgStatement& s : statements) names.push_back(s.params.values_.empty() ? nullptr : &prepared(s.sql));
  if (PQenterPipelineMode(conn_) != 1)
    throw PgError("PostgreSQL: cannot enter pipeline mode: " + trimmed(PQerrorMessage(conn_)), StoreErrc::kUnavailable,
                  true);
  bool sent = true;
  for (size_t i = 0; i < statements.size() && sent; ++i) {
    const PgParams& p = statements[i].params;
    const Values v(p.values_, p.null_, p.binary_);
    sent = names[i]
               ? PQsendQueryPrepared(conn_, names[i]->c_str(), v.count(), v.pointers.data(), v.lengths.data(),
                                     v.formats.data(), 0) == 1
               : PQsendQueryParams(conn_, statements[i].sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQpipelineSync(conn_) == 1;
  // Every result up to the sync is read, failed or not, before the
  // connection leaves pipeline mode; then the first failure is thrown.
  std::vector<PGresult*> raw;
  if (sent)
    for (size_t i = 0; i < statements.size(); ++i) {
      PGresult* r = PQgetResult(conn_);
      if (!r) break;  // the connection is gone
      raw.push_back(r);
      while (PGresult* end = PQgetResult(conn_)) PQclear(end);  // each statement's results end with a null
    }
  if (sent && raw.size() == statements.size())
    if (PGresult* sync = PQgetResult(conn_)) PQclear(sync);
  const bool left = PQexitPipelineMode(conn_) == 1;
  // Results missing, or a connection stuck in pipeline mode: reported lost
  // (the caller drops it), after the results that came.
  const auto lost = [&] {
    return PgError("PostgreSQL connection lost: " + trimmed(PQerrorMessage(conn_)), StoreErrc::kUnavailable, true);
  };
  std::vector<PgResult> results;
  try {
    for (size_t i = 0; i < statements.size(); ++i) {
      if (i >= raw.size()) throw lost();
      results.push_back(check(std::exchange(raw[i], nullptr), statements[i].sql));
      if (succeeded) *succeeded = i + 1;
    }
    if (!left) throw lost();
  } catch (...) {
    for (PGresult* r : raw) PQclear(r);  // those after the failure
    throw;
  }
  return results;
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
