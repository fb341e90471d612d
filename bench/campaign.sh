#!/usr/bin/env bash
# Campaign burst: COUNT events posted at once to POST /api/v1/events (batches
# of 100, 4 clients in parallel); one rule does one http.post to a local sink
# that answers after DELAY_MS. Prints executions/s over the whole run and per
# tenth of it, and the host's peak RSS against its RSS when idle.
# With HIGH_RATE > 0, events of a second rule (priority high) arrive at that
# rate while the campaign drains, and their event -> sink p50/p99 is printed
# (SB_HIGH_KEEPALIVE=1: that stream on one keep-alive connection, else a new
# connection per event).
# Usage: bench/campaign.sh [COUNT=100000] [DELAY_MS=0] [HIGH_RATE=0]
#        SB_CONTACT_DATA=1: events carry a contact name (a contact row each)
#        (needs the bench preset built: scripts/setup.sh bench)
# SB_STORE=postgres SB_NODES=3 runs it on PostgreSQL with that many nodes
# (bench/nodes.sh); the clients post to the nodes in turn, and the PostgreSQL
# server's CPU and the write groups run again (lost lock races) are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
delay=${2:-0}
high_rate=${3:-0}
sink_bin=${SB_SINK:-build/bench/bench/http_sink}
dir=$(mktemp -d)
export SB_BENCH_TOKEN=campaign-token
source bench/nodes.sh
start_store "$dir"
$sink_bin 8196 "$delay" >"$dir/sink.log" & sink=$!
# SB_INGEST_NICE: the ingest thread's nice value (config ingest_nice), else the default.
nice_json=${SB_INGEST_NICE:+"\"ingest_nice\": $SB_INGEST_NICE,"}
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8195", "data_dir": "$dir", "log_level": "warn", $nice_json $(store_json)
  "secrets": { "events": { "env": "SB_BENCH_TOKEN" } $(secret_json) },
  "api": { "event_tokens": [ { "\$secret": "events" } ] },
  "http_client": { "max_connections": 512 },
  "instances": {
    "sink": { "plugin": "http", "config": { "base_url": "http://127.0.0.1:8196" } },
    "alerts": { "plugin": "http", "config": { "base_url": "http://127.0.0.1:8197" } } },
  "rules": [
    { "name": "campaign", "trigger": { "event": "campaign.send" },
      "steps": [ { "action": "sink.post", "params": { "url": "/send", "body": { "to": "{{contact.id}}" } } } ] },
    { "name": "password-reset", "priority": "high", "trigger": { "event": "password.reset" },
      "steps": [ { "action": "alerts.post", "params": { "url": "/reset", "body": { "to": "{{contact.id}}" } } } ] } ] }
JSON
trap 'stop_nodes; kill $sink 2>/dev/null || true; [ -n "${SB_KEEP:-}" ] || rm -rf "$dir"' EXIT
start_nodes "$dir" "$dir/config.json" 8195
pid=${node_pids[0]}
sleep 1
cpu_before=$(pg_cpu_seconds)
# The high-priority stream runs in a process of its own: in the campaign's,
# the clients' hold on Python's interpreter lock added tens of ms to it.
if [ "$high_rate" != 0 ]; then
python3 - "$high_rate" "$dir/stop" >"$dir/high.log" <<'PY' &
import json, os, re, socket, sys, threading, time, urllib.request
high_rate, stop = float(sys.argv[1]), sys.argv[2]
# The high-priority provider: records when each request arrived.
arrived = {}
def alerts_sink():
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 8197)); srv.listen(64)
    def serve(conn):
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data: return
            buf += data
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)) if b"ength" in head else 0
                if len(rest) < length: break
                body, buf = rest[:length], rest[length:]
                arrived[json.loads(body)["to"]] = time.time()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
threading.Thread(target=alerts_sink, daemon=True).start()
sent, accepted, n = {}, [], 0
import http.client
conn = http.client.HTTPConnection("127.0.0.1", 8195)
while not os.path.exists(stop):
    t = time.time()
    sent[f"u{n}"] = t
    body = json.dumps({"events": [{"id": f"h{n}", "type": "password.reset", "contact": {"id": f"u{n}"}}]})
    if os.environ.get("SB_HIGH_KEEPALIVE"):  # one connection for the whole stream, as a CRM's backend keeps
        conn.request("POST", "/api/v1/events", body, {"Authorization": "Bearer campaign-token", "Content-Type": "application/json"})
        response = conn.getresponse(); response.read()
        assert response.status == 202
    else:
        req = urllib.request.Request("http://127.0.0.1:8195/api/v1/events", data=body.encode(),
                                     headers={"Authorization": "Bearer campaign-token", "Content-Type": "application/json"})
        assert urllib.request.urlopen(req).status == 202
    accepted.append((time.time() - t) * 1000)
    n += 1
    time.sleep(max(0, 1 / high_rate - (time.time() - t)))
time.sleep(0.5)
lat = sorted((arrived[k] - t) * 1000 for k, t in list(sent.items()) if k in arrived)
if lat:
    print(f"high priority during the drain: {len(lat)} of {len(sent)} events arrived, p50 {lat[len(lat) // 2]:.1f} ms, "
          f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.1f} ms, max {lat[-1]:.1f} ms")
    accepted.sort()
    print(f"  of which POST -> 202 (the event committed): p50 {accepted[len(accepted) // 2]:.1f} ms, "
          f"p99 {accepted[min(len(accepted) - 1, int(len(accepted) * 0.99))]:.1f} ms")
PY
high=$!
fi
python3 - "$count" "$pid" "$node_ports" <<'PY'
import json, os, re, socket, sys, threading, time
count, pid, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
def rss():
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) // 1024
# Each client posts on one kept-alive connection per node, as a CRM's
# backend would; so is the progress polled, every 20 ms. A new connection
# per request cost the clients' CPU, which shares the two cores with the host.
import http.client
def post(connection, body):
    connection.request("POST", "/api/v1/events", body,
                       {"Authorization": "Bearer campaign-token", "Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 202
pollers = {port: http.client.HTTPConnection("127.0.0.1", int(port)) for port in ports}
def done():
    total = 0
    for port in ports:
        pollers[port].request("GET", "/metrics")
        metrics = pollers[port].getresponse().read().decode()
        m = re.search(r'switchboard_pipeline_executions_total\{state="done"\} ([0-9.e+]+)', metrics)
        total += int(float(m.group(1))) if m else 0
    return total


# SB_CONTACT_DATA=1: each event carries its contact's name, which the host
# stores (a contact row per event); without it the event only names the
# contact, which the host neither creates nor changes.
with_data = os.environ.get("SB_CONTACT_DATA") == "1"
# The requests are made before the clock starts, as a load generator's
# are: building them in the clients' loop took a core of Python (one
# interpreter lock for the four clients) from the host while events came in.
bodies = [[(ports[(i // 100) % len(ports)],
            json.dumps({"events": [{"id": f"c{j}", "type": "campaign.send",
                                    "contact": {"id": f"p{j}", "name": f"Contact {j}"} if with_data else {"id": f"p{j}"}}
                                   for j in range(i, min(i + 100, count))]}))
           for i in range(k * 100, count, 400)] for k in range(4)]
idle = rss()
start = time.time()
def client(k):
    connections = {port: http.client.HTTPConnection("127.0.0.1", int(port)) for port in ports}
    for port, body in bodies[k]:
        post(connections[port], body)
clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for c in clients: c.start()
ingested = None
def wait_ingest():
    global ingested
    for c in clients: c.join()
    ingested = time.time()
threading.Thread(target=wait_ingest, daemon=True).start()


# Samples of (time, executions done); the time each tenth of the executions
# was done by is interpolated between samples.
peak, samples, done_at_ingest = idle, [(start, 0)], None
while samples[-1][1] < count:
    time.sleep(0.02)
    samples.append((time.time(), done()))
    if ingested and done_at_ingest is None: done_at_ingest = samples[-1][1]
    peak = max(peak, rss())
def done_by(n):
    for (t0, d0), (t1, d1) in zip(samples, samples[1:]):
        if d1 >= n:
            return t0 + (t1 - t0) * (n - d0) / max(d1 - d0, 1)
marks = [start] + [done_by(count * k // 10) for k in range(1, 11)]
elapsed = marks[-1] - start
print(f"{count} executions in {elapsed:.2f} s = {count / elapsed:,.0f}/s; RSS idle {idle} MiB, peak {peak} MiB (+{peak - idle})")
rates = [count / 10 / (b - a) for a, b in zip(marks, marks[1:])]
print(f"all events acknowledged after {ingested - start:.2f} s, {done_at_ingest:,} executions done by then")
print("per tenth (executions/s): " + " ".join(f"{r:,.0f}" for r in rates))
print(f"last tenth / first tenth: {rates[-1] / rates[0]:.2f}")
PY
if [ -n "${high:-}" ]; then touch "$dir/stop"; wait $high; cat "$dir/high.log"; fi
if [ "$SB_STORE" = postgres ]; then
  echo "PostgreSQL CPU during the run: $(awk -v a="$cpu_before" -v b="$(pg_cpu_seconds)" 'BEGIN{printf "%.1f", b - a}') s;" \
    "write groups run again (lost lock races): $(cat "$dir"/log.* | grep -c 'write group runs again' || true)"
fi
# CPU per execution varies less than the rate between runs of a shared VM.
for n in $(seq 0 $((SB_NODES - 1))); do
  echo "node $n: $(curl -s "http://127.0.0.1:$((8195 + 2 * n))/metrics" |
    awk '/executions_total\{state="done"\}/{print $2}') executions done, $(cpu_seconds "${node_pids[$n]}") s CPU"
done
kill -INT $sink; wait $sink 2>/dev/null || true; cat "$dir/sink.log"
