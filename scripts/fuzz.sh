#!/usr/bin/env bash
# Runs the fuzz targets of tests/fuzz.rs (proptest: seeded generation with shrinking, on stable Rust)
# for a chosen time, round after round with fresh seeds, and prints how many cases ran. A failure
# stops the loop and prints the shrunk input that fails.
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
#   targets: resp_requests command_arguments dump_payloads lsm_files lua_replies (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(resp_requests command_arguments dump_payloads lsm_files lua_replies)
fi
cases_per_round=${CASES_PER_ROUND:-2000}
cargo build --release --tests >/dev/null 2>&1 || cargo nextest run --release --test fuzz --no-run
for target in "${targets[@]}"; do
  rounds=0
  end=$((SECONDS + seconds))
  while ((SECONDS < end)); do
    if ! PROPTEST_CASES=$cases_per_round cargo nextest run --release --test fuzz -E "test(=$target)" --no-capture >/tmp/fuzz-$target.log 2>&1; then
      grep -E "minimal failing input|Test failed" -A6 /tmp/fuzz-$target.log || tail -40 /tmp/fuzz-$target.log
      echo "$target: FAILED after $((rounds * cases_per_round)) cases (log: /tmp/fuzz-$target.log)"
      exit 1
    fi
    rounds=$((rounds + 1))
  done
  echo "$target: $((rounds * cases_per_round)) cases in ${seconds}s, no failure"
done
