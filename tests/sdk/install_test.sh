#!/usr/bin/env bash
# Installs the SDK to a temporary prefix, builds sdk/examples/hello-action out
# of tree against it, runs its test on the SDK's fake host, and has the host
# load the result and run its action.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR SWITCHBOARD_BINARY
set -euo pipefail
build=$1 source=$2 switchboard=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --component sdk --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/switchboard/plugin.h"
test -f "$work/prefix/lib/cmake/SwitchboardSDK/SwitchboardSDKConfig.cmake"

cp -r "$source/sdk/examples/hello-action" "$work/src"   # nothing of the source tree is visible from there
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror ${CXXFLAGS:-}" >/dev/null
cmake --build "$work/build" >/dev/null
test -f "$work/build/hello.so"
test -f "$work/prefix/include/switchboard/testing/fake_host.h"
ctest --test-dir "$work/build" --no-tests=error --output-on-failure >/dev/null || {
  ctest --test-dir "$work/build" --output-on-failure; exit 1; }   # its own test, on the SDK's fake host

cat >"$work/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$work/var", "plugin_dirs": ["$work/build"],
  "instances": { "hi": { "plugin": "hello", "config": { "greeting": "Привет" } },
                 "in": { "plugin": "webhook", "config": { "respond": "completed" } } },
  "rules": [ { "name": "greet", "trigger": { "event": "webhook.received" },
               "steps": [ { "action": "hi.greet", "params": { "name": "{{body.name}}" } } ] } ] }
JSON
"$switchboard" plugins --config "$work/config.json" | grep -q "^hello 1.0.0 (ABI 1.2)"
"$switchboard" validate --config "$work/config.json"

"$switchboard" --config "$work/config.json" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q '"msg":"listening"' "$work/log" && break; sleep 0.1; done
port=$(grep -o '"port":[0-9]*' "$work/log" | head -1 | cut -d: -f2)
status=$(curl -s -o "$work/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"name":"Анна"}' "http://127.0.0.1:$port/webhooks/in")
kill -TERM $pid && wait $pid
[ "$status" = 200 ] || { echo "webhook answered $status: $(cat "$work/answer")"; cat "$work/log"; exit 1; }
grep -q '"text":"Привет, Анна!"' "$work/var/outbox.jsonl" || { echo "outbox:"; cat "$work/var/outbox.jsonl"; exit 1; }
echo "hello-action: built out of tree, loaded and ran"
