# Shared by scripts/*.sh: installing what ChitChat needs on Debian, with sudo when not root.
# Sourced, not run.

say() { printf '\n== %s (%s)\n' "$*" "$(date -u +%T)"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_install PACKAGE... : installs the Debian packages that are missing.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# need COMMAND PACKAGE : installs PACKAGE unless COMMAND is already on the PATH (whatever
# installed it: a tool may come from another package than Debian's, e.g. npm with nodejs).
need() { command -v "$1" >/dev/null || apt_install "$2"; }

# ensure_rust: a C compiler (for ring and the bundled SQLite) and a Rust toolchain.
ensure_rust() {
  need cc build-essential
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null; then
    say "installing Rust with rustup"
    apt_install curl ca-certificates
    sh -c "$RUSTUP_INSTALL"
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  check_cargo || exit 1
}

# The one command that installs rustup's toolchain, as the messages below print it.
RUSTUP_INSTALL="curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy"

# rust_version_needed: the oldest Rust that builds ChitChat, Cargo.toml's rust-version (1.88).
rust_version_needed() {
  sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1
}

# cargo_version [CARGO]: the version a cargo reports (1.95.0 of "cargo 1.95.0 (f2d3ce0bd
# 2026-03-21)"), empty if it does not run.
cargo_version() {
  "${1:-cargo}" --version 2>/dev/null | sed -n 's/^cargo \([0-9][0-9.]*\).*/\1/p'
}

# version_at_least HAVE NEED: whether version HAVE (1.65.0) is NEED (1.88) or newer.
version_at_least() {
  local IFS=. i
  local -a have=($1) need=($2)
  for i in 0 1 2; do
    [ "${have[i]:-0}" -gt "${need[i]:-0}" ] && return 0
    [ "${have[i]:-0}" -lt "${need[i]:-0}" ] && return 1
  done
  return 0
}

# check_cargo: the cargo on the PATH if it is new enough; else rustup's in ~/.cargo/bin (put
# first on the PATH); else rustup's stable toolchain, installed. Otherwise it says what it
# found, what is needed and how to get it, and fails. Debian's cargo 1.65, for one, cannot
# read the workspace ("resolver 3 is not valid").
check_cargo() {
  local need have found theirs
  local rustup_cargo="$HOME/.cargo/bin/cargo"
  need=$(rust_version_needed)
  have=$(cargo_version)
  if [ -n "$have" ] && version_at_least "$have" "$need"; then
    return 0
  fi
  found="cargo ${have:-(not working)} at $(command -v cargo || echo '(none)')"
  if [ -x "$rustup_cargo" ]; then
    theirs=$(cargo_version "$rustup_cargo")
    if [ -n "$theirs" ] && version_at_least "$theirs" "$need"; then
      say "using rustup's cargo $theirs ($HOME/.cargo/bin) instead of $found"
      export PATH="$HOME/.cargo/bin:$PATH"
      return 0
    fi
  fi
  if command -v rustup >/dev/null; then
    say "$found is older than Rust $need: installing the stable toolchain with rustup"
    if rustup toolchain install stable --profile minimal --component rustfmt,clippy; then
      PATH="$(dirname "$(command -v rustup)"):$PATH"
      export PATH
      have=$(cargo_version)
      if [ -n "$have" ] && version_at_least "$have" "$need"; then
        return 0
      fi
    fi
    echo "rustup could not install a newer toolchain (offline?)" >&2
  fi
  {
    echo "error: found $found, but ChitChat needs Rust $need or newer"
    echo "(rust-version in Cargo.toml; an older cargo fails with e.g. \"resolver 3 is not valid\")."
    echo "Install rustup's toolchain, then run this again:"
    echo "  $RUSTUP_INSTALL"
  } >&2
  return 1
}
