#!/usr/bin/env bash
# The long fuzzing run (issue 23; docs/security.md, "Fuzzing"): every fuzz property of the
# parsers of outside input (the tests named `fuzz_*`, built on hub/testkit/src/fuzz.rs) and the
# markdown renderer's (inbox-ui/tests/markdown-fuzz.test.mjs), in release builds, with more
# inputs than `cargo test` tries:
#   bench/fuzz.sh [--debug] [CASES] [SECONDS]
# CASES (default 200000) inputs per strategy of each property (SWITCHBOARD_FUZZ_CASES); each
# crate's run stops after its share of SECONDS (default 900, split evenly), so the run is
# bounded whatever CASES is. A property that fails prints the smallest input it found and the
# script exits non-zero; a crate stopped by its time bound is reported as such, not as a failure.
# --debug runs the debug builds `cargo test` already made (about ten times fewer inputs a
# second), where a release build is not worth its time.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=(--release)
if [ "${1:-}" = "--debug" ]; then profile=(); shift; fi

cases="${1:-200000}"
seconds="${2:-900}"
crates=(switchboard-email switchboard-webchat switchboard-ai switchboard-slack switchboard-whatsapp
        switchboard-telegram switchboard-zendesk switchboard-freshdesk)
share=$(( seconds / (${#crates[@]} + 1) ))

# Build first, so that the time bound counts fuzzing only; one crate at a time, as the runs
# below build them (crates built together would unify features and build their dependencies
# again).
for crate in "${crates[@]}"; do
  nice -n 19 cargo test "${profile[@]}" --locked -q -p "$crate" --no-run
done

export SWITCHBOARD_FUZZ_CASES="$cases"
failed=() bounded=()
run() {
  local name="$1"; shift
  local started=$SECONDS status=0
  # No terminal input: timeout runs the command in a process group of its own, which the
  # terminal would stop if it read from it.
  timeout "$share" "$@" < /dev/null || status=$?
  case "$status" in
    0) echo "== $name: passed in $(( SECONDS - started )) s" ;;
    124) echo "== $name: stopped at its bound of $share s"; bounded+=("$name") ;;
    *) echo "== $name: FAILED"; failed+=("$name") ;;
  esac
}
for crate in "${crates[@]}"; do
  run "$crate" nice -n 19 cargo test "${profile[@]}" --locked -q -p "$crate" fuzz
done
run markdown bash -c 'cd inbox-ui && nice -n 19 node --test tests/markdown-fuzz.test.mjs'

echo "SWITCHBOARD_FUZZ_CASES=$cases; stopped by the time bound: ${bounded[*]:-none}; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
