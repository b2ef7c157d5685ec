#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis run on loopback and exports SWITCHBOARD_TEST_DATABASE_URL and
# SWITCHBOARD_TEST_REDIS_URL. Uses the machine's shared script when there is one; otherwise
# starts Debian's servers itself. Sourced by .ci/run.

for shared in ../shared/ci-services.sh /work/shared/ci-services.sh; do
  if [ -f "$shared" ]; then
    # shellcheck disable=SC1090
    source "$shared"
    return 0 2>/dev/null || exit 0
  fi
done

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start 2>/dev/null \
    || pg_ctlcluster "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  command -v redis-server >/dev/null \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 20); do redis-cli ping 2>/dev/null | grep -q PONG && break; sleep 0.5; done
fi
export SWITCHBOARD_TEST_DATABASE_URL="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export SWITCHBOARD_TEST_REDIS_URL="${SWITCHBOARD_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
