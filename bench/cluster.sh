#!/usr/bin/env bash
# Redis Cluster against one Redis (docs/performance.md, "Redis Cluster: one shard against
# three"): a send-heavy workload (many rooms, one subscriber each, every send one run of the
# publish script) at rising send rates against
#   one       one redis-server (no replica),
#   cluster   a Redis Cluster of 3 masters and 3 replicas, sends acknowledged once the
#             room's replica has them (the default --redis-min-replicas),
#   nowait    the same cluster with --redis-min-replicas 0,
# each with one relay. For every setup it reports the highest rate that held (no loss, no
# refusal, the sender on schedule, acknowledgements p99 under ACK_P99_MAX_MS) and, per step,
# the Redis CPU per send (utime + stime of every redis-server of the setup, from
# /proc/<pid>/stat: redis_cpu_us_per_send over chitchat-bench's measurement window divided by
# the messages sent in it; redis_step_us_per_send over the whole step, joins included, less
# what the servers burn idle (cluster gossip, cron; measured for IDLE_SECS first), divided
# by every message of the step) and the acknowledgement latency (ack_p50_ms, ack_p99_ms).
#
# With --redis-cpu F every redis-server (master or replica) runs in a cgroup of its own
# limited to F of one core (CFS quota; root and cgroup v1 or v2 needed). That stands in for
# a machine with a core per Redis: the relay and the load generator keep what is left, Redis
# runs out first, and the highest sustained rate shows what one shard and three shards can
# take at the same CPU per shard.
#
# Writes $OUT/cluster.jsonl (one JSON object per step) and $OUT/cluster.md (the table).
# Everything it starts is stopped on exit, however it exits.
#
# Usage: bench/cluster.sh [--rates "1000 2000 4000 8000 16000"] [--seconds T] [--rooms N]
#                         [--setups "one cluster nowait"] [--redis-cpu F] [--out DIR]
#                         [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/common.sh

RATES="1000 2000 4000 8000 16000 32000"
SECONDS_PER_STEP=5
ROOMS=200
SETUPS="one cluster nowait"
OUT=bench/results/cluster
BUILD=1
REDIS_CPU=
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) RATES=$2; shift 2 ;;
    --seconds) SECONDS_PER_STEP=$2; shift 2 ;;
    --rooms) ROOMS=$2; shift 2 ;;
    --setups) SETUPS=$2; shift 2 ;;
    --redis-cpu) REDIS_CPU=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

# A step holds if its acknowledgements stay this fast at p99: past it the relay's send queue
# is growing, and the rate is not sustained however long the step.
ACK_P99_MAX_MS=250
# ...and if the load generator stayed this close to its schedule (else it, not the relay,
# fell behind).
SEND_LAG_MAX_MS=100
# Seconds the setup's idle Redis CPU is measured over, to take it out of the per-send figure.
IDLE_SECS=5
# Milliseconds a cluster master may be unreachable before its replica takes over.
NODE_TIMEOUT=2000
# Seconds for a redis-server to answer and for the cluster to form and agree.
START_TIMEOUT=60
# Seconds a relay gets to print READY.
READY_TIMEOUT=30
# One step (setup, warm-up 2 s, T s, drain) ends well within this.
BENCH_TIMEOUT=300
# The relay limits bench/run.sh uses: the workload measures the store, not abuse protection.
RELAY_LIMITS=(--msgs-per-sec 1000000 --msgs-burst 1000000 --max-sessions 200000 --queue-len 65536
  --max-sessions-per-addr 200000 --max-handshakes-per-addr 4096 --max-handshakes 4096
  --retry-above 4096 --new-rooms-per-min 1000000 --stored-bytes-per-min 100000000000)

ensure_rust
need redis-server redis-server
need redis-cli redis-tools
command -v python3 >/dev/null || apt_install python3
if [ "$BUILD" = 1 ]; then
  say "building chitchat-relay and chitchat-bench (release)"
  cargo build --release -p chitchat-relay -p chitchat-bench
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chitchat-cluster-bench.XXXXXX")
cp target/release/chitchat-relay target/release/chitchat-bench "$WORK/"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
PIDS=()
CGROUPS=()
# The CFS period and quota for --redis-cpu: a 20 ms period, longer where the quota would
# fall below the kernel's 1 ms minimum.
if [ -n "$REDIS_CPU" ]; then
  read -r CPU_PERIOD_US CPU_QUOTA_US < <(python3 -c "
f = float('$REDIS_CPU')
assert 0 < f <= 1, 'the fraction of a core must be in (0, 1]'
period = max(20000, int(1000 / f + 0.999))
print(period, int(f * period))") || { echo "--redis-cpu takes a fraction of a core, like 0.05" >&2; exit 2; }
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    CGROUP_ROOT=/sys/fs/cgroup
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control ||
      echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  else
    CGROUP_ROOT=/sys/fs/cgroup/cpu
  fi
  [ -w "$CGROUP_ROOT" ] || { echo "--redis-cpu needs root and a writable $CGROUP_ROOT" >&2; exit 2; }
fi
# cap PID: moves PID into a cgroup of its own, to be limited to --redis-cpu of a core.
cap() {
  local dir="$CGROUP_ROOT/chitchat-cluster-bench-$$-$1"
  mkdir "$dir"
  CGROUPS+=("$dir")
  if [ ! -e "$dir/cpu.max" ]; then echo "$CPU_PERIOD_US" >"$dir/cpu.cfs_period_us"; fi
  echo "$1" >"$dir/cgroup.procs"
}
# limit on|off: the --redis-cpu limit of every redis-server, or none.
limit() {
  [ -n "$REDIS_CPU" ] || return 0
  local dir quota=$CPU_QUOTA_US
  for dir in "${CGROUPS[@]}"; do
    if [ -e "$dir/cpu.max" ]; then
      [ "$1" = on ] || quota=max
      echo "$quota $CPU_PERIOD_US" >"$dir/cpu.max"
    else
      [ "$1" = on ] || quota=-1
      echo "$quota" >"$dir/cpu.cfs_quota_us"
    fi
  done
}
# subscribed: how many room channels the setup's Redis has subscribers on.
subscribed() {
  local port total=0 n
  for port in "${REDIS_PORTS[@]}"; do
    n=$(redis-cli -p "$port" pubsub shardchannels 2>/dev/null | grep -c . || true)
    total=$((total + n))
  done
  echo "$total"
}
terminate() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  terminate "${PIDS[@]}"
  local dir
  for dir in "${CGROUPS[@]}"; do rmdir "$dir" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_redis PORT [ARGS...]: a redis-server on 127.0.0.1:PORT (no persistence: the
# workload measures the scripts), answering PING; appends its pid to REDIS_PIDS.
start_redis() {
  local port=$1
  shift
  mkdir -p "$WORK/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/redis-$port" --logfile "$WORK/redis-$port.log" "$@" </dev/null &
  PIDS+=($!)
  REDIS_PIDS+=($!)
  if [ -n "$REDIS_CPU" ]; then cap $!; fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do
    [ $SECONDS -lt $deadline ] || { echo "redis-server on $port did not start" >&2; exit 1; }
    sleep 0.1
  done
}

# start_setup NAME: the setup's Redis; sets REDIS_URL, REDIS_PIDS, REDIS_PORTS (masters to
# flush), RELAY_EXTRA.
start_setup() {
  REDIS_PIDS=()
  REDIS_PORTS=()
  RELAY_EXTRA=()
  case "$1" in
    one)
      local port
      port=$(free_port)
      start_redis "$port"
      REDIS_PORTS=("$port")
      REDIS_URL="redis://127.0.0.1:$port/" ;;
    cluster | nowait)
      local ports=() nodes=() port
      for _ in 1 2 3 4 5 6; do
        # Cluster bus ports are port + 10000: keep both below 65536.
        until port=$(free_port) && [ "$port" -lt 55000 ]; do :; done
        ports+=("$port")
      done
      for port in "${ports[@]}"; do
        start_redis "$port" --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
          --cluster-node-timeout "$NODE_TIMEOUT"
        nodes+=("127.0.0.1:$port")
      done
      redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
        >"$WORK/cluster-create.log" 2>&1 || { cat "$WORK/cluster-create.log" >&2; exit 1; }
      local deadline=$((SECONDS + START_TIMEOUT))
      for port in "${ports[@]}"; do
        until redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
          [ $SECONDS -lt $deadline ] || { echo "the cluster did not form" >&2; exit 1; }
          sleep 0.1
        done
      done
      # Every master has its replica connected before the first send waits for it.
      until [ "$(for p in "${ports[@]}"; do redis-cli -p "$p" info replication; done |
        grep -c '^connected_slaves:1')" -ge 3 ]; do
        [ $SECONDS -lt $deadline ] || { echo "the replicas did not connect" >&2; exit 1; }
        sleep 0.1
      done
      REDIS_PORTS=("${ports[@]}")
      REDIS_URL="redis+cluster://${nodes[0]},${nodes[1]},${nodes[2]}/"
      if [ "$1" = nowait ]; then RELAY_EXTRA=(--redis-min-replicas 0); fi ;;
    *) echo "unknown setup $1" >&2; exit 2 ;;
  esac
}

# start_relay: one relay on the setup's Redis, both cores; sets RELAY_PID, RELAY_ADDR.
start_relay() {
  rm -f "$WORK/relay.out" "$WORK/relay.err"
  "$WORK/chitchat-relay" --listen 127.0.0.1:0 --http 127.0.0.1:0 --redis "$REDIS_URL" \
    --node-id relay1 --data-dir "$WORK/data" --certs-dir "$WORK/certs" "${RELAY_LIMITS[@]}" \
    "${RELAY_EXTRA[@]}" >"$WORK/relay.out" 2>"$WORK/relay.err" &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  local deadline=$((SECONDS + READY_TIMEOUT))
  RELAY_ADDR=
  until [ -n "$RELAY_ADDR" ]; do
    if ! kill -0 "$RELAY_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the relay did not start:" >&2; cat "$WORK/relay.err" >&2; exit 1
    fi
    sleep 0.05
    RELAY_ADDR=$(sed -n 's/^READY quic=\([^ ]*\) http=[^ ]*$/\1/p' "$WORK/relay.out" 2>/dev/null)
  done
}

# redis_ticks: utime + stime, in clock ticks, of every redis-server of the setup.
redis_ticks() {
  local pid total=0 stat
  for pid in "${REDIS_PIDS[@]}"; do
    stat=$(sed 's/^.*) //' "/proc/$pid/stat")
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# step.py SETUP RATE REV TICKS HZ SECS ACK_MAX LAG_MAX IDLE_CPU_PER_S WALL_S < bench JSON: the step's JSON line
# with the setup, Redis CPU per send and whether the step held; a summary on stderr.
cat >"$WORK/step.py" <<'STEP'
import json, os, sys
d = json.loads(sys.stdin.read())
setup, rate, rev, ticks, hz, secs, ack_max, lag_max, idle_per_s, wall = sys.argv[1:]
every = float(rate) * (2 + float(secs))  # warm-up (2 s) and measured messages
cpu = int(ticks) / int(hz)
idle = float(idle_per_s) * float(wall)
d.update(setup=setup, rate=float(rate), rev=rev, redis_step_cpu_s=cpu,
         redis_cpu_cap=float(os.environ["REDIS_CPU"]) if os.environ.get("REDIS_CPU") else None,
         redis_idle_cpu_s=idle, step_wall_s=float(wall),
         redis_step_us_per_send=1e6 * max(cpu - idle, 0.0) / every)
if not d.get("failed"):
    d["redis_cpu_us_per_send"] = 1e6 * d["redis_cpu_s"] / max(d["sent"], 1)
d["held"] = (not d.get("failed")) and d["lost"] == 0 and d["send_errors"] == 0 \
    and d["ack_p99_ms"] <= float(ack_max) and d["send_lag_max_ms"] <= float(lag_max)
print(json.dumps(d))
if d.get("failed"):
    print(f"  {setup:8} {float(rate):>8.0f} msg/s: failed", file=sys.stderr)
else:
    print(f"  {setup:8} {float(rate):>8.0f} msg/s: held={d['held']} lost={d['lost']} "
          f"ack p50 {d['ack_p50_ms']:.2f} p99 {d['ack_p99_ms']:.2f} ms, "
          f"redis {d['redis_cpu_us_per_send']:.1f} us/send ({d['redis_step_us_per_send']:.1f} whole step), "
          f"relay {d['server_cpu_us_per_msg']:.1f} us/msg, lag {d['send_lag_max_ms']:.1f} ms",
          file=sys.stderr)
STEP

mkdir -p "$OUT"
JSONL="$OUT/cluster.jsonl"
: >"$JSONL"
TICKS=$(getconf CLK_TCK)
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r)"
if [ -n "$REDIS_CPU" ]; then
  say "every redis-server limited to $REDIS_CPU of a core ($CPU_QUOTA_US us per $CPU_PERIOD_US us)"
fi

for setup in $SETUPS; do
  start_setup "$setup"
  start_relay
  idle_before=$(redis_ticks)
  sleep "$IDLE_SECS"
  IDLE_PER_S=$(python3 -c "print(($(redis_ticks) - $idle_before) / $TICKS / $IDLE_SECS)")
  say "$setup: redis ${REDIS_PIDS[*]} (idle: $IDLE_PER_S CPU s/s), relay $RELAY_PID at $RELAY_ADDR"
  for rate in $RATES; do
    for port in "${REDIS_PORTS[@]}"; do
      redis-cli -p "$port" flushall >/dev/null 2>&1 || true
    done
    before=$(redis_ticks)
    started=$(date +%s.%N)
    limit off
    timeout "$BENCH_TIMEOUT" "$WORK/chitchat-bench" --ca "$WORK/certs/ca.pem" many-rooms \
      -S "$ROOMS" -P "$ROOMS" -N "$ROOMS" -R "$rate" -T "$SECONDS_PER_STEP" \
      --relays "$RELAY_ADDR" --server-pids "$RELAY_PID" \
      --redis-pid "$(IFS=,; echo "${REDIS_PIDS[*]}")" --json >"$WORK/step.json" &
    bench=$!
    PIDS+=("$bench")
    if [ -n "$REDIS_CPU" ]; then
      # The joins run unlimited (each is a few round trips through the relay's one
      # subscriber connection, which a throttled Redis would stretch to seconds); the limit
      # starts once the relay subscribes every room, before the warm-up's first send.
      until [ "$(subscribed)" -ge "$ROOMS" ] || ! kill -0 "$bench" 2>/dev/null; do sleep 0.05; done
      limit on
    fi
    if wait "$bench"; then
      line=$(cat "$WORK/step.json")
    else
      echo "$setup at $rate msg/s: the bench failed" >&2
      line='{"failed": true}'
    fi
    unset 'PIDS[-1]'
    after=$(redis_ticks)
    wall=$(python3 -c "print($(date +%s.%N) - $started)")
    echo "$line" | REDIS_CPU=$REDIS_CPU python3 "$WORK/step.py" "$setup" "$rate" "$REV" "$((after - before))" "$TICKS" \
      "$SECONDS_PER_STEP" "$ACK_P99_MAX_MS" "$SEND_LAG_MAX_MS" "$IDLE_PER_S" "$wall" >>"$JSONL"
    held=$(tail -1 "$JSONL" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["held"])')
    [ "$held" = True ] || break
  done
  terminate "$RELAY_PID" "${REDIS_PIDS[@]}"
  PIDS=()
done

python3 - "$JSONL" >"$OUT/cluster.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| setup | rate msg/s | held | ack p50 ms | ack p99 ms | Redis µs/send | Redis µs/send, whole step | relay µs/msg | lost | lag max ms |")
print("|---|---|---|---|---|---|---|---|---|---|")
for d in rows:
    if d.get("failed"):
        print(f"| {d['setup']} | {d['rate']:.0f} | failed | | | | | | | |")
        continue
    print(f"| {d['setup']} | {d['rate']:.0f} | {'yes' if d['held'] else 'no'} | {d['ack_p50_ms']:.2f} | "
          f"{d['ack_p99_ms']:.2f} | {d['redis_cpu_us_per_send']:.1f} | {d['redis_step_us_per_send']:.1f} | "
          f"{d['server_cpu_us_per_msg']:.1f} | "
          f"{d['lost']} | {d['send_lag_max_ms']:.1f} |")
print()
for setup in dict.fromkeys(d["setup"] for d in rows):
    held = [d["rate"] for d in rows if d["setup"] == setup and d.get("held")]
    print(f"- {setup}: highest sustained rate {max(held):.0f} msg/s" if held else f"- {setup}: no step held")
EOF
say "results: $JSONL and $OUT/cluster.md"
cat "$OUT/cluster.md"
