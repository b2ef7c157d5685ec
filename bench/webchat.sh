#!/usr/bin/env bash
# Runs the web-chat load test against a fresh release hub on this machine:
#   bench/webchat.sh [--postgres [URL]] [--llm] [CONVERSATIONS] [THINK_SECS] [extra switchboard-bench webchat flags…]
# On SQLite, or with --postgres on a fresh PostgreSQL database; with --llm, answered by the
# benchmark's fake model (bench/hub.sh). Results: the
# generator's output (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/hub.sh
start_hub "$@"
set -- "${args[@]}"
conversations="${1:-10000}"
think="${2:-10}"
shift $(( $# > 2 ? 2 : $# ))
"$work/switchboard-bench" webchat --url "http://$listen" --hub-pid "$hub" \
  --conversations "$conversations" --think-secs "$think" "$@"
