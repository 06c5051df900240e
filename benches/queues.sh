#!/usr/bin/env bash
# Work queues end to end: strata's Q.* against the reliable-queue pattern on a real redis-server
# (LPUSH, BLMOVE to a processing list, LREM to ack), both with AOF on at the same `appendfsync`.
#
#   benches/queues.sh [messages]      (default 200000; PRODUCERS, CONSUMERS, COUNT, BATCH,
#                                      FSYNC="everysec always", STRATA_PORT, REDIS_PORT)
#
# 100-byte messages; prints messages/s end to end and p50/p99 push-to-ack latency for each, and the
# ratio. RabbitMQ (durable queue, publisher confirms, manual acks) is a follow-up.
# Needs redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-200000}
producers=${PRODUCERS:-4}
consumers=${CONSUMERS:-4}
count=${COUNT:-16}
batch=${BATCH:-16}
strata_port=${STRATA_PORT:-7479}
redis_port=${REDIS_PORT:-7480}
work=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

cargo build --release --bin strata-server >/dev/null 2>&1
cargo bench --bench queue_load --no-run >/dev/null 2>&1
load() { cargo bench --bench queue_load -- --port "$1" --mode "$2" --producers "$producers" --consumers "$consumers" --count "$count" --batch "$batch" --messages "$messages" 2>/dev/null | tail -1; }
rate() { sed -n 's/.*msgs\/s=\([0-9]*\).*/\1/p' <<<"$1"; }

for fsync in ${FSYNC:-everysec always}; do
  rm -rf "$work"/*
  mkdir -p "$work/strata" "$work/redis"
  "${CARGO_TARGET_DIR:-target}/release/strata-server" --port "$strata_port" --bind 127.0.0.1 --loglevel warning \
    --appendonly yes --appendfsync "$fsync" --dir "$work/strata" >/dev/null &
  pids+=($!)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync "$fsync" \
    --dir "$work/redis" --loglevel warning >/dev/null &
  pids+=($!)
  for port in "$strata_port" "$redis_port"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  ours=$(load "$strata_port" strata)
  theirs=$(load "$redis_port" redis)
  echo "appendfsync $fsync"
  echo "  $ours"
  echo "  $theirs"
  echo "  strata/redis: $(echo "$(rate "$ours") / $(rate "$theirs")" | bc -l | cut -c1-5)x"
  redis-cli -p "$strata_port" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  pids=()
done
