# Sourced by the end-to-end scripts (queues.sh, topics.sh, lakes.sh): a work directory removed on exit, the
# release server built, and strata and redis-server started side by side with AOF on at one
# `appendfsync` (`pair_start fsync strata_port redis_port`, `pair_stop strata_port redis_port`).
work=$(mktemp -d)
pids=()
pair_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap pair_cleanup EXIT
cargo build --release --bin strata-server >/dev/null 2>&1

pair_start() {
  local fsync=$1 strata_port=$2 redis_port=$3
  rm -rf "${work:?}"/*
  mkdir -p "$work/strata" "$work/redis"
  "${CARGO_TARGET_DIR:-target}/release/strata-server" --port "$strata_port" --bind 127.0.0.1 --loglevel warning \
    --appendonly yes --appendfsync "$fsync" --dir "$work/strata" >/dev/null &
  pids+=($!)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync "$fsync" \
    --dir "$work/redis" --loglevel warning >/dev/null &
  pids+=($!)
  for port in "$strata_port" "$redis_port"; do
    # PONG, not LOADING: a server with persistence answers once its data is loaded.
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
  done
}

pair_stop() {
  redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  pids=()
}
