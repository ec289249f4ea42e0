#!/usr/bin/env bash
# Smoke test of docker-compose.yml against a real Docker engine: builds the image and starts
# Redis and the three relays (a project of its own, so a running stack is left alone), waits
# until every service is healthy, sends a message through relay1 with the CLI inside its
# container, reads it back through relay3 (another container, across Redis) with `tail`, and
# tears everything down (volumes too), however it exits. Without a Docker engine it says so
# and exits 0. Not run by scripts/test.sh (CI machines have no engine).
#
# Usage: scripts/compose-smoke.sh      (HEALTH_TIMEOUT=S bounds the wait, default 300 s)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  echo "no Docker engine: skipped"
  exit 0
fi
# Compose v2 (the `docker compose` plugin), else the standalone v1 `docker-compose` (Debian's
# package), which builds through the docker CLI with BuildKit for the Dockerfile's cache mounts.
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
  export COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=1
else
  echo "error: a Docker engine answers but neither 'docker compose' (the Compose v2 plugin) nor docker-compose is installed" >&2
  exit 1
fi

# The first build compiles the workspace: minutes. Health itself comes within seconds.
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-300}
# How long the CLI may take to send or to read the message back.
CLI_TIMEOUT=30
PROJECT="chitchat-smoke-$$"
export CHITCHAT_UID="${CHITCHAT_UID:-$(id -u)}" CHITCHAT_GID="${CHITCHAT_GID:-$(id -g)}"

compose() { "${compose_cmd[@]}" -p "$PROJECT" "$@"; }
teardown() {
  echo "== tearing down"
  compose down --volumes --remove-orphans >/dev/null 2>&1 || true
}
trap teardown EXIT

echo "== ${compose_cmd[*]} up -d --build (project $PROJECT, uid:gid $CHITCHAT_UID:$CHITCHAT_GID)"
mkdir -p certs
compose up -d --build

echo "== waiting for health"
deadline=$((SECONDS + HEALTH_TIMEOUT))
for service in redis relay1 relay2 relay3; do
  while :; do
    id=$(compose ps -q "$service")
    status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id" 2>/dev/null || echo missing)
    [ "$status" = healthy ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      compose ps >&2
      compose logs --tail 40 >&2
      echo "error: $service is $status after ${HEALTH_TIMEOUT}s" >&2
      exit 1
    fi
    sleep 1
  done
  echo "$service: healthy"
done

room="smoke-$$"
text="hello from compose-smoke $$"
echo "== chitchat send through relay1"
seq=$(compose exec -T relay1 timeout "$CLI_TIMEOUT" chitchat --relay localhost:4433 --nick smoke send "$room" "$text")
echo "stored as seq $seq"
echo "== chitchat tail through relay3"
got=$(compose exec -T relay3 timeout "$CLI_TIMEOUT" chitchat --relay localhost:4435 --nick reader tail "$room" --since 0 --count 1)
echo "$got"
case "$got" in
  *"$text"*) echo "== ok: relay3 delivered what relay1 stored" ;;
  *) echo "error: tail through relay3 did not print the message" >&2; exit 1 ;;
esac
