# ChitChat relay image: a release build (stripped) in a Rust image, copied into a slim Debian
# runtime with the relay, the `chitchat` CLI and curl (for the health check).
#
#   docker build -t chitchat .
#   docker run --user "$(id -u):$(id -g)" -p 4433:4433/udp -p 8080:8080 \
#     -v "$PWD/certs:/certs" chitchat
#
# The relay runs as a non-root user. It writes the development CA into /certs on first start,
# so run it as the owner of the mounted directory (`--user`, as above: the image works with
# any uid); otherwise the entry point stops and says which uid owns the directory. Flags after
# the image name go to chitchat-relay; `docker run ... chitchat chitchat send lobby hi` runs
# the CLI, which trusts /certs/ca.pem (CHITCHAT_CA).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chitchat-relay --bin chitchat \
 && cp target/release/chitchat-relay target/release/chitchat /usr/local/bin/

FROM debian:bookworm-slim
# /srv/chitchat (HOME, the data) and /certs are writable by any uid (sticky, like /tmp), so
# `--user` can be the host user that owns the mounted directories.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /srv/chitchat --no-create-home chitchat \
 && mkdir -p /srv/chitchat/data /certs \
 && chmod 1777 /srv/chitchat /srv/chitchat/data /certs
COPY --from=build /usr/local/bin/chitchat-relay /usr/local/bin/chitchat /usr/local/bin/
COPY scripts/docker-entrypoint.sh /usr/local/bin/chitchat-entrypoint
USER chitchat
WORKDIR /srv/chitchat
ENV HOME=/srv/chitchat \
    CHITCHAT_LISTEN=[::]:4433 \
    CHITCHAT_HTTP=[::]:8080 \
    CHITCHAT_CERTS_DIR=/certs \
    CHITCHAT_DATA_DIR=/srv/chitchat/data \
    CHITCHAT_CA=/certs/ca.pem
EXPOSE 4433/udp 8080/tcp
# /healthz on the HTTP port CHITCHAT_HTTP names: 200 once the relay can store messages.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${CHITCHAT_HTTP##*:}/healthz" || exit 1
ENTRYPOINT ["chitchat-entrypoint"]
