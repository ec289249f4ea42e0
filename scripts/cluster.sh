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
# Usage: scripts/cluster.sh
# Environment: CLUSTER_DIR (default ./cluster-data), REDIS_PORT (default 6380: not Redis's
# usual 6379, which a system redis-server may hold), QUIC_HOST (default [::1]: browsers
# open WebTransport to "localhost" over IPv6 first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

CLUSTER_DIR=${CLUSTER_DIR:-cluster-data}
REDIS_PORT=${REDIS_PORT:-6380}
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

mkdir -p "$CLUSTER_DIR/redis" "$CLUSTER_DIR/logs" certs
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
if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  fail "something already answers on 127.0.0.1:$REDIS_PORT; set REDIS_PORT to a free port" /dev/null
fi
say "starting redis-server on 127.0.0.1:$REDIS_PORT (data in $CLUSTER_DIR/redis)"
redis_log="$CLUSTER_DIR/logs/redis.log"
: >"$redis_log"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$(pwd)/$CLUSTER_DIR/redis" \
  --appendonly yes --save "" --daemonize no --logfile "$(pwd)/$redis_log" </dev/null &
started redis $!
deadline=$((SECONDS + START_TIMEOUT))
until redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; do
  kill -0 "${PIDS[0]}" 2>/dev/null || fail "redis-server exited" "$redis_log"
  [ "$SECONDS" -lt "$deadline" ] || fail "redis-server did not answer PING within ${START_TIMEOUT}s" "$redis_log"
  sleep 0.1
done

# --- Relays --------------------------------------------------------------------------------
say "starting ${RELAYS[*]}"
for i in "${!RELAYS[@]}"; do
  name=${RELAYS[$i]}
  : >"$CLUSTER_DIR/logs/$name.out"
  target/release/chitchat-relay \
    --node-id "$name" \
    --listen "$QUIC_HOST:${QUIC_PORTS[$i]}" \
    --http "127.0.0.1:${HTTP_PORTS[$i]}" \
    --redis "redis://127.0.0.1:$REDIS_PORT/" \
    --certs-dir certs \
    --data-dir "$CLUSTER_DIR/$name" \
    </dev/null >"$CLUSTER_DIR/logs/$name.out" 2>"$CLUSTER_DIR/logs/$name.log" &
  started "$name" $!
done
for i in "${!RELAYS[@]}"; do
  name=${RELAYS[$i]}
  pid=${PIDS[$((i + 1))]}
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
