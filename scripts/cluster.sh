#!/usr/bin/env bash
# Runs a ChitChat cluster on this machine, without containers: one redis-server (append-only
# file on) and three relays sharing it, all on loopback. Stops everything it started on
# Ctrl-C, on exit, or as soon as one of them dies.
#
#   relays  relay1, relay2, relay3
#   QUIC    [::1]:4433, [::1]:4434, [::1]:4435  (WebTransport and the CLI)
#   HTTP    127.0.0.1:8080, :8081, :8082        (web app, /healthz, /metrics)
#   CA      ./certs (shared: one CA signs every relay's certificate)
#   data    ./cluster-data (Redis's append-only file, logs); kept between runs
#
# With --redis-cluster, Redis is a Redis Cluster instead: three masters and three replicas
# (ports 7001 to 7006, cluster bus on 17001 to 17006, data in ./cluster-data/redis-cluster),
# formed with redis-cli --cluster create on the first run, and the relays join it with
# --redis redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003/.
#
# Usage: scripts/cluster.sh [--redis-cluster]
# Environment: CLUSTER_DIR (default ./cluster-data), REDIS_PORT (default 6380: not Redis's
# usual 6379, which a system redis-server may hold), REDIS_CLUSTER_PORT (the first of the
# six cluster ports, default 7001), QUIC_HOST (default [::1]: browsers open WebTransport to
# "localhost" over IPv6 first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

REDIS_CLUSTER=no
case "${1:-}" in
  --redis-cluster) REDIS_CLUSTER=yes ;;
  "") ;;
  *)
    echo "usage: scripts/cluster.sh [--redis-cluster]" >&2
    exit 2
    ;;
esac

CLUSTER_DIR=${CLUSTER_DIR:-cluster-data}
REDIS_PORT=${REDIS_PORT:-6380}
REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7001}
# Milliseconds a Redis Cluster master may be unreachable before its replica takes over.
NODE_TIMEOUT=2000
QUIC_HOST=${QUIC_HOST:-[::1]}
RELAYS=(relay1 relay2 relay3)
QUIC_PORTS=(4433 4434 4435)
HTTP_PORTS=(8080 8081 8082)
# Seconds to wait for redis-server to answer PING and for each relay's READY line: both take
# well under a second; the margin is for a loaded machine replaying a long append-only file.
START_TIMEOUT=60
# Seconds a relay gets after SIGTERM to tell its clients to go elsewhere and exit (its own
# drain takes 3 s by default).
STOP_TIMEOUT=10

ensure_rust
need redis-server redis-server
need redis-cli redis-tools

say "building chitchat-relay and chitchat (release)"
cargo build --release --bin chitchat-relay --bin chitchat

mkdir -p "$CLUSTER_DIR/logs" certs
# Absolute from here on: redis-server is given its paths whole.
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
# Keep the cluster's data out of git without touching the repository's own ignore list.
[ -f "$CLUSTER_DIR/.gitignore" ] || printf '*\n' >"$CLUSTER_DIR/.gitignore"

PIDS=()
NAMES=()

# stop_all: SIGTERM to everything started (relays first, Redis last), then wait for each
# with a deadline; SIGKILL for whatever is still running after it.
stop_all() {
  trap - EXIT INT TERM
  [ ${#PIDS[@]} -eq 0 ] && return 0
  say "stopping the cluster"
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    local waited=0
    while kill -0 "${PIDS[$i]}" 2>/dev/null && [ "$waited" -lt $((STOP_TIMEOUT * 10)) ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "${NAMES[$i]} did not stop within ${STOP_TIMEOUT}s; killing it" >&2
      kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    fi
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  PIDS=()
  echo "stopped"
}
trap 'stop_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# started NAME PID: remembers a process to stop at the end.
started() {
  NAMES+=("$1")
  PIDS+=("$2")
}

# fail MESSAGE LOG: says what went wrong with the end of LOG, then exits (stopping the rest).
fail() {
  echo "error: $1" >&2
  if [ -f "$2" ]; then
    echo "--- last lines of $2 ---" >&2
    tail -n 20 "$2" >&2
  fi
  exit 1
}

# --- Redis ---------------------------------------------------------------------------------
# start_redis NAME PORT DIR [ARGS...]: starts a redis-server on 127.0.0.1:PORT with its data
# in DIR (append-only) and waits until it answers PING.
start_redis() {
  local name=$1 port=$2 dir=$3
  shift 3
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    fail "something already answers on 127.0.0.1:$port; choose other ports" /dev/null
  fi
  mkdir -p "$dir"
  local log="$CLUSTER_DIR/logs/$name.log"
  : >"$log"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --appendonly yes --save "" --daemonize no --logfile "$log" "$@" </dev/null &
  started "$name" $!
  local pid=$! deadline=$((SECONDS + START_TIMEOUT))
  until redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; do
    kill -0 "$pid" 2>/dev/null || fail "$name exited" "$log"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name did not answer PING within ${START_TIMEOUT}s" "$log"
    sleep 0.1
  done
}

if [ "$REDIS_CLUSTER" = yes ]; then
  REDIS_PORTS=()
  for i in 0 1 2 3 4 5; do REDIS_PORTS+=($((REDIS_CLUSTER_PORT + i))); done
  say "starting a Redis Cluster on 127.0.0.1:${REDIS_PORTS[0]}-${REDIS_PORTS[5]} (data in $CLUSTER_DIR/redis-cluster)"
  for port in "${REDIS_PORTS[@]}"; do
    start_redis "redis-$port" "$port" "$CLUSTER_DIR/redis-cluster/$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-port $((port + 10000)) --cluster-node-timeout "$NODE_TIMEOUT"
  done
  # A first run forms the cluster; later runs find it in each node's nodes.conf.
  if redis-cli -h 127.0.0.1 -p "${REDIS_PORTS[0]}" cluster info | grep -q '^cluster_known_nodes:1'; then
    say "forming the cluster: 3 masters, 3 replicas"
    nodes=()
    for port in "${REDIS_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/logs/cluster-create.log" 2>&1 ||
      fail "redis-cli --cluster create failed" "$CLUSTER_DIR/logs/cluster-create.log"
  fi
  deadline=$((SECONDS + START_TIMEOUT))
  for port in "${REDIS_PORTS[@]}"; do
    until redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
      [ "$SECONDS" -lt "$deadline" ] || fail "the node on $port did not say cluster_state:ok within ${START_TIMEOUT}s" "$CLUSTER_DIR/logs/redis-$port.log"
      sleep 0.1
    done
  done
  REDIS_URL="redis+cluster://127.0.0.1:${REDIS_PORTS[0]},127.0.0.1:${REDIS_PORTS[1]},127.0.0.1:${REDIS_PORTS[2]}/"
else
  say "starting redis-server on 127.0.0.1:$REDIS_PORT (data in $CLUSTER_DIR/redis)"
  start_redis redis "$REDIS_PORT" "$CLUSTER_DIR/redis"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
fi
REDIS_COUNT=${#PIDS[@]}

# --- Relays --------------------------------------------------------------------------------
say "starting ${RELAYS[*]}"
for i in "${!RELAYS[@]}"; do
  name=${RELAYS[$i]}
  : >"$CLUSTER_DIR/logs/$name.out"
  target/release/chitchat-relay \
    --node-id "$name" \
    --listen "$QUIC_HOST:${QUIC_PORTS[$i]}" \
    --http "127.0.0.1:${HTTP_PORTS[$i]}" \
    --redis "$REDIS_URL" \
    --certs-dir certs \
    --data-dir "$CLUSTER_DIR/$name" \
    </dev/null >"$CLUSTER_DIR/logs/$name.out" 2>"$CLUSTER_DIR/logs/$name.log" &
  started "$name" $!
done
for i in "${!RELAYS[@]}"; do
  name=${RELAYS[$i]}
  pid=${PIDS[$((i + REDIS_COUNT))]}
  deadline=$((SECONDS + START_TIMEOUT))
  until grep -q '^READY ' "$CLUSTER_DIR/logs/$name.out"; do
    kill -0 "$pid" 2>/dev/null || fail "$name exited" "$CLUSTER_DIR/logs/$name.log"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name printed no READY line within ${START_TIMEOUT}s" "$CLUSTER_DIR/logs/$name.log"
    sleep 0.1
  done
  echo "$name: $(grep -m1 '^READY ' "$CLUSTER_DIR/logs/$name.out")"
done

relay_list=""
for port in "${QUIC_PORTS[@]}"; do relay_list+="${relay_list:+,}$QUIC_HOST:$port"; done

cat <<EOF

== the cluster is up (Ctrl-C stops it)

Web app, one per relay (the same rooms on each):
  http://localhost:${HTTP_PORTS[0]}/   http://localhost:${HTTP_PORTS[1]}/   http://localhost:${HTTP_PORTS[2]}/

CLI, from this directory (it trusts ./certs/ca.pem), with all three relays to fail over:
  export CHITCHAT_RELAY='$relay_list'
  target/release/chitchat chat lobby

Or aim at one relay, e.g. send through relay1 and read through relay3:
  target/release/chitchat --relay '$QUIC_HOST:${QUIC_PORTS[2]}' tail lobby
  target/release/chitchat --relay '$QUIC_HOST:${QUIC_PORTS[0]}' send lobby hello

Health and metrics: curl http://127.0.0.1:${HTTP_PORTS[0]}/healthz   (and /metrics)
Logs: $CLUSTER_DIR/logs/
EOF

# Runs until Ctrl-C, or until one of the processes exits by itself (then the rest stop).
set +e
wait -n "${PIDS[@]}"
status=$?
set -e
for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    log="$CLUSTER_DIR/logs/${NAMES[$i]}.log"
    fail "${NAMES[$i]} exited (status $status)" "$log"
  fi
done
