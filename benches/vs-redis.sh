#!/usr/bin/env bash
# Side-by-side throughput and memory: strata vs a real redis-server on this machine.
#
#   benches/vs-redis.sh [requests]        (default 200000 requests per workload; ten times that
#                                          pipelined)
#
# Runs the same redis-benchmark workloads (-c 50, 100-byte values, random keys, pipelines of 1 and 16)
# against both servers, one server at a time, and prints ops/s and the ratio strata/redis. Then, each
# time on freshly started servers, prints both RSS figures after loading 1,000,000 100-byte string keys
# (DEBUG POPULATE), 1,000,000 hashes of 10 small fields, and one sorted set of 1,000,000 members.
# Also: EVALSHA of a 3-command script, BITCOUNT over a 1 MB string, PFADD, and GEOSEARCH radius
# queries over 100,000 points (SKIP_CUSTOM=1 leaves them out).
# TESTS picks the redis-benchmark tests; STRATA_ARGS and REDIS_ARGS add server options (e.g.
# "--threads 1", or persistence on both sides: STRATA_ARGS="--appendonly yes --dir /tmp/s"
# REDIS_ARGS="--appendonly yes --dir /tmp/r", each with the same --appendfsync). SKIP_MEMORY=1 leaves
# out the RSS loads.
# Needs redis-server and redis-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
tests=${TESTS:-set,get,incr,mset,lpush,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100}
strata_port=${STRATA_PORT:-7379}
redis_port=${REDIS_PORT:-7380}

cargo build --release --bin strata-server >/dev/null 2>&1
strata_pid=""
redis_pid=""
start_servers() {
  # shellcheck disable=SC2086 # STRATA_ARGS is a list of options.
  ./target/release/strata-server --port "$strata_port" --bind 127.0.0.1 --loglevel warning --enable-debug-command local ${STRATA_ARGS:-} >/dev/null &
  strata_pid=$!
  # shellcheck disable=SC2086 # REDIS_ARGS is a list of options; later ones win.
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --enable-debug-command yes --loglevel warning ${REDIS_ARGS:-} >/dev/null &
  redis_pid=$!
  for port in "$strata_port" "$redis_port"; do
    # PONG, not LOADING: a server with persistence answers once its data is loaded.
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
  done
}
stop_servers() {
  kill "$strata_pid" "$redis_pid" 2>/dev/null || true
  wait "$strata_pid" "$redis_pid" 2>/dev/null || true
}
trap stop_servers EXIT
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
ratio() { echo "$1 / $2" | bc -l; }

# Pipelined runs send ten times the requests (the cheap workloads run ~10x faster), so every
# measurement lasts about as long: 100,000 pipelined SETs take 0.1 s, mostly connection set-up.
scaled() { if (($1 > 1)); then echo $((requests * 10)); else echo "$requests"; fi; }

# Prints "<test> <ops/s>" lines for one server and pipeline depth.
throughput() {
  redis-benchmark -p "$1" -c 50 -n "$(scaled "$2")" -r 1000000 -d 100 -P "$2" -t "$tests" --csv 2>/dev/null \
    | tail -n +2 | tr -d '"' | awk -F, '{gsub(/ /, "_", $1); print $1, $2}'
}

# The script and data the custom workloads use, loaded into one server.
script='redis.call("SET", KEYS[1], ARGV[1]) redis.call("INCR", KEYS[2]) return redis.call("GET", KEYS[1])'
prepare_custom() {
  sha=$(redis-cli -p "$1" script load "$script")
  redis-cli -p "$1" setrange bitmap 1048575 x >/dev/null
  awk 'BEGIN { srand(7); for (b = 0; b < 100; b++) { printf "GEOADD points"; for (i = 0; i < 1000; i++) printf " %.6f %.6f p%d", -10 + rand() * 40, 35 + rand() * 25, b * 1000 + i; printf "\n" } }' |
    redis-cli -p "$1" --pipe >/dev/null
}
# Prints "<name> <ops/s>" for one custom command line, run `count` times.
custom() {
  local port=$1 pipeline=$2 count=$3 name=$4
  shift 4
  redis-benchmark -p "$port" -c 50 -n "$count" -r 1000000 -P "$pipeline" --csv "$@" 2>/dev/null |
    tail -n 1 | tr -d '"' | awk -F, -v name="$name" '{print name, $2}'
}
customs() {
  # BITCOUNT and GEOSEARCH are slow enough at any depth.
  custom "$1" "$2" "$(scaled "$2")" EVALSHA evalsha "$sha" 2 "key:__rand_int__" "counter:__rand_int__" value
  custom "$1" "$2" "$requests" BITCOUNT_1MB bitcount bitmap
  custom "$1" "$2" "$(scaled "$2")" PFADD pfadd hll "element:__rand_int__"
  custom "$1" "$2" "$requests" GEOSEARCH_50KM geosearch points fromlonlat 10 47 byradius 50 km asc count 10
}

start_servers
if [[ -z ${SKIP_CUSTOM:-} ]]; then
  prepare_custom "$strata_port"
  prepare_custom "$redis_port"
fi
printf '%-16s %4s %12s %12s %7s\n' workload P strata redis ratio
for pipeline in 1 16; do
  # One server at a time: both share this machine's cores with redis-benchmark.
  strata_runs=$(throughput "$strata_port" "$pipeline")
  redis_runs=$(throughput "$redis_port" "$pipeline")
  if [[ -z ${SKIP_CUSTOM:-} ]]; then
    strata_runs+=$'\n'$(customs "$strata_port" "$pipeline")
    redis_runs+=$'\n'$(customs "$redis_port" "$pipeline")
  fi
  paste <(echo "$strata_runs") <(echo "$redis_runs") |
    while read -r name strata _ redis; do
      printf '%-16s %4s %12.0f %12.0f %7.2f\n' "$name" "$pipeline" "$strata" "$redis" "$(ratio "$strata" "$redis")"
    done
done
stop_servers

[[ -n ${SKIP_MEMORY:-} ]] && exit 0
# Memory: each load on freshly started servers, so nothing left by earlier runs counts.
load_strings() { redis-cli -p "$1" debug populate 1000000 key 100 >/dev/null; }
load_hashes() {
  awk 'BEGIN { for (i = 0; i < 1000000; i++) { printf "HSET hash:%d", i; for (f = 0; f < 10; f++) printf " field%d value%d", f, i; printf "\n" } }' |
    redis-cli -p "$1" --pipe >/dev/null
}
load_zset() {
  awk 'BEGIN { for (b = 0; b < 1000; b++) { printf "ZADD bigzset"; for (i = 0; i < 1000; i++) { m = b * 1000 + i; printf " %d member:%d", m, m } printf "\n" } }' |
    redis-cli -p "$1" --pipe >/dev/null
}
echo
printf '%-28s %10s %10s %7s\n' "RSS (MB)" strata redis ratio
for load in strings hashes zset; do
  start_servers
  "load_$load" "$strata_port"
  "load_$load" "$redis_port"
  s=$(rss_mb "$strata_pid"); r=$(rss_mb "$redis_pid")
  case $load in
    strings) label="1M keys, 100-byte values" ;;
    hashes) label="1M hashes of 10 fields" ;;
    zset) label="zset of 1M members" ;;
  esac
  printf '%-28s %10s %10s %7.2f\n' "$label" "$s" "$r" "$(ratio "$s" "$r")"
  stop_servers
done
