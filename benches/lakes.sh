#!/usr/bin/env bash
# JSON catalogs end to end, strata's LAKE.* beside what Redis users do without it, both with AOF on
# at the same `appendfsync`:
# - writes: LAKE.WRITE MERGE of small patches to 1,000 catalogs against a Lua script on a real
#   redis-server that GETs, decodes (cjson), merges, encodes and SETs the document; pipelines 1 and 16;
# - reads: LAKE.READ of a current 10 KB document beside GET of the same 10 KB string (both on strata,
#   and GET on Redis for reference);
# - history: LAKE.READ at random past versions of a 2,000-version catalog, p50/p99 per request.
#
#   benches/lakes.sh [ops]      (default 100000; CLIENTS, FSYNC, STRATA_PORT, REDIS_PORT)
#
# Needs redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-100000}
clients=${CLIENTS:-4}
fsync=${FSYNC:-everysec}
strata_port=${STRATA_PORT:-7481}
redis_port=${REDIS_PORT:-7482}
source benches/pair.sh
cargo bench --bench lake_load --no-run >/dev/null 2>&1
load() { cargo bench --bench lake_load -- --port "$1" --test "$2" --target "$3" --clients "$clients" --ops "$ops" "${@:4}" 2>/dev/null | tail -1; }
rate() { sed -n 's/.*ops\/s=\([0-9]*\).*/\1/p' <<<"$1"; }
ratio() { echo "$(rate "$1") / $(rate "$2")" | bc -l | cut -c1-5; }

pair_start "$fsync" "$strata_port" "$redis_port"

echo "appendfsync $fsync, $clients clients"
for pipeline in 1 16; do
  ours=$(load "$strata_port" write strata --pipeline "$pipeline")
  theirs=$(load "$redis_port" write redis --pipeline "$pipeline")
  echo "  $ours"
  echo "  $theirs"
  echo "  write, pipeline $pipeline: LAKE.WRITE / Lua merge script: $(ratio "$ours" "$theirs")x"
done
for pipeline in 1 16; do
  lake=$(load "$strata_port" read strata --pipeline "$pipeline")
  get=$(load "$strata_port" read string --pipeline "$pipeline")
  redis_get=$(load "$redis_port" read string --pipeline "$pipeline")
  echo "  $lake"
  echo "  $get"
  echo "  (redis) $redis_get"
  echo "  read 10 KB, pipeline $pipeline: LAKE.READ / GET on strata: $(ratio "$lake" "$get")x"
done
echo "  $(load "$strata_port" history strata --clients 1 --ops 20000)"
