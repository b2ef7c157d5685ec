#!/usr/bin/env bash
# Posts Telegram updates to a fresh release hub's webhook from many clients, with the bot off
# (what is measured is ingest: verify, normalize, commit, acknowledge, route):
#   bench/webhook.sh [--postgres [URL]] [extra switchboard-bench webhook flags…]
# On SQLite, or with --postgres on a fresh PostgreSQL database (bench/hub.sh). Results:
# BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/hub.sh
export SWITCHBOARD_BOT_ENABLED=false
start_hub "$@"
"$work/switchboard-bench" webhook --url "http://$listen" "${args[@]}"
