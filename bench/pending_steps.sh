#!/usr/bin/env bash
# 1,000,000 pending delayed steps: host RSS with them in the store against an
# empty store, and the time to find the due ones (the scheduler's query).
# Usage: bench/pending_steps.sh [COUNT=1000000]   (needs the bench preset built, and sqlite3)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
bin=build/bench/bin/switchboard
dir=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
cat >"$dir/config.json" <<JSON
{ "listen": "127.0.0.1:8092", "data_dir": "$dir", "log_level": "warn",
  "instances": { "sink": { "plugin": "http", "config": { "base_url": "http://127.0.0.1:9", "dry_run": true } } },
  "rules": [ { "name": "remind", "trigger": { "event": "booking.created" },
               "steps": [ { "wait": "1d" }, { "action": "sink.post", "params": { "url": "/remind" } } ] } ] }
JSON
rss_after_start() {
  $bin --config "$dir/config.json" 2>>"$dir/log" & pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:8092/healthz >/dev/null && break; sleep 0.1; done
  sleep 3  # let the scheduler poll a few times
  awk '/VmRSS/{print $2}' /proc/$pid/status
  kill $pid; wait $pid 2>/dev/null || true
}
empty=$(rss_after_start)
start=$(date +%s.%N)
sqlite3 "$dir/switchboard.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
INSERT INTO executions (rule, event_id, state, step, due_at, context, created_at, updated_at)
SELECT 'remind', 'booking-' || i, 'waiting', 1,
       CAST(strftime('%s','now') AS INTEGER) * 1000 + 3600000 + (i % 86400) * 1000,
       '{"event":{"id":"booking-' || i || '"}}', 0, 0 FROM n;
SQL
echo "inserted $count waiting executions in $(echo "$(date +%s.%N) - $start" | bc) s"
full=$(rss_after_start)
echo "host RSS: empty store $((empty / 1024)) MiB, with $count pending steps $((full / 1024)) MiB"
now_ms=$(( $(date +%s) * 1000 ))
# The scheduler's queries (store/SqliteStore.cpp), for one priority level.
sqlite3 "$dir/switchboard.db" "EXPLAIN QUERY PLAN SELECT id FROM executions WHERE priority = 1 AND due_at IS NOT NULL AND due_at <= $now_ms ORDER BY due_at LIMIT 200;"
for q in "SELECT count(*) FROM (SELECT id FROM executions WHERE priority = 1 AND due_at IS NOT NULL AND due_at <= $now_ms ORDER BY due_at LIMIT 200)" \
         "SELECT min(due_at) FROM executions WHERE priority = 1 AND due_at IS NOT NULL" \
         "SELECT count(*) FROM (SELECT id FROM executions WHERE priority = 1 AND due_at IS NOT NULL AND due_at <= $((now_ms + 3700000)) ORDER BY due_at LIMIT 200)"; do
  printf '%s\n' ".timer on" "$q;" | sqlite3 "$dir/switchboard.db" | tr '\n' ' '; echo
done
