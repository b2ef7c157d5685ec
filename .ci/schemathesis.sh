#!/usr/bin/env bash
# Property-based tests of the REST API against its own OpenAPI description (issue 23): starts a
# fresh hub (the debug build, SQLite in a temporary data dir, loopback, a port the kernel picks),
# signs in as its admin and runs schemathesis on every `/api/v1` operation, with a bounded number
# of examples each. Fails when any check fails. Run by .ci/run after the tests; by hand:
#   .ci/schemathesis.sh            (SCHEMATHESIS_EXAMPLES=N for more or fewer cases per operation)
# Needs python3 with venv and pip, and PyPI; the venv is kept between runs (SCHEMATHESIS_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
requirements=.ci/schemathesis-requirements.txt
venv="${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-schemathesis}"
examples="${SCHEMATHESIS_EXAMPLES:-25}"

# The venv is made again whenever the pinned requirements change.
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "--- installing schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

echo "--- building the hub"
cargo build --locked --quiet -p switchboard
hub="$target_dir/debug/switchboard"

work="$(mktemp -d)"
hub_pid=""
stop_hub() {
  if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
    kill -TERM "$hub_pid"
    wait "$hub_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_hub EXIT

# A throwaway hub: only its own SQLite database, no Redis, no model (the offline responder), and
# an API limit no run of this size reaches, so that a 429 is never what a check sees.
email="schemathesis@example.com"
password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
env -u SWITCHBOARD_DATABASE_URL -u SWITCHBOARD_REDIS_URL -u SWITCHBOARD_LLM_BASE_URL \
  -u SWITCHBOARD_CONFIG \
  SWITCHBOARD_ADMIN_EMAIL="$email" SWITCHBOARD_ADMIN_PASSWORD="$password" \
  SWITCHBOARD_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn,switchboard=info}" \
  "$hub" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/hub.out" 2>"$work/hub.log" &
hub_pid=$!

# The address is in the `listening` log line once the hub has bound.
base=""
for _ in $(seq 1 300); do
  address="$(sed -n 's/.*"address":"\([0-9.:]*\)".*"message":"listening".*/\1/p;s/.*"message":"listening".*"address":"\([0-9.:]*\)".*/\1/p' "$work/hub.log" | head -n1)"
  if [ -n "$address" ]; then base="http://$address"; break; fi
  kill -0 "$hub_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$base" ]; then
  echo "the hub did not start:" >&2
  cat "$work/hub.log" >&2
  exit 1
fi
echo "--- hub at $base"

# Signs in, adds conversations and a few other things, and writes the config that sends their
# ids to the `{id}` routes (see the helper's docstring).
token="$(python3 .ci/schemathesis_seed.py "$base" "$email" "$password" "$work/schemathesis.toml")"

# Every check but two, which fail on what the hub does on purpose: `positive_data_acceptance`
# wants a 2xx for any request the schema allows, and an id made up at random is a 404;
# `negative_data_rejection` wants a 4xx for any request the schema forbids, and the hub clamps
# a list's `limit` into 1..=200 rather than refusing it, and (serde) takes a struct's fields
# from a JSON array as well as from an object.
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance,missing_required_header
checks+=,unsupported_method,allow_header_conformance,use_after_free
checks+=,ensure_resource_availability,ignored_auth,object_level_authorization

# The admin's session has every permission. Left out: `POST /auth/logout`, which would end that
# very session and turn every later case into a 401.
echo "--- schemathesis, $examples examples per operation"
status=0
# From the temporary dir: schemathesis keeps a cache (`.schemathesis/`) where it runs.
# One worker: with two threads, Python 3.11's `ast` module (CPython gh-106905) made hypothesis
# fail now and then on "AST constructor recursion depth mismatch", which failed a CI run.
(cd "$work" && "$venv/bin/st" --no-color --config-file "$work/schemathesis.toml" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --exclude-path /api/v1/auth/logout \
  --checks "$checks" \
  --max-examples "$examples" \
  --workers 1 \
  --request-timeout 10 \
  --seed "${SCHEMATHESIS_SEED:-23}" \
  --output-truncate false) \
  || status=$?

# A panic or an internal error is a failure even when its response passed the checks.
if grep -q '"level":"ERROR"\|panicked' "$work/hub.log"; then
  echo "the hub logged errors:" >&2
  grep '"level":"ERROR"\|panicked' "$work/hub.log" | head -n 20 >&2
  status=1
fi
exit "$status"
