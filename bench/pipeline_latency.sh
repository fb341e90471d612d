#!/usr/bin/env bash
# End-to-end latency from POST /api/v1/events to the action's request at a
# local sink, through the durable pipeline (stored event, routed execution,
# committed step), at RATE events/s for SECONDS.
# Usage: bench/pipeline_latency.sh [RATE=1000] [SECONDS=10]   (needs the bench preset built)
# SB_STORE=postgres SB_NODES=N: on a private PostgreSQL server with N nodes,
# the senders posting to each node in turn (bench/nodes.sh); SB_POST_PORTS
# (comma-separated) posts to those nodes only (node n listens on 8093+2n).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
seconds=${2:-10}
dir=$(mktemp -d)
export SB_BENCH_TOKEN=latency-token
source bench/nodes.sh
start_store "$dir"
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8093", "data_dir": "$dir", "log_level": "warn", $(store_json)
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } $(secret_json) },
  "api": { "event_tokens": [ { "\$secret": "events" } ] },
  "http_client": { "max_connections": 16 },
  "instances": { "sink": { "plugin": "http", "config": { "base_url": "http://127.0.0.1:8094" } } },
  "rules": [ { "name": "notify", "trigger": { "event": "lead.created" },
               "steps": [ { "action": "sink.post", "params": { "url": "/notify", "body": { "id": "{{id}}" } } } ] } ] }
JSON
trap 'stop_nodes; rm -rf "$dir"' EXIT
start_nodes "$dir" "$dir/config.json" 8093
pid=${node_pids[0]}
build/bench/bench/pipeline_latency "${SB_POST_PORTS:-$node_ports}" 8094 "$SB_BENCH_TOKEN" "$rate" "$seconds" || status=$?
echo "host RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
exit ${status:-0}
