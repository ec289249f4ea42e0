#!/usr/bin/env bash
# Runs every ChitChat test on a Debian machine: installs what the tests need (redis-server,
# chromium, Node.js packages), then formatting and lint checks, the Rust unit, wire,
# broker and end-to-end tests, the JavaScript codec tests, and the browser tests.
#
# Usage: scripts/test.sh            (needs a Rust toolchain; installs the rest with apt/npm)
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/common.sh

# --- What the tests need -------------------------------------------------------------------
ensure_rust
need redis-server redis-server
need chromium chromium
need node nodejs
need npm npm

# --- Rust ----------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all --check
say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --quiet
say "cargo test"
cargo test --workspace

# --- JavaScript ----------------------------------------------------------------------------
say "web codec tests (node --test)"
node --test web/test/

if [ -f tests/browser/package.json ]; then
  say "browser tests (headless Chromium)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && npm test)
fi

say "all tests passed"
