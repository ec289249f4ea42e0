#!/usr/bin/env bash
# Runs every ChitChat test on a Debian machine: installs what the tests need (redis-server,
# chromium, firefox-esr, Node.js packages, cargo-fuzz), then formatting and lint checks, the Rust unit,
# wire, broker and end-to-end tests, a short run of every fuzz target, the JavaScript codec
# tests, and the browser tests.
#
# Usage: scripts/test.sh            (needs a Rust toolchain; installs the rest with apt/npm)
#        FUZZ_SECONDS=60 scripts/test.sh   (longer fuzz runs; 0 skips them)
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/common.sh

# --- What the tests need -------------------------------------------------------------------
ensure_rust
need redis-server redis-server
need chromium chromium
need firefox-esr firefox-esr
need tmux tmux
need node nodejs
need npm npm

# --- Rust ----------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "cargo doc (the API docs, private items included)"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --workspace --no-deps --document-private-items --quiet
say "cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --quiet
say "cargo test"
cargo test --workspace

# --- Fuzzing -------------------------------------------------------------------------------
# Every decoder of network input for a bounded time, all targets at once (one core each when
# there are enough), from the committed seeds in fuzz/seeds/. A crash, hang or round-trip
# failure fails the run and leaves its input in fuzz/artifacts/. cargo fuzz asks rustc for
# unstable flags (coverage instrumentation): RUSTC_BOOTSTRAP lets the stable toolchain take
# them. No sanitizer: the decoders are safe Rust, where a bug shows as a panic, which
# libFuzzer catches without one. Development builds: they compile in a fraction of the time
# of optimized ones, which matters more than execution speed in a short run.
FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  say "cargo fuzz: every target for ${FUZZ_SECONDS}s"
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
  flags=(--dev --sanitizer none)
  "${fuzz[@]}" build "${flags[@]}"
  pids=()
  for target in $("${fuzz[@]}" list); do
    mkdir -p "fuzz/corpus/$target"
    "${fuzz[@]}" run "${flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"fuzz/$target.log" 2>&1 &
    pids+=("$!:$target")
  done
  failed=0
  for entry in "${pids[@]}"; do
    if wait "${entry%%:*}"; then
      grep -h '^#[0-9]*.*DONE' "fuzz/${entry#*:}.log" | sed "s/^/${entry#*:}: /"
    else
      echo "fuzz target ${entry#*:} failed:"
      tail -n 40 "fuzz/${entry#*:}.log"
      failed=1
    fi
  done
  [ "$failed" -eq 0 ]
fi

# --- JavaScript ----------------------------------------------------------------------------
say "web codec tests (node --test)"
node --test web/test/

if [ -f tests/browser/package.json ]; then
  say "browser tests (headless Chromium and Firefox, puppeteer-core)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && npm test)
fi

say "all tests passed"
