//! A live session's guest nick claim lost from the store (real `redis-server`, two relays of
//! a cluster): if another secret holds the nick by the next renewal, the session is ended
//! with `NICK_TAKEN` saying what happened, and counted; if the claim merely expired and
//! nobody took it, the renewal claims it again and the session goes on.

use std::net::SocketAddr;

use chitchat_protocol::{ErrorCode, ServerFrame, nick_skeleton};
use sha2::{Digest, Sha256};

use crate::nick_claims::{ADA_SECRET, EVE_SECRET, refused, welcomed};
use crate::support::cluster::{ClusterRelay, eventually};
use crate::support::{WAIT, join, send_text};
use chitchat_tests::RelayProcess;
use chitchat_tests::redis::RedisServer;

/// The claim time-to-live of the relay holding the live session: renewed every quarter of
/// it, so a test sees a renewal within half a second.
const TTL: &str = "2s";

/// Sessions ended because another secret held their nick's claim.
const LOST_METRIC: &str = "chitchat_nick_claims_lost_total";

/// The Redis key of a nick's claim, as the broker names it.
fn claim_key(nick: &str) -> String {
    format!("chitchat:claim:{}", nick_skeleton(nick))
}

/// What the store keeps of a secret: its SHA-256, in hex.
fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_whose_nick_another_secret_holds_is_ended() {
    let redis = RedisServer::start().await;
    // The relay holding the session is a process of its own, so its /metrics are its own.
    let url = redis.url();
    let a = RelayProcess::start(&["--redis", &url, "--nick-claim-ttl", TTL]);
    let a_quic: SocketAddr = a.quic_addr().parse().expect("a QUIC address");
    let ca = a.ca_file();
    let b = ClusterRelay::start(&url, &a.certs_dir(), "b", &[]).await;

    let mut ada = welcomed(a_quic, &ca, "ada", Some(ADA_SECRET)).await;
    let (_, _room) = join(&mut ada, 1, "lobby", None).await;
    // The store lost ada's claim (a failover to a replica that never had it) and another
    // device claimed the nick meanwhile, in one step, so no renewal comes in between.
    let key = claim_key("ada");
    let _: String = redis
        .cmd(&["SET", &key, &secret_hash(EVE_SECRET), "PX", "600000"])
        .await;
    let mut eve = welcomed(b.quic, &ca, "ada", Some(EVE_SECRET)).await;

    // At its next renewal, ada's relay ends her session and says why.
    match ada.recv().await {
        ServerFrame::Error(e) => {
            assert_eq!((e.id, e.code), (0, ErrorCode::NICK_TAKEN), "{}", e.message);
            assert!(
                e.message
                    .contains("claimed by another device while this session was connected"),
                "{}",
                e.message
            );
        }
        other => panic!("expected the NICK_TAKEN farewell, got {other:?}"),
    }
    let (code, _) = ada.closed().await;
    assert_eq!(code, u64::from(ErrorCode::NICK_TAKEN.0));
    tokio::task::block_in_place(|| {
        a.wait_metric(LOST_METRIC, WAIT, |lost| lost == 1.0);
    });

    // The nick is eve's alone now: her session works, ada's secret is refused.
    let (_, _eve_room) = join(&mut eve, 1, "lobby", None).await;
    send_text(&mut eve, 2, "lobby", "mine now").await;
    refused(a_quic, &ca, "ada", Some(ADA_SECRET), ErrorCode::NICK_TAKEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_merely_expired_is_claimed_again_by_the_renewal() {
    let redis = RedisServer::start().await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let ca = certs.path().join("ca.pem");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &["--nick-claim-ttl", TTL]).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &[]).await;

    let mut ada = welcomed(a.quic, &ca, "ada", Some(ADA_SECRET)).await;
    let (_, _room) = join(&mut ada, 1, "lobby", None).await;
    // The claim expires in the store (renewals failed through an outage): nobody holds it.
    let key = claim_key("ada");
    let deleted: i64 = redis.cmd(&["DEL", &key]).await;
    assert_eq!(deleted, 1, "the claim was in the store");

    // The next renewal claims it again for ada's secret...
    let mine = secret_hash(ADA_SECRET);
    eventually("the renewal to claim the nick again", WAIT, || async {
        let held: Option<String> = redis.cmd(&["GET", &key]).await;
        (held.as_deref() == Some(mine.as_str())).then_some(())
    })
    .await;
    // ... so a stranger is refused on either relay, and ada's session goes on.
    refused(b.quic, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    refused(a.quic, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    send_text(&mut ada, 2, "lobby", "still mine").await;
}
