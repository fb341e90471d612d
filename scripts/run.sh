#!/usr/bin/env bash
# Sets up, builds and runs the host on the default config (embedded SQLite,
# dry-run channels, http://127.0.0.1:8080). Extra arguments go to switchboard.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
exec build/release/bin/switchboard --config config/switchboard.json "$@"
