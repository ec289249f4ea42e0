#!/usr/bin/env bash
# Builds ChitChat (release) and runs one relay with its defaults: QUIC and WebTransport on
# UDP 4433, the web app on http://localhost:8080, history in ./data, the dev CA in ./certs.
# Extra arguments go to chitchat-relay (see `target/release/chitchat-relay --help`), e.g.
# `scripts/run-relay.sh --config relay.example.toml`. Stops with a clear message when the
# cargo on the PATH is older than Cargo.toml's rust-version and no newer one can be found.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_rust
say "building chitchat-relay and chitchat (release)"
cargo build --release --bin chitchat-relay --bin chitchat
say "starting the relay (with the default ports: open http://localhost:8080, or run target/release/chitchat chat lobby)"
exec target/release/chitchat-relay "$@"
