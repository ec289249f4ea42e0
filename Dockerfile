# ChitChat relay image: a release build in a Rust image, copied into a slim Debian runtime.
#   docker build -t chitchat .
#   docker run -p 4433:4433/udp -p 8080:8080 -v "$PWD/certs:/certs" chitchat

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chitchat-relay --bin chitchat \
 && cp target/release/chitchat-relay target/release/chitchat /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /srv/chitchat --create-home chitchat
COPY --from=build /usr/local/bin/chitchat-relay /usr/local/bin/chitchat /usr/local/bin/
USER chitchat
WORKDIR /srv/chitchat
ENV CHITCHAT_CERTS_DIR=/certs CHITCHAT_DATA_DIR=/srv/chitchat/data
EXPOSE 4433/udp 8080/tcp
ENTRYPOINT ["chitchat-relay"]
