#!/usr/bin/env bash
# Regenerates the *.expected files of the redis-cli sessions by running each session against a real
# redis-server (the reference), never against strata. Sessions named strata_* use strata-only
# commands: their expected files are written and reviewed by hand and are not touched here.
#
# Usage: tests/redis-cli/generate.sh   (needs redis-server and redis-cli on PATH)
set -euo pipefail
cd "$(dirname "$0")"
for script in *.redis; do
    name="${script%.redis}"
    case "$name" in strata_*) continue ;; esac
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --enable-debug-command yes \
        --daemonize no >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.05; done
    args=()
    if [[ -f "$name.args" ]]; then mapfile -t args < "$name.args"; fi
    redis-cli -p "$port" --no-raw "${args[@]}" < "$script" > "$name.expected" 2>&1 || true
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "wrote $name.expected"
done
