#!/usr/bin/env bash
# The kill -9 crash loop of tests/persistence.rs, longer than the suite runs it: 4 writers under
# appendfsync always record every acknowledged INCR, RPUSH and MULTI; the server is SIGKILLed at a
# random moment, restarted on the same directory, and every acknowledged write must be there with no
# transaction half applied.
#
#   scripts/crash-loop.sh [cycles]      (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA_CRASH_CYCLES=${1:-100} cargo nextest run --test persistence acknowledged_writes_survive_kill_9 --no-capture
