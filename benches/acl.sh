#!/usr/bin/env bash
# ACL overhead: the same redis-benchmark SET/GET workload run as the unrestricted default user and
# as one of 100 ACL users with key patterns and command rules (every request then checked: command
# bit, each key against the user's patterns), side by side on one strata, and the same two runs on
# a real redis-server, with the ratios.
#
#   benches/acl.sh [requests]     (default 300000; ten times that pipelined)
#
# Needs redis-server and redis-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-300000}
strata_port=${STRATA_PORT:-7389}
redis_port=${REDIS_PORT:-7390}
cargo build --release --bin strata-server >/dev/null 2>&1
./target/release/strata-server --port "$strata_port" --bind 127.0.0.1 --appendonly no --loglevel warning >/dev/null &
strata_pid=$!
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null &
redis_pid=$!
trap 'kill $strata_pid $redis_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for port in "$strata_port" "$redis_port"; do
  until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
  # 100 users, each with its own key prefix and a few patterns; the benchmark runs as user50, whose
  # patterns cover redis-benchmark's `key:` keys after nine that don't.
  for i in $(seq 1 100); do
    redis-cli -p "$port" ACL SETUSER "user$i" on ">pw$i" "~tenant$i:*" "~cache$i:*" "%R~shared:*" \
      "~audit$i:*" "~tmp$i:*" "~a$i:*" "~b$i:*" "~c$i:*" "~d$i:*" "~key:*" "+@read" "+@write" "-flushall" "+ping" >/dev/null
  done
done
scaled() { if (($1 > 1)); then echo $((requests * 10)); else echo "$requests"; fi; }
run() { # port pipeline [user password]
  local auth=()
  if (($# > 2)); then auth=(--user "$3" -a "$4"); fi
  redis-benchmark -p "$1" "${auth[@]}" -c 50 -n "$(scaled "$2")" -r 1000000 -d 100 -P "$2" -t set,get --csv 2>/dev/null \
    | tail -n +2 | tr -d '"' | awk -F, '{print $1, $2}'
}
printf "%-5s %-3s %12s %12s %8s   %12s %12s %8s\n" test P strata-default strata-user50 overhead redis-default redis-user50 overhead
for pipeline in 1 16; do
  # One run at a time, so they don't share the CPU.
  strata_default=$(run "$strata_port" "$pipeline")
  strata_user=$(run "$strata_port" "$pipeline" user50 pw50)
  redis_default=$(run "$redis_port" "$pipeline")
  redis_user=$(run "$redis_port" "$pipeline" user50 pw50)
  paste <(echo "$strata_default") <(echo "$strata_user") <(echo "$redis_default") <(echo "$redis_user") |
    awk -v p="$pipeline" '{printf "%-5s %-3s %12.0f %12.0f %7.1f%%   %12.0f %12.0f %7.1f%%\n", $1, p, $2, $4, 100 * ($2 - $4) / $2, $6, $8, 100 * ($6 - $8) / $6}'
done
