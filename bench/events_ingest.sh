#!/usr/bin/env bash
# Durable ingest: POST /api/v1/events over keep-alive, 202 only after the
# group commit (SQLite WAL, synchronous=FULL). Reports events/s for batches of
# SB_BATCH events (default 100) and for single-event requests.
# Usage: bench/events_ingest.sh [DURATION=10s]   (needs the bench preset built)
# SB_STORE=postgres: on a private PostgreSQL server instead (bench/nodes.sh);
# SB_NODES=N with it: wrk posts to every node at once (32 connections
# shared), and the events/s are all nodes'.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
dir=$(mktemp -d)
export SB_TOKEN=bench-token-1 SB_BENCH_TOKEN=bench-token-1
source bench/nodes.sh
start_store "$dir"
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8091", "data_dir": "$dir", "log_level": "warn", $(store_json)
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } $(secret_json) },
  "api": { "event_tokens": [ { "\$secret": "events" } ] } }
JSON
trap 'stop_nodes; rm -rf "$dir"' EXIT
start_nodes "$dir" "$dir/config.json" 8091
pid=${node_pids[0]}

# One wrk per node, at once; prints their reports one after the other.
post() {
  local batch=$1 clients=() n
  for n in $(seq 0 $((SB_NODES - 1))); do
    SB_RUN=b$batch-n$n SB_BATCH=$batch wrk -t1 -c$((32 / SB_NODES)) -d"$duration" --latency -s bench/events.lua \
      "http://127.0.0.1:$((8091 + 2 * n))/" >"$dir/wrk.$n" &
    clients+=($!)
  done
  wait "${clients[@]}"
  cat "$dir"/wrk.*
}

for batch in ${SB_BATCH:-100} 1; do
  out=$(if [ "$SB_NODES" = 1 ]; then
    SB_RUN=b$batch SB_BATCH=$batch wrk -t2 -c32 -d"$duration" --latency -s bench/events.lua http://127.0.0.1:8091/
  else post "$batch"; fi)
  rps=$(awk '/Requests\/sec/{s += $2} END {print s}' <<<"$out")
  echo "batch $batch: $rps requests/s = $(awk -v r="$rps" -v b="$batch" 'BEGIN{printf "%.0f", r*b}') events/s," \
    "p50 $(awk '/ 50%/{print $2}' <<<"$out" | xargs), p99 $(awk '/ 99%/{print $2}' <<<"$out" | xargs)" \
    "$(grep -E 'Non-2xx' <<<"$out" || true)"
  echo "  wrk sent $(awk '/requests in/{s += $1} END {print s}' <<<"$out") requests"
done
if [ "$SB_STORE" = postgres ]; then
  stored=$(psql -tA "$SB_BENCH_PG" -c 'SELECT count(*) FROM events' 2>/dev/null || echo '?')
else
  stored=$(sqlite3 "$dir/node0/switchboard.db" 'SELECT count(*) FROM events' 2>/dev/null || echo '?')
fi
echo "stored: $stored events," \
  "host RSS $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
