#!/usr/bin/env bash
# End-to-end latency from POST /api/v1/events to the action's request at a
# local sink, through the durable pipeline (stored event, routed execution,
# committed step), at RATE events/s for SECONDS.
# Usage: bench/pipeline_latency.sh [RATE=1000] [SECONDS=10]   (needs the bench preset built)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
seconds=${2:-10}
bin=build/bench/bin/switchboard
dir=$(mktemp -d)
export SB_BENCH_TOKEN=latency-token
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8093", "data_dir": "$dir", "log_level": "warn",
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } },
  "api": { "event_tokens": [ { "\$secret": "events" } ] },
  "http_client": { "max_connections": 16 },
  "instances": { "sink": { "plugin": "http", "config": { "base_url": "http://127.0.0.1:8094" } } },
  "rules": [ { "name": "notify", "trigger": { "event": "lead.created" },
               "steps": [ { "action": "sink.post", "params": { "url": "/notify", "body": { "id": "{{id}}" } } } ] } ] }
JSON
$bin --config "$dir/config.json" 2>"$dir/log" & pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8093/healthz >/dev/null && break; sleep 0.1; done
build/bench/bench/pipeline_latency 8093 8094 "$SB_BENCH_TOKEN" "$rate" "$seconds" || status=$?
echo "host RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
exit ${status:-0}
