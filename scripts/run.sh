#!/usr/bin/env bash
# Builds strata in release mode and runs it with conf/strata.conf; extra arguments override settings,
# e.g. scripts/run.sh --port 7000 --requirepass secret
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin strata-server
exec ./target/release/strata-server conf/strata.conf "$@"
