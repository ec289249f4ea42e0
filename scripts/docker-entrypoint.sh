#!/bin/sh
# The relay image's entry point. Runs chitchat-relay with the container's arguments (flags,
# or `config ...`, `token ...`), or another command of the image as given (`chitchat ...`).
# Before a relay starts on the development CA, it checks that the CA directory holds a CA
# this user can read, or can hold a new one, and says what to do when it cannot: the relay
# alone would only report the file it failed to write.
set -eu

case "${1:-}" in
  "" | -* | config | token | help) set -- chitchat-relay "$@" ;;
esac

# stop MESSAGE: explains why the relay cannot start here, and exits.
stop() {
  {
    echo "chitchat: $1"
    echo "Run the container as the owner of the mounted directory, e.g."
    echo "  docker run --user \"\$(id -u):\$(id -g)\" -v \"\$PWD/certs:/certs\" ..."
    echo "(docker compose: CHITCHAT_UID and CHITCHAT_GID, see docker-compose.yml), or make the"
    echo "directory writable by uid $(id -u)."
  } >&2
  exit 1
}

# The check applies to a relay using the CA directory of CHITCHAT_CERTS_DIR: not to one given a
# real certificate, another directory, or a configuration file that may name either.
check_ca=no
if [ "$1" = chitchat-relay ] && [ -z "${CHITCHAT_TLS_CERT:-}" ] && [ -z "${CHITCHAT_RELAY_CONFIG:-}" ]; then
  check_ca=yes
  for arg in "$@"; do
    case "$arg" in
      config | token | --tls-cert | --tls-cert=* | --certs-dir | --certs-dir=* | --config | --config=*)
        check_ca=no ;;
    esac
  done
fi

if [ "$check_ca" = yes ]; then
  certs=${CHITCHAT_CERTS_DIR:-certs}
  mkdir -p "$certs" 2>/dev/null || true
  if [ -f "$certs/ca.pem" ]; then
    if [ ! -r "$certs/ca.key" ]; then
      stop "uid $(id -u) cannot read $certs/ca.key (owned by uid $(stat -c %u "$certs/ca.key" 2>/dev/null || echo '?'))."
    fi
  elif [ ! -w "$certs" ]; then
    stop "$certs holds no CA yet, and uid $(id -u) cannot create one there (the directory belongs to uid $(stat -c %u "$certs" 2>/dev/null || echo '?'))."
  fi
fi

exec "$@"
