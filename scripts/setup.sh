#!/usr/bin/env bash
# Installs the Debian packages the build needs (only the missing ones) and
# builds one CMake preset. Usage: scripts/setup.sh PRESET [extra packages...]
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:-release}
shift || true
packages=(g++ cmake ninja-build pkg-config ccache tzdata
  libpoco-dev libboost-dev libboost-filesystem-dev nlohmann-json3-dev libssl-dev
  libvalijson-dev libhowardhinnant-date-dev libphonenumber-dev libcurl4-openssl-dev libidn2-dev libhttp-parser-dev libmimalloc-dev libsqlite3-dev libpq-dev libgtest-dev libgmock-dev openssl curl python3-aiosmtpd espeak-ng "$@")
# The benchmarks (bench/): Google Benchmark, and wrk for the HTTP jobs.
if [ "$preset" = bench ]; then packages+=(libbenchmark-dev wrk postgresql); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ccache's own folder is shared by every clone on the machine; BASEDIR makes
# paths relative so that a clone elsewhere (CI's) still hits the cache.
export CCACHE_BASEDIR=$PWD
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
