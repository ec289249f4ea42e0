//! The broker on a Redis served over TLS (`rediss://`, `--redis-ca`) by a real
//! `redis-server`: two relays store and deliver through it as over plain TCP; a server whose
//! certificate the given CA did not sign, a CA file that holds no certificate, and a CA given
//! for a plain `redis://` URL are each refused with a clear error.

use chitchat_relay::broker::redis::{DEFAULT_HEARTBEAT, RedisBroker, RedisOptions};
use chitchat_relay::broker::{Broker, BrokerError};
use chitchat_tests::certs::TestCerts;
use chitchat_tests::redis::{Persistence, RedisServer};

use crate::conformance::{RecordingSink, new_message};

fn options(node: &str, ca: Option<Vec<u8>>) -> RedisOptions {
    RedisOptions {
        node_id: node.into(),
        history_limit: 100,
        heartbeat: DEFAULT_HEARTBEAT,
        min_replicas: None,
        tls_ca: ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_share_a_redis_over_tls() {
    let server = RedisServer::start_tls().await;
    let ca = std::fs::read(server.tls_ca()).expect("the CA file");
    let sink_a = RecordingSink::new();
    let a = RedisBroker::connect_with(
        &server.tls_url(),
        sink_a.clone(),
        options("a", Some(ca.clone())),
    )
    .await
    .expect("relay a over TLS");
    let sink_b = RecordingSink::new();
    let b = RedisBroker::connect_with(&server.tls_url(), sink_b.clone(), options("b", Some(ca)))
        .await
        .expect("relay b over TLS");
    b.subscribe("lobby").await.expect("subscribe");
    let stored = a
        .publish(new_message("lobby", "ann", "over TLS"))
        .await
        .expect("publish over TLS");
    assert_eq!(stored.seq, 1);
    assert_eq!(
        sink_b.wait_messages("lobby", 1).await,
        std::slice::from_ref(&stored)
    );
    // Stored in the one Redis: its plain port shows the same room.
    let seq: String = server.cmd(&["GET", "chitchat:{lobby}:seq"]).await;
    assert_eq!(seq, "1");
    assert_eq!(b.read_after("lobby", 0, 10).await.expect("read"), [stored]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_the_ca_did_not_sign_or_a_bad_ca_is_refused() {
    let server = RedisServer::start_tls().await;
    // Another CA: the handshake fails; nothing is reached.
    let other = TestCerts::new();
    let other_ca = std::fs::read(other.ca()).expect("the other CA");
    let refused = RedisBroker::connect_with(
        &server.tls_url(),
        RecordingSink::new(),
        options("a", Some(other_ca.clone())),
    )
    .await
    .err()
    .expect("a server signed by another CA is refused");
    assert!(
        matches!(refused, BrokerError::Unavailable(_)),
        "{refused:?}"
    );
    // Not PEM at all: refused before any connection.
    let junk = RedisBroker::connect_with(
        &server.tls_url(),
        RecordingSink::new(),
        options("a", Some(b"not a certificate".to_vec())),
    )
    .await
    .err()
    .expect("a CA file without a certificate is refused");
    assert!(matches!(junk, BrokerError::Internal(_)), "{junk:?}");
    // A CA for a plain URL is a mistake, said as one.
    let plain = RedisBroker::connect_with(
        &server.url(),
        RecordingSink::new(),
        options("a", Some(other_ca)),
    )
    .await
    .err()
    .expect("--redis-ca with redis:// is refused");
    assert!(
        matches!(&plain, BrokerError::Internal(m) if m.contains("rediss")),
        "{plain:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_over_tls_is_found_and_used() {
    let server = RedisServer::start_tls_with(Persistence::Cluster).await;
    let ca = std::fs::read(server.tls_ca()).expect("the CA file");
    let url = server
        .tls_url()
        .replacen("rediss://", "rediss+cluster://", 1);
    let sink = RecordingSink::new();
    let broker = RedisBroker::connect_with(&url, sink.clone(), options("a", Some(ca)))
        .await
        .expect("a TLS cluster through its seed");
    broker.subscribe("lobby").await.expect("subscribe");
    let stored = broker
        .publish(new_message("lobby", "ann", "sharded over TLS"))
        .await
        .expect("publish");
    assert_eq!(sink.wait_messages("lobby", 1).await, [stored]);
}
