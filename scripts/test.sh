#!/usr/bin/env bash
# Runs every test strata has, on a fresh Debian machine or a developer's: installs what the tests need
# (redis-server and redis-tools, used by the differential, redis-cli and benchmark smoke tests;
# util-linux's prlimit, for the disk fault tests), then
# builds and runs the suite with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_packages+=(redis-tools)
command -v redis-benchmark >/dev/null 2>&1 || need_packages+=(redis-tools)
# prlimit makes a running server's disk refuse writes (tests/store_faults.rs).
command -v prlimit >/dev/null 2>&1 || need_packages+=(util-linux)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "installing ${need_packages[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

cargo build --all-targets
cargo nextest run --no-fail-fast "$@"
