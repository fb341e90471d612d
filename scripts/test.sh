#!/usr/bin/env bash
# Sets up, builds and runs every test: the release build, then the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer (SB_ASAN=0 skips that).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# The PostgreSQL server the store tests start privately (no system service).
export SB_REQUIRE_PG=1
# node runs the Voximplant call scenario's test (JavaScript).
scripts/setup.sh release postgresql-15 nodejs
ctest --preset release -j "$jobs"

if [ "${SB_ASAN:-1}" != 0 ]; then
  scripts/setup.sh asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan -j "$jobs"
fi
