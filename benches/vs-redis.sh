#!/usr/bin/env bash
# Side-by-side throughput and memory: strata vs a real redis-server on this machine.
#
#   benches/vs-redis.sh [requests]        (default 200000 requests per workload)
#
# Runs the same redis-benchmark workloads (-c 50, 100-byte values, random keys, pipelines of 1 and 16)
# against both servers and prints ops/s and the ratio strata/redis; then loads 1,000,000 100-byte
# keys into each (DEBUG POPULATE) and prints both RSS figures. Needs redis-server and redis-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
tests=${TESTS:-set,get,incr,mset}
strata_port=${STRATA_PORT:-7379}
redis_port=${REDIS_PORT:-7380}

cargo build --release --bin strata-server >/dev/null 2>&1
./target/release/strata-server --port "$strata_port" --bind 127.0.0.1 --loglevel warning >/dev/null &
strata_pid=$!
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --enable-debug-command yes --loglevel warning >/dev/null &
redis_pid=$!
trap 'kill $strata_pid $redis_pid 2>/dev/null; wait 2>/dev/null' EXIT
for port in "$strata_port" "$redis_port"; do
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
done

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Memory first, on fresh processes, so allocator state left by the throughput runs doesn't count.
base_strata=$(rss_mb $strata_pid); base_redis=$(rss_mb $redis_pid)
for port in "$strata_port" "$redis_port"; do redis-cli -p "$port" debug populate 1000000 key 100 >/dev/null; done
loaded_strata=$(rss_mb $strata_pid); loaded_redis=$(rss_mb $redis_pid)
for port in "$strata_port" "$redis_port"; do redis-cli -p "$port" flushall >/dev/null; done

# Prints "<test> <ops/s>" lines for one server and pipeline depth.
throughput() {
  redis-benchmark -p "$1" -c 50 -n "$requests" -r 1000000 -d 100 -P "$2" -t "$tests" --csv 2>/dev/null \
    | tail -n +2 | tr -d '"' | awk -F, '{gsub(/ /, "_", $1); print $1, $2}'
}

printf '%-10s %4s %14s %14s %7s\n' workload P strata redis ratio
for pipeline in 1 16; do
  # One server at a time: both share this machine's cores with redis-benchmark.
  strata_runs=$(throughput "$strata_port" "$pipeline")
  redis_runs=$(throughput "$redis_port" "$pipeline")
  paste <(echo "$strata_runs") <(echo "$redis_runs") |
    while read -r name strata _ redis; do
      printf '%-10s %4s %14.0f %14.0f %7.2f\n' "$name" "$pipeline" "$strata" "$redis" "$(echo "$strata / $redis" | bc -l)"
    done
done

echo
printf '%-28s %10s %10s %7s\n' "RSS (MB)" strata redis ratio
printf '%-28s %10s %10s\n' "empty" "$base_strata" "$base_redis"
printf '%-28s %10s %10s %7.2f\n' "1M keys, 100-byte values" "$loaded_strata" "$loaded_redis" "$(echo "$loaded_strata / $loaded_redis" | bc -l)"
