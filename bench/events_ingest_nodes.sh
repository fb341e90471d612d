#!/usr/bin/env bash
# Durable ingest on several nodes sharing one PostgreSQL: wrk posts to every
# node at once (12 connections each), SB_BATCH events per request (default 1,
# single events: the appends of every node commit at the same time).
# Usage: bench/events_ingest_nodes.sh [DURATION=8s]   SB_NODES (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-8s}
dir=$(mktemp -d)
export SB_TOKEN=bench-token-1 SB_BENCH_TOKEN=bench-token-1 SB_STORE=postgres SB_NODES=${SB_NODES:-3}
source bench/nodes.sh
start_store "$dir"
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8091", "data_dir": "$dir", "log_level": "warn", $(store_json)
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } $(secret_json) },
  "api": { "event_tokens": [ { "\$secret": "events" } ] } }
JSON
trap 'stop_nodes; rm -rf "$dir"' EXIT
start_nodes "$dir" "$dir/config.json" 8091
clients=()
for n in $(seq 0 $((SB_NODES - 1))); do
  SB_RUN=n$n SB_BATCH=${SB_BATCH:-1} wrk -t1 -c12 -d"$duration" --latency -s bench/events.lua \
    "http://127.0.0.1:$((8091 + 2 * n))/" >"$dir/wrk.$n" &
  clients+=($!)
done
wait "${clients[@]}"
total=0
for n in $(seq 0 $((SB_NODES - 1))); do
  rps=$(awk '/Requests\/sec/{print $2}' "$dir/wrk.$n")
  total=$(awk -v a="$total" -v b="$rps" 'BEGIN{print a + b}')
  echo "node $n: $rps requests/s, p50 $(awk '/ 50%/{print $2}' "$dir/wrk.$n"), p99 $(awk '/ 99%/{print $2}' "$dir/wrk.$n") $(grep Non-2xx "$dir/wrk.$n" || true)"
done
echo "all nodes: $(awk -v t="$total" -v b="${SB_BATCH:-1}" 'BEGIN{printf "%.0f", t * b}') events/s"
