#!/usr/bin/env bash
# Runs the standard workloads (bench/WORKLOADS.md, documented in docs/performance.md)
# against ChitChat on this machine: builds release binaries, starts one redis-server and,
# for every run, fresh relays in cluster mode on loopback, runs `chitchat-bench`, and writes
#   $OUT/<transport>.jsonl   one JSON object per run
#   $OUT/<transport>.md      the median of each figure over the runs, against the targets
#   $OUT/<transport>-<scenario>.svg   the latency distribution of each scenario's first run
# Everything it starts is stopped on exit, however it exits.
#
# RELAY_THREADS_OVERRIDE=N sets every relay's worker threads; QUIET_MAX=S bounds the wait for
# a quiet machine before each run.
#
# --transport ws runs over the WebSocket transport with TLS (wss://, as browsers use it in
# production): the relays get a certificate made here (--tls-cert/--tls-key, openssl).
#
# Usage: bench/run.sh [--runs N] [--transport quic|webtransport|ws] [--out DIR]
#                     [--scenarios "fanout-small fanout-large many-rooms probe connections-10k connections-50k"]
#                     [--no-build] [-- extra flags for chitchat-bench, e.g. -T 3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/common.sh

RUNS=3
TRANSPORT=quic
OUT=bench/results
SCENARIOS="fanout-small fanout-large many-rooms probe connections-10k connections-50k"
BUILD=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --transport) TRANSPORT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

# Limits raised so that the workloads measure the relay, not its abuse protection: one
# publisher sends up to thousands of messages a second, fanout rooms hold a thousand
# members, the connections workload opens 50 000 sessions, and every session comes from one
# loopback address (the per-address caps and quotas are for strangers, and a Retry round trip
# per connection would measure address validation instead of the relay).
RELAY_LIMITS=(--msgs-per-sec 1000000 --msgs-burst 1000000 --max-sessions 200000 --queue-len 65536
  --max-sessions-per-addr 200000 --max-handshakes-per-addr 4096 --max-handshakes 4096
  --retry-above 4096 --new-rooms-per-min 1000000 --stored-bytes-per-min 100000000000)
# Tokio worker threads per relay: the machine's cores shared out among the relays of a run
# (two relays on two cores: one each; the connections workload's one relay: both). More
# workers than cores only adds cross-thread wake-ups (docs/performance.md, step 2).
CORES=$(nproc)
# A whole workload (probe is the longest: up to ~12 steps of ~20 s) must end within this.
BENCH_TIMEOUT=1500
# A relay prints READY within a second or two (it creates the dev CA on first start).
READY_TIMEOUT=30

ensure_rust
command -v redis-server >/dev/null || apt_install redis-server
command -v python3 >/dev/null || apt_install python3
if [ "$BUILD" = 1 ]; then
  say "building chitchat-relay and chitchat-bench (release)"
  cargo build --release --bin chitchat-relay --bin chitchat-bench
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chitchat-bench.XXXXXX")
# Private copies: a rebuild in the shared target/ during the runs must not change what runs.
cp target/release/chitchat-relay target/release/chitchat-bench "$WORK/"
RELAY_BIN=$WORK/chitchat-relay
BENCH_BIN=$WORK/chitchat-bench
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- relay protocol client-cli bench/src bench/Cargo.toml 2>/dev/null || echo +changes)
PIDS=()
# terminate TENTHS PID...: SIGTERM, then SIGKILL for whatever still runs TENTHS tenths of a
# second later; reaps them.
terminate() {
  local tenths=$1 pid
  shift
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  terminate 50 "${PIDS[@]}"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on loopback (redis needs a fixed one; relays bind port 0).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK" --logfile "$WORK/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do
  redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping | grep -q PONG || { echo "redis-server did not start" >&2; exit 1; }
say "redis-server pid $REDIS_PID on port $REDIS_PORT"

# The WebSocket runs: a CA and a leaf for 127.0.0.1 it signs, served on both ports.
CA_FILE=$WORK/certs/ca.pem
TLS_ARGS=()
if [ "$TRANSPORT" = ws ]; then
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$WORK/tls/leaf.key" -out "$WORK/tls/leaf.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/tls/san.ext"
  openssl x509 -req -in "$WORK/tls/leaf.csr" -CA "$WORK/tls/ca.pem" -CAkey "$WORK/tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/tls/san.ext" -out "$WORK/tls/leaf.pem" 2>/dev/null
  CA_FILE=$WORK/tls/ca.pem
  # Sessions open their WebSockets many at a time, all from loopback.
  TLS_ARGS=(--tls-cert "$WORK/tls/leaf.pem" --tls-key "$WORK/tls/leaf.key"
    --http-max-conns 65536 --http-max-conns-per-addr 65536)
fi

# start_relay N: starts relay N in cluster mode; sets RELAY_PID and RELAY_ADDR (its QUIC
# address, or wss://HTTP-ADDRESS for the WebSocket runs).
start_relay() {
  local n=$1 log="$WORK/relay$1"
  # The background job truncates its output files only once it runs: remove the last run's
  # now, so the READY line read below is this relay's.
  rm -f "$log.out" "$log.err"
  "$RELAY_BIN" --worker-threads "$RELAY_THREADS" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --redis "redis://127.0.0.1:$REDIS_PORT" --node-id "relay$n" \
    --data-dir "$WORK/data$n" --certs-dir "$WORK/certs" "${RELAY_LIMITS[@]}" "${TLS_ARGS[@]}" \
    >"$log.out" 2>"$log.err" &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  local deadline=$((SECONDS + READY_TIMEOUT))
  RELAY_ADDR=
  until [ -n "$RELAY_ADDR" ]; do
    if ! kill -0 "$RELAY_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "relay $n did not start:" >&2; cat "$log.err" >&2; exit 1
    fi
    sleep 0.05
    if [ "$TRANSPORT" = ws ]; then
      RELAY_ADDR=$(sed -n 's/^READY quic=[^ ]* http=\([^ ]*\)$/wss:\/\/\1/p' "$log.out" 2>/dev/null)
    else
      RELAY_ADDR=$(sed -n 's/^READY quic=\([^ ]*\) http=[^ ]*$/\1/p' "$log.out" 2>/dev/null)
    fi
  done
}

# stop_relays PID...: SIGTERM, then wait for them to exit (they drain within seconds).
stop_relays() {
  terminate 100 "$@"
  # Forget them, so the exit trap never signals a reused pid.
  local keep=() p s stopped
  for p in "${PIDS[@]}"; do
    stopped=0
    for s in "$@"; do [ "$p" = "$s" ] && stopped=1; done
    [ $stopped = 1 ] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

# wait_quiet: until the machine is nearly idle (other work on the shared cores would be
# measured as ChitChat's latency), or QUIET_MAX seconds have passed; prints the busy share.
QUIET_MAX=${QUIET_MAX:-90}
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  python3 -c 'import sys; a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); d=[y-x for x,y in zip(a,b)]; t=sum(d[:8]); print(round(100*(t-d[3]-d[4])/max(t,1)))' "${a[*]:1}" "${b[*]:1}"
}
wait_quiet() {
  local deadline=$((SECONDS + QUIET_MAX)) busy
  while :; do
    busy=$(busy_pct)
    if [ "$busy" -le 15 ] || [ $SECONDS -ge $deadline ]; then echo "$busy"; return; fi
  done
}

# run_bench ARGS...: one bench run; on failure keeps the relays' logs in $OUT/failed/.
run_bench() {
  timeout "$BENCH_TIMEOUT" "$BENCH_BIN" --ca "$CA_FILE" "$@" && return 0
  mkdir -p "$OUT/failed"
  for f in "$WORK"/relay*.err; do cp "$f" "$OUT/failed/$scenario-$run-$(basename "$f")"; done
  return 1
}

mkdir -p "$OUT"
JSONL="$OUT/$TRANSPORT.jsonl"
: >"$JSONL"
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r)"

for scenario in $SCENARIOS; do
  args=()
  relays=2
  case "$scenario" in
    connections-*)
      count=${scenario#connections-}; count=${count%k}000
      args=(connections -C "$count")
      relays=1 ;;
    *) args=("$scenario") ;;
  esac
  for run in $(seq "$RUNS"); do
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    addrs=(); pids=()
    RELAY_THREADS=${RELAY_THREADS_OVERRIDE:-$(( CORES / relays > 0 ? CORES / relays : 1 ))}
    for n in $(seq "$relays"); do
      start_relay "$n"
      addrs+=("$RELAY_ADDR"); pids+=("$RELAY_PID")
    done
    busy=$(wait_quiet)
    say "$scenario ($TRANSPORT) run $run/$RUNS: relays ${addrs[*]} (machine $busy% busy before)"
    plot=()
    [ "$run" = 1 ] && [ "${scenario%%-*}" != connections ] && plot=(--plot "$OUT/$TRANSPORT-$scenario.svg")
    line=$(run_bench "${args[@]}" \
      --transport "$TRANSPORT" --relays "$(IFS=,; echo "${addrs[*]}")" \
      --server-pids "$(IFS=,; echo "${pids[*]}")" --redis-pid "$REDIS_PID" \
      --json "${plot[@]}" "${EXTRA[@]}") || { echo "bench failed: $scenario run $run (relay logs in $OUT/failed)" >&2; exit 1; }
    echo "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(run=int(sys.argv[1]), name=sys.argv[2], rev=sys.argv[3], busy_before_pct=int(sys.argv[4]), relay_threads=int(sys.argv[5])); print(json.dumps(d))' "$run" "$scenario" "$REV" "$busy" "$RELAY_THREADS" >>"$JSONL"
    echo "$line" | python3 "$ROOT/bench/summarize.py" --one
    stop_relays "${pids[@]}"
  done
done

python3 bench/summarize.py "$JSONL" >"$OUT/$TRANSPORT.md"
say "results: $JSONL and $OUT/$TRANSPORT.md"
cat "$OUT/$TRANSPORT.md"
