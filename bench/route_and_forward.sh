#!/usr/bin/env bash
# The peer-comparison job: wrk -t2 -c32 -d20s posts a new lead to a
# respond:"completed" route; the rule forwards {"to","text"} to a local sink
# and the host answers after the sink did. Also measures wrk straight to the
# sink in the same run, and the host's RSS.
# Usage: bench/route_and_forward.sh [DURATION=20s]   (needs the bench preset built)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
bin=build/bench/bin/switchboard
sink=build/bench/bench/http_sink
command -v wrk >/dev/null || { echo "install wrk"; exit 1; }

$sink 8081 >/tmp/sb_sink.out & sink_pid=$!
env ${SB_HOST_ENV:-} $bin --config ${SB_CONFIG:-config/examples/route-and-forward.json} 2>/tmp/sb_host.log & host_pid=$!
trap 'kill $host_pid $sink_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8080/healthz >/dev/null && break; sleep 0.1; done

check=$(curl -s -H 'Content-Type: application/json' -d '{"phone":"+79990001122","name":"Иван","status":"old"}' \
  http://127.0.0.1:8080/webhooks/route)
echo "old body answer: $check"

echo "== wrk straight to the sink"
wrk -t2 -c32 -d"$duration" --latency -s bench/post_body.lua http://127.0.0.1:8081/ | grep -E "Requests/sec|99%|50%"
echo "== wrk to switchboard (respond: completed, forwards to the sink)"
cpu_ticks() { awk '{print $14 + $15}' /proc/$host_pid/stat; }
before=$(cpu_ticks)
wrk -t2 -c32 -d"$duration" --latency -s bench/post_body.lua http://127.0.0.1:8080/webhooks/route >/tmp/sb_wrk.out
after=$(cpu_ticks)
grep -E "Requests/sec|99%|50%|Non-2xx" /tmp/sb_wrk.out
requests=$(awk '/requests in/{print $1}' /tmp/sb_wrk.out)
# CPU per request is steadier than requests/s on a shared machine.
echo "host CPU per request: $(( (after - before) * 1000000 / $(getconf CLK_TCK) / requests )) us"
echo "host RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$host_pid/status)  peak: $(awk '/VmHWM/{print $2, $3}' /proc/$host_pid/status)"
