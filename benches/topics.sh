#!/usr/bin/env bash
# Partitioned topics: strata's STREAM.* against Redis Streams used the way their users would (XADD
# to 8 stream keys chosen by key hash, XREADGROUP, XACK), and strata's own XADD path doing the
# same, all with AOF on at the same `appendfsync`.
#
#   benches/topics.sh [messages]      (default 200000; PRODUCERS, CONSUMERS, COUNT, FSYNC=everysec,
#                                      STRATA_PORT, REDIS_PORT, RETAINED=2000000 MAXBYTES=4194304)
#
# 100-byte messages with keys over 8 partitions: publish rate at pipelines 1 and 16, then end to end
# (publishing at pipeline 16, a group of CONSUMERS committing every batch) with the p50/p99
# publish-to-commit latency. Last, RETAINED messages go to a topic with MAXBYTES per partition and
# the store's size on disk is printed: retention bounds it. Needs redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-200000}
producers=${PRODUCERS:-4}
consumers=${CONSUMERS:-4}
count=${COUNT:-100}
strata_port=${STRATA_PORT:-7481}
redis_port=${REDIS_PORT:-7482}
source benches/pair.sh
cargo bench --bench topic_load --no-run >/dev/null 2>&1
load() {
  cargo bench --bench topic_load -- --port "$1" --mode "$2" --phase "$3" --pipeline "$4" --producers "$producers" \
    --consumers "$consumers" --count "$count" --messages "$messages" 2>/dev/null | tail -1
}
rate() { sed -n 's/.*msgs\/s=\([0-9]*\).*/\1/p' <<<"$1"; }

for fsync in ${FSYNC:-everysec}; do
  pair_start "$fsync" "$strata_port" "$redis_port"
  echo "appendfsync $fsync"
  for run in "publish 1" "publish 16" "e2e 16"; do
    set -- $run
    ours=$(load "$strata_port" strata "$1" "$2")
    xadd=$(load "$strata_port" xadd "$1" "$2")
    theirs=$(load "$redis_port" redis "$1" "$2")
    echo "  $ours"
    echo "  $xadd"
    echo "  $theirs"
    echo "  STREAM.* / Redis Streams: $(echo "$(rate "$ours") / $(rate "$theirs")" | bc -l | cut -c1-5)x"
  done
  echo "  strata store on disk: $(du -sh "$work/strata" | cut -f1)"
  retained=${RETAINED:-2000000}
  max_bytes=${MAXBYTES:-4194304}
  cargo bench --bench topic_load -- --port "$strata_port" --mode strata --phase publish --pipeline 16 --producers "$producers" \
    --messages "$retained" --maxbytes "$max_bytes" 2>/dev/null | tail -1 | sed 's/^/  /'
  sleep 2
  kept=$(redis-cli -p "$strata_port" stream.info bench:topic | awk '/^entries$/ {getline; n += $1} END {print n}')
  echo "  $retained messages, MAXBYTES $max_bytes x 8 partitions: $kept entries kept, store on disk $(du -sh "$work/strata" | cut -f1)"
  pair_stop "$strata_port" "$redis_port"
done
