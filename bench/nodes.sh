# Sourced by the benchmarks: SB_STORE=postgres runs them on a private
# PostgreSQL server (tests/support/pg_cluster.sh in a temporary folder,
# fsync on, default settings otherwise) instead of the SQLite file, and
# SB_NODES=N starts N hosts sharing it.
#   start_store DIR    starts the PostgreSQL server in DIR/pg (SB_STORE=postgres)
#   store_json, secret_json   the config's "store" and its secret
#   start_nodes DIR CONFIG PORT   N hosts, node n on PORT+2n, logs DIR/log.n
#   stop_nodes
# Exposes: node_ports (comma-separated), node_pids, pg_dir.
SB_STORE=${SB_STORE:-sqlite}
SB_NODES=${SB_NODES:-1}
node_pids=()
pg_dir=""

start_store() {
  if [ "$SB_STORE" = postgres ]; then
    pg_dir="$1/pg"
    chmod o+x "$1"  # the server runs as the postgres user
    SB_PG_FSYNC=on bash tests/support/pg_cluster.sh start "$pg_dir" >&2
    export SB_BENCH_PG="host=$pg_dir user=postgres dbname=postgres"
  fi
}

store_json() {
  [ "$SB_STORE" = postgres ] && echo '"store": { "postgres": { "$secret": "pg" } },' || true
}

secret_json() {
  [ "$SB_STORE" = postgres ] && echo ', "pg": { "env": "SB_BENCH_PG" }' || true
}

start_nodes() {
  local dir=$1 config=$2 port=$3 bin=${SB_BIN:-build/bench/bin/switchboard}
  node_ports=""
  for n in $(seq 0 $((SB_NODES - 1))); do
    local p=$((port + 2 * n))
    mkdir -p "$dir/node$n"
    sed -e "s/127.0.0.1:$port\"/127.0.0.1:$p\"/" -e "s|\"data_dir\": \"$dir\"|\"data_dir\": \"$dir/node$n\"|" \
      "$config" >"$dir/node$n/config.json"
    $bin --config "$dir/node$n/config.json" 2>"$dir/log.$n" &
    node_pids+=($!)
    node_ports+="${node_ports:+,}$p"
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
  done
}

stop_nodes() {
  for pid in "${node_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$pg_dir" ] || bash tests/support/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
}

# CPU seconds process $1 used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU seconds the PostgreSQL server's processes used so far (the postmaster,
# its live children, and the children it reaped).
pg_cpu_seconds() {
  [ -n "$pg_dir" ] && [ -r "$pg_dir/data/postmaster.pid" ] || { echo 0; return; }
  local main; main=$(head -1 "$pg_dir/data/postmaster.pid")
  local ticks=0
  for p in $main $(pgrep -P "$main" || true); do
    [ -r "/proc/$p/stat" ] || continue
    ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t / hz}'
}
