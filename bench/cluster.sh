#!/usr/bin/env bash
# Runs the web-chat load test against a cluster of release hub nodes on this machine and kills
# one of them in the middle of the messaging phase:
#   bench/cluster.sh [--nodes N] [--kill-after SECS|--no-kill] [CONVERSATIONS] [THINK_SECS] [extra switchboard-bench webchat flags…]
# N nodes (default 2) on 127.0.0.1:18481… share one fresh PostgreSQL database (on the server of
# $SWITCHBOARD_TEST_DATABASE_URL, by default postgres://postgres@127.0.0.1:5432) and the local
# Redis ($SWITCHBOARD_REDIS_URL, by default redis://127.0.0.1:6379), behind nginx on
# 127.0.0.1:18480 (Debian's package, installed when missing and we are root), with the
# proxy settings of deploy/nginx.conf. The generator's visitors connect through nginx, so each
# lands on any node. SECS seconds (default 15) after the messaging phase starts, node 1 (the
# first started, which created the schema) gets `kill -9`: its visitors reconnect through nginx
# to the others, resume and resend, and the generator reports how long that took and whether
# anything was lost or duplicated. The hub's memory and CPU figures are node 2's (node 1's
# with --no-kill). Node logs stay in ${TMPDIR:-/tmp}/switchboard-cluster-node-N.log, nginx's in
# ${TMPDIR:-/tmp}/switchboard-cluster-nginx.log. Results: the generator's output (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

nodes=2 kill_after=15
cluster_flag() {
  case "$1" in
    --nodes) flag_value "$@"; nodes="$2" took=2 ;;
    --kill-after) flag_value "$@"; kill_after="$2" took=2 ;;
    --no-kill) kill_after="" took=1 ;;
    *) return 1 ;;
  esac
}
read_flags cluster_flag "$@"
set -- "${args[@]}"
conversations="${1:-10000}"
think="${2:-10}"
shift $(( $# > 2 ? 2 : $# ))
if [ "$nodes" -lt 1 ] || { [ -n "$kill_after" ] && [ "$nodes" -lt 2 ]; }; then
  echo "killing a node needs --nodes 2 or more (or --no-kill)" >&2
  exit 2
fi

if ! command -v nginx >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "nginx is missing: apt-get install nginx-light (as root), then run this again" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y nginx-light || apt-get install -y nginx
fi

# Every visitor is a socket in the generator, two in nginx (the client's and the node's) and,
# after the kill, one in the surviving node.
ulimit -n 100000 2>/dev/null || ulimit -n 20000 || ulimit -n "$(ulimit -Hn)"
files="$(ulimit -n)"
release_binaries
chmod 755 "$work"
# Every node seals and opens the inboxes' secrets with the same key (docs/operations.md).
SWITCHBOARD_SECRET_KEY="$("$work/switchboard" secrets new-key)"
export SWITCHBOARD_SECRET_KEY
# A question whose turn the killed node had queued is answered by a survivor once it has waited
# this long (hub/server/src/lost_turns.rs): 30 s rather than the default 120, within the run.
export SWITCHBOARD_BOT_RECOVER_SECS="${SWITCHBOARD_BOT_RECOVER_SECS:-30}"

server="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
server="${server%/*}"
redis="${SWITCHBOARD_REDIS_URL:-redis://127.0.0.1:6379}"
database="switchboard_cluster_$(date +%s)_$$"
pids=() nginx="" killer=""

# Stops nginx and the nodes still running, keeps the logs, drops the database and removes the
# work directory. `set -e` does not apply: the exit statuses of killed processes are not
# failures.
stop_cluster() {
  set +e
  [ -n "$killer" ] && kill "$killer" 2>/dev/null
  kill "${pids[@]}" $nginx 2>/dev/null
  wait "${pids[@]}" $nginx 2>/dev/null
  for i in "${!pids[@]}"; do
    cp "$work/node-$((i + 1)).log" "${TMPDIR:-/tmp}/switchboard-cluster-node-$((i + 1)).log"
  done
  cp "$work/nginx/error.log" "${TMPDIR:-/tmp}/switchboard-cluster-nginx.log" 2>/dev/null
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
  rm -rf "$work"
}
trap stop_cluster EXIT

psql "$server/postgres" -qc "CREATE DATABASE $database"
echo "cluster: $nodes nodes on PostgreSQL $server/$database and Redis $redis"

# Starts node $1 on 127.0.0.1:(18480 + $1) and records its pid.
start_node() {
  local listen="127.0.0.1:$((18480 + $1))"
  "$work/switchboard" serve --listen "$listen" --data-dir "$work/node-$1" \
    --database-url "$server/$database" --redis-url "$redis" >"$work/node-$1.log" 2>&1 &
  pids+=($!)
}

# Waits for node $1's /readyz.
node_ready() {
  wait_ready "127.0.0.1:$((18480 + $1))" "$work/node-$1.log" "node $1"
}

# The first node creates the schema and the demo organization; the others find them.
start_node 1
node_ready 1
for i in $(seq 2 "$nodes"); do start_node "$i"; done
for i in $(seq 2 "$nodes"); do node_ready "$i"; done
# Each node encodes the knowledge bases for itself at start: the load starts once all have (the
# generator, through nginx, would ask only one of them).
started=$(date +%s)
for i in $(seq 1 "$nodes"); do knowledge_prepared "127.0.0.1:$((18480 + i))"; done
echo "cluster: every node's knowledge bases encoded after $(( $(date +%s) - started ))s"

# nginx as a foreground child with its own config. Each worker holds a client's and a node's
# socket per visitor: enough workers that the open-file limit holds half again the expected
# share, and `reuseport` so that the kernel spreads the visitors over them evenly.
workers=$(( (3 * (2 * conversations + 1000) + 2 * files - 1) / (2 * files) ))
workers=$(( workers < 2 ? 2 : workers ))
mkdir -p "$work/nginx/tmp"
chmod 777 "$work/nginx/tmp"
upstreams=""
for i in $(seq 1 "$nodes"); do
  upstreams+="        server 127.0.0.1:$((18480 + i)) max_fails=1 fail_timeout=5s;"$'\n'
done
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $workers;
worker_rlimit_nofile $files;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;

events {
    worker_connections $((files - 64));
}

http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;

    upstream switchboard {
$upstreams        keepalive 64;
    }

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }

    server {
        listen 127.0.0.1:18480 reuseport;
        client_max_body_size 26m;

        location / {
            proxy_pass http://switchboard;
            proxy_http_version 1.1;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
        }

        # A visitor whose node died reconnects here; a refused connection goes to the next node.
        location /chat/ws {
            proxy_pass http://switchboard;
            proxy_http_version 1.1;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
        }
    }
}
EOF
nginx -t -q -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf"
nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx=$!
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:18480/readyz >/dev/null && break
  sleep 0.1
done
curl -sf http://127.0.0.1:18480/readyz >/dev/null
echo "nginx on 127.0.0.1:18480 ($workers workers, $((files - 64)) connections each) in front of:"
for i in "${!pids[@]}"; do echo "  node $((i + 1)): 127.0.0.1:$((18481 + i)), pid ${pids[$i]}"; done

# The generator prints `held N connections` as its messaging phase starts: the kill counts
# from there, whatever the ramp took.
measured="${pids[0]}"
log="$work/webchat.out"
: >"$log"
if [ -n "$kill_after" ]; then
  measured="${pids[1]}"
  (
    until grep -q '^held ' "$log"; do sleep 0.1; done
    sleep "$kill_after"
    kill -9 "${pids[0]}"
    echo "cluster: killed node 1 (pid ${pids[0]}) with SIGKILL ${kill_after}s after the messaging phase started ($(date -u +%T))"
  ) &
  killer=$!
fi
echo "cluster: the hub's memory and CPU below are those of node $([ -n "$kill_after" ] && echo 2 || echo 1) (pid $measured)"
status=0
"$work/switchboard-bench" webchat --url http://127.0.0.1:18480 --hub-pid "$measured" \
  --conversations "$conversations" --think-secs "$think" --cold-knowledge "$@" > >(tee "$log") 2>&1 || status=$?
# How many lines of each level a node logged (its log may be coloured).
levels() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '{ n[$2]++ } END { printf "%d errors, %d warnings", n["ERROR"], n["WARN"] }'
}
for i in "${!pids[@]}"; do
  echo "node $((i + 1)): $(levels "$work/node-$((i + 1)).log") (${TMPDIR:-/tmp}/switchboard-cluster-node-$((i + 1)).log)"
done
# Each request nginx sent to the dead node is an error there (refused, or reset while the node
# was dying), then retried on another node.
echo "nginx: $(grep -c '\[error\]' "$work/nginx/error.log" || true) errors, of which" \
  "$(grep -c '\[error\].*upstream: "http://127.0.0.1:18481' "$work/nginx/error.log" || true) on node 1" \
  "(${TMPDIR:-/tmp}/switchboard-cluster-nginx.log)"
exit "$status"
