# Sourced by the benchmark scripts: builds both release binaries and starts a fresh hub on
# 127.0.0.1:18481 (an empty data dir; with --postgres, a fresh database on the PostgreSQL
# server at URL, by default $SWITCHBOARD_TEST_DATABASE_URL or
# postgres://postgres@127.0.0.1:5432/test), stopped and dropped when the script exits.
# With --llm, the hub answers with a model: `switchboard-bench fake-llm` on 127.0.0.1:18490
# (0.4 s to the first token, 20 words at 50 a second; its flags from $FAKE_LLM_FLAGS).
#   start_hub [--postgres [URL]] [--llm] → sets hub (its pid), listen, work, and args (what is left)
#   prepare_hub [--postgres [URL]] [--llm] → the same without starting it: sets serve (the hub's
#     command line, as an array), listen, work and args, for a script that runs the hub itself
#   hub_flag → the flags above, for a script's own flag handler (bench/common.sh, read_flags)
# Extra `serve` settings come from the environment (SWITCHBOARD_*); BENCH_HUB_LISTEN moves the
# hub off 127.0.0.1:18481 (two benchmarks side by side). -h or --help prints the script's usage.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

hub_server="" hub_llm=""

start_hub() {
  prepare_hub "$@"
  postgres_cpu_before="$(postgres_cpu)"
  "${serve[@]}" >"$work/hub.log" 2>&1 &
  hub=$!
  wait_ready "$listen" "$work/hub.log" "the hub"
}

hub_flag() {
  case "$1" in
    --postgres)
      took=1
      hub_server="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
      case "${2:-}" in postgres://*|postgresql://*) hub_server="$2"; took=2 ;; esac ;;
    --llm) hub_llm=1 took=1 ;;
    *) return 1 ;;
  esac
}

prepare_hub() {
  read_flags hub_flag "$@"
  ulimit -n 20000 || ulimit -n "$(ulimit -Hn)"
  release_binaries
  local database=()
  dropdb=true
  if [ -n "$hub_server" ]; then
    local name="switchboard_bench_$(date +%s)_$$"
    psql "$hub_server" -qc "CREATE DATABASE $name"
    database=(--database-url "${hub_server%/*}/$name")
    dropdb="psql '$hub_server' -qc 'DROP DATABASE IF EXISTS $name WITH (FORCE)'"
    echo "hub on PostgreSQL: ${hub_server%/*}/$name"
  else
    echo "hub on SQLite in $work/data"
  fi
  fake=""
  if [ -n "$hub_llm" ]; then
    # shellcheck disable=SC2086
    "$work/switchboard-bench" fake-llm --listen 127.0.0.1:18490 ${FAKE_LLM_FLAGS:-} \
      2>"$work/fake-llm.log" &
    fake=$!
    export SWITCHBOARD_LLM_BASE_URL=http://127.0.0.1:18490/v1 SWITCHBOARD_LLM_MODEL=fake-model
    # Short stand-alone questions the knowledge base clearly covers go to the small model.
    export SWITCHBOARD_LLM_SMALL_MODEL="${SWITCHBOARD_LLM_SMALL_MODEL-fake-small-model}"
    echo "answers from the fake model on 127.0.0.1:18490 (log: $work/fake-llm.log)"
  fi
  listen="${BENCH_HUB_LISTEN:-127.0.0.1:18481}"
  serve=("$work/switchboard" serve --listen "$listen" --data-dir "$work/data" "${database[@]}")
  hub=""
  trap stop_hub EXIT
}

# Stops the hub (and the fake model), keeps the hub's log as ${TMPDIR:-/tmp}/switchboard-bench-hub.log,
# drops the database and removes the work directory. `set -e` does not apply: the hub's exit
# status after the kill is not a failure.
stop_hub() {
  set +e
  # The fake model shares the machine: its CPU is part of the picture.
  [ -n "$fake" ] && echo "fake model CPU: $(ps -o times= -p "$fake" | tr -d ' ') s"
  # So is a PostgreSQL on this machine: the CPU-seconds its processes used since the hub
  # started (all of its databases), steadier from run to run than the latencies.
  local after
  after="$(postgres_cpu)"
  [ -n "$hub_server" ] && [ -n "${postgres_cpu_before:-}" ] && [ -n "$after" ] &&
    echo "PostgreSQL CPU on this machine: $(( (after - postgres_cpu_before) / $(getconf CLK_TCK) )) s"
  # shellcheck disable=SC2086
  kill $hub $fake 2>/dev/null
  # shellcheck disable=SC2086
  wait $hub 2>/dev/null
  tail -1 "$work/fake-llm.log" 2>/dev/null
  cp "$work/hub.log" "${TMPDIR:-/tmp}/switchboard-bench-hub.log"
  eval "$dropdb"
  rm -rf "$work"
}

# The clock ticks a local PostgreSQL has used so far: its postmaster's own and its children's
# that have exited, and those of the children still running. Empty when there is none to read
# (a server elsewhere, or its pid file out of reach).
postgres_cpu() {
  local pidfile postmaster ticks child
  for pidfile in /var/run/postgresql/*.pid; do break; done
  [ -r "${pidfile:-}" ] || return 0
  postmaster="$(head -1 "$pidfile")"
  [ -r "/proc/$postmaster/stat" ] || return 0
  ticks="$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")"
  for child in $(pgrep -P "$postmaster"); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}
