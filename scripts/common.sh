# Shared by scripts/*.sh: installing what ChitChat needs on Debian, with sudo when not root.
# Sourced, not run.

say() { printf '\n== %s\n' "$*"; }

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
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}
