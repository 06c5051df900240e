#!/usr/bin/env bash
# Compares two strata builds on the same redis-benchmark workloads, interleaved so machine noise hits
# both alike: for a change that must not slow anything down.
#
#   benches/ab.sh OLD_BINARY NEW_BINARY [rounds]     (default 3 rounds)
#
# Each round runs every workload against the old build, then the new one (each on a fresh server),
# and the table shows every round's ops/s for both and the ratio new/old of their medians.
# TESTS picks the redis-benchmark tests, PIPELINE the depth (default 16), REQUESTS the requests per
# run (default 2,000,000), STRATA_ARGS adds server options. Needs redis-tools.
set -euo pipefail
old=${1:?old strata-server binary}
new=${2:?new strata-server binary}
rounds=${3:-3}
tests=${TESTS:-set,get,incr,mset,lpush,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100}
pipeline=${PIPELINE:-16}
requests=${REQUESTS:-2000000}
port=${STRATA_PORT:-7391}

declare -A results
run_one() {
  local binary=$1 label=$2
  # shellcheck disable=SC2086 # STRATA_ARGS is a list of options.
  "$binary" --port "$port" --bind 127.0.0.1 --loglevel warning ${STRATA_ARGS:-} >/dev/null &
  local pid=$!
  # PONG, not LOADING: a server with persistence answers once its data is loaded.
  until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
  while IFS=, read -r name rps _; do
    name=${name//\"/}
    rps=${rps//\"/}
    [ "$name" = "test" ] && continue
    results["$label,$name"]+="${rps%.*} "
  done < <(redis-benchmark -p "$port" -q -c 50 -d 100 -r 100000 -P "$pipeline" -n "$requests" -t "$tests" --csv)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for _ in $(seq "$rounds"); do
  run_one "$old" old
  run_one "$new" new
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-28s %-36s %-36s %s\n' "test (-P $pipeline)" "old ops/s" "new ops/s" "new/old"
for key in "${!results[@]}"; do
  [ "${key%%,*}" = old ] || continue
  name=${key#old,}
  old_runs=${results["old,$name"]}
  new_runs=${results["new,$name"]}
  old_median=$(echo "$old_runs" | median)
  new_median=$(echo "$new_runs" | median)
  ratio=$(awk -v a="$new_median" -v b="$old_median" 'BEGIN { printf "%.3f", a / b }')
  printf '%-28s %-36s %-36s %s\n' "$name" "$old_runs" "$new_runs" "$ratio"
done | sort
