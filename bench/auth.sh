#!/usr/bin/env bash
# New sessions per second with and without tokens: `chitchat-bench connections` against one
# relay (embedded store) in open mode without guest secrets (nicks unclaimed), in open mode
# with a guest secret per session (each claims its nick, as the page and the CLI do), in
# token mode with an HS256 secret, and in token mode with an ES256 public key, the modes
# interleaved run by run so the machine's drift falls on all four alike. Every session of a
# token run carries its own token, signed before the ramp starts; the relay verifies each in
# the handshake.
#
# usage: bench/auth.sh [--runs N] [--sessions C] [--out FILE.jsonl]
# Builds release binaries unless CHITCHAT_BENCH_NO_BUILD=1; CHITCHAT_BENCH_BIN=target/debug runs
# dev builds (a smoke test, not a measurement). Prints one line per run and a
# median table; stops every process it started.
set -euo pipefail

RUNS=3
SESSIONS=10000
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--sessions C] [--out FILE.jsonl]" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
if [ "${CHITCHAT_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --bin chitchat-relay --bin chitchat-bench
fi
BIN=${CHITCHAT_BENCH_BIN:-target/release}
WORK=$(mktemp -d /tmp/chitchat-auth-bench.XXXXXX)
RELAY_PID=""
cleanup() {
  [ -n "$RELAY_PID" ] && kill -9 "$RELAY_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT=${OUT:-$WORK/auth.jsonl}
: >"$OUT"

# The keys: a 32-byte HMAC secret; a P-256 key pair (the relay gets the public half).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/hmac-secret"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/es256.key" 2>/dev/null
openssl pkey -in "$WORK/es256.key" -pubout -out "$WORK/es256.pub" 2>/dev/null

# As bench/run.sh: the caps for strangers raised, since every session comes from loopback.
LIMITS=(--msgs-per-sec 1000000 --msgs-burst 1000000 --stored-bytes-per-min 100000000000
  --max-sessions 200000 --max-sessions-per-addr 200000 --max-handshakes-per-addr 4096
  --max-handshakes 4096 --retry-above 4096 --new-rooms-per-min 1000000)

run_one() {
  local mode=$1 run=$2 auth=() tokens=()
  case "$mode" in
    open) ;;
    secret) tokens=(--guest-secrets) ;;
    hs256) auth=(--auth jwt --auth-hmac-secret-file "$WORK/hmac-secret")
      tokens=(--token-hs256-secret "$WORK/hmac-secret") ;;
    es256) auth=(--auth jwt --auth-public-keys "$WORK/es256.pub")
      tokens=(--token-es256-key "$WORK/es256.key") ;;
  esac
  rm -rf "$WORK/data"
  "$BIN/chitchat-relay" --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$WORK/data" \
    --certs-dir "$WORK/certs" --worker-threads "$(nproc)" "${LIMITS[@]}" "${auth[@]}" \
    >"$WORK/relay.out" 2>"$WORK/relay.err" &
  RELAY_PID=$!
  for _ in $(seq 1200); do grep -qs "^READY " "$WORK/relay.out" && break; sleep 0.05; done
  local addr
  addr=$(sed -n 's/^READY quic=\([^ ]*\).*/\1/p' "$WORK/relay.out")
  [ -n "$addr" ] || { cat "$WORK/relay.err" >&2; exit 1; }
  local line
  line=$("$BIN/chitchat-bench" --ca "$WORK/certs/ca.pem" connections -C "$SESSIONS" \
    --idle-secs 1 --relays "$addr" --server-pids "$RELAY_PID" "${tokens[@]}" --json)
  echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['run']=$run; print(json.dumps(d))" >>"$OUT"
  echo "$line" | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(f\"run $run {d['auth']:6} {d['sessions_per_sec']:8.0f} sessions/s  {d['ramp_server_cpu_us_per_session']:5.0f} µs relay CPU/session  opened {d['opened']} failed {d['failed']}\")"
  kill -TERM "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true
  RELAY_PID=""
}

for run in $(seq "$RUNS"); do
  for mode in open secret hs256 es256; do run_one "$mode" "$run"; done
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["auth"], []).append(r)
def rate_of(mode):
    return statistics.median(r["sessions_per_sec"] for r in by[mode])
base = rate_of("open")
claimed = rate_of("open+secret") if "open+secret" in by else float("nan")
print("| auth | new sessions/s (median) | runs | vs open | vs open with secrets | relay CPU per session (median) |")
print("|---|---:|---|---:|---:|---:|")
for mode in ["open", "open+secret", "HS256", "ES256"]:
    rs = by.get(mode, [])
    if not rs:
        continue
    rate = statistics.median(r["sessions_per_sec"] for r in rs)
    cpu = statistics.median(r["ramp_server_cpu_us_per_session"] for r in rs)
    runs = ", ".join(f"{r['sessions_per_sec']:.0f}" for r in rs)
    print(f"| {mode} | {rate:,.0f} | {runs} | {100 * (rate / base - 1):+.1f}% "
          f"| {100 * (rate / claimed - 1):+.1f}% | {cpu:.0f} µs |")
EOF
