#!/usr/bin/env bash
# The crash soak (issue 23): web-chat and Telegram webhook load against a fresh release hub
# that is killed with SIGKILL every KILL_EVERY seconds and started again on the same data (the
# same command line) for MINUTES minutes, with the bot answering; the Telegram replies go
# through the outbox to a fake Bot API that `switchboard-bench soak` runs on loopback:
#   bench/soak.sh [--postgres [URL]] [--minutes 5] [--kill-every 20] [extra switchboard-bench soak flags…]
# On SQLite, or with --postgres on a fresh PostgreSQL database (bench/hub.sh). The hub's log,
# appended across restarts, stays in ${TMPDIR:-/tmp}/switchboard-bench-hub.log. Exits non-zero
# when an acknowledged message was lost or stored twice or a reply was sent twice. Results:
# BENCHMARKS.md, "Crash soak (issue 23)".
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/hub.sh
minutes=5 kill_every=20
soak_flag() {
  case "$1" in
    --minutes) flag_value "$@"; minutes="$2" took=2 ;;
    --kill-every) flag_value "$@"; kill_every="$2" took=2 ;;
    *) hub_flag "$@" ;;
  esac
}
read_flags soak_flag "$@"
prepare_hub "${args[@]}"
"$work/switchboard-bench" soak --url "http://$listen" --minutes "$minutes" \
  --kill-every "$kill_every" --hub-log "$work/hub.log" "${args[@]}" -- "${serve[@]}"
