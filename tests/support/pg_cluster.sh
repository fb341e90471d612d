#!/usr/bin/env bash
# A private PostgreSQL server for the tests: a cluster made with initdb in
# DIR, listening only on a Unix socket in DIR (no TCP port, no system
# service), trusted local connections as user "postgres". As root, the
# server runs as the postgres user (it refuses to run as root).
#   pg_cluster.sh start DIR    creates the cluster if needed, starts it
#   pg_cluster.sh stop DIR     stops it (the data stays)
#   pg_cluster.sh destroy DIR  stops it and removes DIR
set -euo pipefail
command=$1
dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$bin/initdb" ]; then
  # The tests that need it skip themselves (scripts/test.sh installs it).
  echo "pg_cluster: no PostgreSQL server installed (apt-get install postgresql-15)" >&2
  if [ "$command" = start ] && [ -n "${SB_REQUIRE_PG:-}" ]; then exit 2; fi
  exit 0
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $command in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" != 0 ] || chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
        --no-instructions >"$dir/initdb.log"
    fi
    # A server left running by an interrupted run is restarted, not reused.
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=300 -c fsync=${SB_PG_FSYNC:-off} ${SB_PG_OPTIONS:-}" start >/dev/null
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
  crash)  # as a power cut would, to the server: no shutdown checkpoint, WAL buffers not written
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null
    ;;
  destroy)
    if [ -d "$dir/data" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg_cluster.sh start|stop|crash|destroy DIR" >&2
    exit 2
    ;;
esac
