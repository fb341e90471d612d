// A thin RAII layer over libpq: a connection that prepares each statement
// once (by its text), parameters sent as text (or bytes), and results read by
// row and column. Errors throw PgError with PostgreSQL's message; whether the
// unit of work may simply be run again (the connection was lost, a deadlock,
// a serialization failure) is told apart by SQLSTATE, not by the message.
// Not thread-safe: one connection per thread.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/Store.h"

namespace sb {

class PgError : public StoreError {
 public:
  PgError(const std::string& what, StoreErrc code, bool retry) : StoreError(what, code), retry_(retry) {}
  // The whole unit may be run again, on a new connection if this one is
  // gone: nothing it wrote was committed.
  bool retry() const { return retry_; }

 private:
  bool retry_;
};

class PgParams {
 public:
  PgParams& text(std::string_view v);
  PgParams& bytes(std::string_view v);  // sent as binary (a bytea)
  PgParams& integer(int64_t v);
  PgParams& null();
  PgParams& optional(const std::optional<std::string>& v) { return v ? text(*v) : null(); }

 private:
  friend class PgConnection;
  std::vector<std::string> values_;
  std::vector<bool> null_, binary_;
};

class PgResult {
 public:
  explicit PgResult(PGresult* r = nullptr) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const { return r_ ? PQntuples(r_) : 0; }
  int64_t affected() const;  // rows an INSERT, UPDATE or DELETE changed
  bool is_null(int row, int column) const { return PQgetisnull(r_, row, column) != 0; }
  std::string text(int row, int column) const;  // a bytea read in binary comes back as its bytes
  int64_t integer(int row, int column) const;
  double real(int row, int column) const;  // a double precision, read whatever the process's locale

 private:
  PGresult* r_;
};

// A statement and its parameters, for PgConnection::run_all.
struct PgStatement {
  std::string sql;
  PgParams params;
};

class PgConnection {
 public:
  // Connects (a libpq connection string or URL). Throws PgError.
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One or more statements, no parameters (schema, BEGIN, COMMIT).
  PgResult execute(std::string_view sql);
  // One statement with $1.. parameters, prepared on first use. `binary`
  // asks for every column in binary (a bytea's bytes).
  PgResult run(const std::string& sql, const PgParams& params = {}, bool binary = false);
  // The statements sent at once (libpq's pipeline mode: one round trip),
  // run one after the other as if sent one by one, each seeing what the
  // ones before it did. Their results, in order; the first that failed is
  // thrown as run() throws it, and those after it did not run. `succeeded`
  // (when given) is set to how many succeeded before a failure (to all of
  // them otherwise). Statements with parameters are prepared (on first use,
  // before the round trip); those without (BEGIN, NOTIFY, COMMIT) are not.
  // No COPY. A lost connection leaves which of them ran unknown: `succeeded`
  // then counts only those whose results came.
  std::vector<PgResult> run_all(const std::vector<PgStatement>& statements, size_t* succeeded = nullptr);
  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  // Rows that INSERT, UPDATE and DELETE statements changed on this connection
  // so far: a unit of work that failed having changed none needs no undo.
  int64_t rows_changed() const { return rows_changed_; }
  PGconn* handle() { return conn_; }

 private:
  PgResult check(PGresult* r, std::string_view what);
  const std::string& prepared(const std::string& sql);

  PGconn* conn_ = nullptr;
  std::map<std::string, std::string> prepared_;  // statement text -> its name
  int64_t rows_changed_ = 0;
};

// The password in a connection string ("" when none): the host masks it in
// every log line, as it does the secrets.
std::string pg_password(const std::string& conninfo);

}  // namespace sb
