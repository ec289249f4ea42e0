#!/usr/bin/env bash
# Runs every ChitChat test on a Debian machine: installs what the tests need (redis-server,
# chromium, Node.js packages), then formatting and lint checks, the Rust unit, wire,
# broker and end-to-end tests, the JavaScript codec tests, and the browser tests.
#
# Usage: scripts/test.sh            (needs a Rust toolchain; installs the rest with apt/npm)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# --- What the tests need -------------------------------------------------------------------
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs), then run this again" >&2; exit 1; }

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
