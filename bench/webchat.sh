#!/usr/bin/env bash
# Runs the web-chat load test against a fresh release hub on this machine:
#   bench/webchat.sh [CONVERSATIONS] [THINK_SECS] [extra switchboard-bench webchat flags…]
# Builds both binaries in release, starts a hub with an empty data dir on 127.0.0.1:18481, runs
# the generator as its own process, stops the hub. Results: the generator's output (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
conversations="${1:-10000}"
think="${2:-10}"
shift $(( $# > 2 ? 2 : $# ))

ulimit -n 20000 || ulimit -n "$(ulimit -Hn)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p switchboard -p switchboard-bench
work="$(mktemp -d)"
cp "$CARGO_TARGET_DIR/release/switchboard" "$CARGO_TARGET_DIR/release/switchboard-bench" "$work/"
export SWITCHBOARD_ADMIN_EMAIL=admin@example.com SWITCHBOARD_ADMIN_PASSWORD='bench pass 123'
listen=127.0.0.1:18481
"$work/switchboard" serve --listen "$listen" --data-dir "$work/data" >"$work/hub.log" 2>&1 &
hub=$!
trap 'kill "$hub" 2>/dev/null; wait "$hub" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://$listen/readyz" >/dev/null && break
  sleep 0.2
done
"$work/switchboard-bench" webchat --url "http://$listen" --hub-pid "$hub" \
  --conversations "$conversations" --think-secs "$think" "$@"
