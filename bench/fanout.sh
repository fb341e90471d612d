#!/usr/bin/env bash
# Fan-out: COUNT campaign events (posted in batches of 100) each send one
# WhatsApp message through the whatsapp plugin to a local Cloud API emulator
# (bench/http_sink answering a wamid after DELAY_MS, over keep-alive). Prints
# sends/s from the first post until every execution is done, and the host's
# thread count while the sends are in flight.
# Usage: bench/fanout.sh [COUNT=10000] [DELAY_MS=20]   (needs the bench preset built)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
delay=${2:-20}
bin=build/bench/bin/switchboard
dir=$(mktemp -d)
export SB_BENCH_TOKEN=fanout-token
build/bench/bench/http_sink 8096 "$delay" '{"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],"messages":[{"id":"wamid.bench"}]}' >"$dir/sink.log" & sink=$!
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8095", "data_dir": "$dir", "log_level": "warn",
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } },
  "api": { "event_tokens": [ { "\$secret": "events" } ] },
  "http_client": { "max_connections": 512 },
  "instances": { "wa": { "plugin": "whatsapp", "config": {
      "phone_number_id": "1065", "access_token": "bench", "base_url": "http://127.0.0.1:8096" } } },
  "rules": [ { "name": "campaign", "trigger": { "event": "campaign.send" },
               "steps": [ { "action": "wa.send_text", "params": { "to": "{{contact.phones.0.number}}", "text": "Скидка 20% до пятницы" } } ] } ] }
JSON
$bin --config "$dir/config.json" 2>"$dir/log" & pid=$!
trap 'kill $pid $sink 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8095/healthz >/dev/null && break; sleep 0.1; done
python3 - "$count" "$pid" <<'PY'
import json, sys, time, urllib.request, re
count, pid = int(sys.argv[1]), sys.argv[2]
def post(batch):
    req = urllib.request.Request("http://127.0.0.1:8095/api/v1/events", data=json.dumps({"events": batch}).encode(),
                                 headers={"Authorization": "Bearer fanout-token", "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 202
def done():
    metrics = urllib.request.urlopen("http://127.0.0.1:8095/metrics").read().decode()
    m = re.search(r'switchboard_pipeline_executions_total\{state="done"\} ([0-9.e+]+)', metrics)
    return int(float(m.group(1))) if m else 0
threads = 0
start = time.time()
for i in range(0, count, 100):
    post([{"id": f"c{j}", "type": "campaign.send",
           "contact": {"id": f"p{j}", "phones": [{"number": f"+7999{j:07d}"}]}} for j in range(i, min(i + 100, count))])
while done() < count:
    threads = max(threads, len(__import__("os").listdir(f"/proc/{pid}/task")))
    time.sleep(0.01)
elapsed = time.time() - start
print(f"{count} sends in {elapsed:.2f} s = {count / elapsed:.0f} sends/s; host threads (max seen) {threads}")
PY
echo "host RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
kill -INT $sink; wait $sink 2>/dev/null || true; cat "$dir/sink.log"
