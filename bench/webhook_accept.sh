#!/usr/bin/env bash
# The webhook accept path: POST a 200-byte JSON body to a respond:"accepted"
# route over keep-alive; 202 once the event is taken (no rule matches, so
# nothing else runs). Usage: bench/webhook_accept.sh [DURATION=10s]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
bin=build/bench/bin/switchboard
dir=$(mktemp -d)
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8090", "data_dir": "$dir", "log_level": "warn",
  "instances": { "hook": { "plugin": "webhook", "config": { "respond": "accepted" } } } }
JSON
$bin --config "$dir/config.json" 2>"$dir/log" & pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8090/healthz >/dev/null && break; sleep 0.1; done
body=$(python3 -c 'import json; b={"event":"lead.created","phone":"+79990001122","name":"Ivan","status":"new","note":""}; b["note"]="x"*(200-len(json.dumps(b,separators=(",",":")))); print(json.dumps(b,separators=(",",":")))')
echo "body bytes: ${#body}"
SB_BODY=$body wrk -t2 -c32 -d"$duration" --latency -s bench/post_body.lua http://127.0.0.1:8090/webhooks/hook | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "host RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
