// The tests' PostgreSQL server (tests/support/pg_cluster.sh): the one ctest
// started for the whole run (its folder in SB_TEST_PG_DIR), else one this
// process starts in a folder of its own and stops when it exits. Each test
// works in a schema of its own, so tests never see each other's rows, and
// each test process in a database of its own: the router waits for the
// open transactions of its database (PostgresStore::events_after), not for
// those of the tests running beside it.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#ifndef SB_SOURCE_DIR
#error "SB_SOURCE_DIR must name the source tree (tests/support/pg_cluster.sh)"
#endif

namespace sb::test {

class PgCluster {
 public:
  // The run's server, started on first use; null when this machine has no
  // PostgreSQL server to start (the tests that need one are skipped).
  static PgCluster* shared() {
    static std::unique_ptr<PgCluster> cluster = [] {
      std::unique_ptr<PgCluster> c;
      if (const char* dir = std::getenv("SB_TEST_PG_DIR"); dir && *dir) {
        // ctest's fixture starts it when this machine has a server to start.
        if (std::filesystem::exists(std::filesystem::path(dir) / ".s.PGSQL.5432")) {
          c.reset(new PgCluster(dir, false));
          // One a crashed process of the same id left is replaced.
          c->execute("DROP DATABASE IF EXISTS p" + std::to_string(::getpid()) + " WITH (FORCE)");
          c->execute("CREATE DATABASE p" + std::to_string(::getpid()) + " STRATEGY FILE_COPY");
          c->database_ = "p" + std::to_string(::getpid());
        }
      } else {
        c.reset(new PgCluster(std::filesystem::temp_directory_path() / ("sb_pg_" + std::to_string(::getpid())), true));
        if (!c->start()) c.reset();
      }
      return c;
    }();
    return cluster.get();
  }

  // A server of its own in `dir` (started with start()), stopped and removed
  // on destruction: for a test that stops and starts it under a host.
  explicit PgCluster(std::filesystem::path dir) : PgCluster(std::move(dir), true) {}

  ~PgCluster() {
    if (database_ != "postgres") {
      try {
        execute("DROP DATABASE " + database_ + " WITH (FORCE)", "postgres");
      } catch (const std::exception&) {
        // the run's server is removed with its folder at the end anyway
      }
    }
    if (owned_) {
      stop();
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // A connection string for database `database` (this process's when
  // empty), in `schema` ("" = public).
  std::string conninfo(const std::string& schema = "", const std::string& database = "") const {
    std::string info = "host=" + dir_.string() + " user=postgres dbname=" + (database.empty() ? database_ : database);
    if (!schema.empty()) info += " options='-c search_path=" + schema + "'";
    return info;
  }

  // Runs one statement as the server's superuser; throws on failure.
  void execute(const std::string& sql, const std::string& database = "") const {
    PGconn* c = PQconnectdb(conninfo("", database).c_str());
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    const std::string error = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error("PostgreSQL: " + sql + ": " + error);
  }

  // A new, empty schema named after `seed` (a test's own folder, say).
  std::string fresh_schema(const std::string& seed) const {
    const std::string name = "t" + std::to_string(std::hash<std::string>{}(seed) % 1000000000000ULL);
    execute("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
    return name;
  }

  // The fault tests stop and start the server under a running host.
  bool start() const { return script("start"); }
  bool stop() const { return script("stop"); }
  bool crash() const { return script("crash"); }  // an immediate stop: what was only in its memory is gone
  const std::filesystem::path& dir() const { return dir_; }

 private:
  PgCluster(std::filesystem::path dir, bool owned) : dir_(std::move(dir)), owned_(owned) {}
  bool script(const std::string& command) const {
    const std::string line =
        "bash '" SB_SOURCE_DIR "/tests/support/pg_cluster.sh' " + command + " '" + dir_.string() + "' >/dev/null 2>&1";
    return std::system(line.c_str()) == 0;
  }

  std::filesystem::path dir_;
  bool owned_;
  std::string database_ = "postgres";
};

}  // namespace sb::test
