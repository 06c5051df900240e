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
source benches/pair.sh
cargo bench --bench queue_load --no-run >/dev/null 2>&1
load() { cargo bench --bench queue_load -- --port "$1" --mode "$2" --producers "$producers" --consumers "$consumers" --count "$count" --batch "$batch" --messages "$messages" 2>/dev/null | tail -1; }
rate() { sed -n 's/.*msgs\/s=\([0-9]*\).*/\1/p' <<<"$1"; }

for fsync in ${FSYNC:-everysec always}; do
  pair_start "$fsync" "$strata_port" "$redis_port"
  ours=$(load "$strata_port" strata)
  theirs=$(load "$redis_port" redis)
  echo "appendfsync $fsync"
  echo "  $ours"
  echo "  $theirs"
  echo "  strata/redis: $(echo "$(rate "$ours") / $(rate "$theirs")" | bc -l | cut -c1-5)x"
  pair_stop "$strata_port" "$redis_port"
done
