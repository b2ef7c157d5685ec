# Sourced by the benchmark scripts (through bench/hub.sh, and by bench/cluster.sh): their flag
# parser, the release binaries in a fresh work directory, and the wait for a hub's /readyz.
#   read_flags HANDLER "$@" → calls `HANDLER "$@"` while it knows the first word, sets args
#     (what is left); -h or --help prints the running script's opening comment and exits
#   release_binaries → sets work (a fresh directory holding both release binaries) and the
#     admin's credentials (SWITCHBOARD_ADMIN_EMAIL/_PASSWORD)
#   wait_ready ADDRESS LOG NAME → waits up to 60 s for http://ADDRESS/readyz, or says NAME did
#     not start with the end of LOG and fails

# A HANDLER reads its flag from "$1" (and its value from "$2": `flag_value "$@"` checks there
# is one), sets what it means and `took` (the words it used); it returns 1 for a word that is not
# one of its flags, which ends the flags.
read_flags() {
  local handler="$1"
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) script_help; exit 0 ;;
    esac
    took=0
    "$handler" "$@" || break
    shift "$took"
  done
  args=("$@")
}

# For a HANDLER: fails the script unless flag "$1" has a value.
flag_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then
    echo "$1 needs a value (--help shows the usage)" >&2
    exit 2
  fi
}

# The running script's opening comment, without the `#`s: its usage.
script_help() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
}

release_binaries() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  # SWITCHBOARD_BENCH_PREBUILT=1 takes the binaries as they are (no cargo: it may wait on the
  # package cache's lock held by another cargo, e.g. a paused build).
  [ -n "${SWITCHBOARD_BENCH_PREBUILT:-}" ] ||
    cargo build --release --locked -p switchboard -p switchboard-bench
  work="$(mktemp -d)"
  cp "$CARGO_TARGET_DIR/release/switchboard" "$CARGO_TARGET_DIR/release/switchboard-bench" "$work/"
  export SWITCHBOARD_ADMIN_EMAIL=admin@example.com SWITCHBOARD_ADMIN_PASSWORD='bench pass 123'
}

# Waits (at most ten minutes) until the hub on $1 has encoded its knowledge bases: its
# /metrics no longer shows switchboard_knowledge_preparing 1 (absent with the encoder off).
knowledge_prepared() {
  for _ in $(seq 1 2400); do
    curl -sf "http://$1/metrics" | grep -q '^switchboard_knowledge_preparing 1' || return 0
    sleep 0.25
  done
}

wait_ready() {
  for _ in $(seq 1 300); do
    curl -sf "http://$1/readyz" >/dev/null && return 0
    sleep 0.2
  done
  echo "$3 did not start:" >&2
  tail -20 "$2" >&2
  return 1
}
