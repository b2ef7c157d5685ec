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
# As the web-chat benchmark does: a hub that has served before has its knowledge bases'
# encoding on disk; a first start encodes them in the background lane, on the cores the
# ingest measured here would use (a third of the hub's samples on PostgreSQL, 2026-12-07).
knowledge_prepared "$listen"
"$work/switchboard-bench" webhook --url "http://$listen" "${args[@]}"
