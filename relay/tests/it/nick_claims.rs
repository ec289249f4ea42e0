//! Guest nick claims (open mode) over real QUIC: a nick claimed with a guest secret cannot
//! be taken with another secret or none, nor through a look-alike, on the same relay or on
//! another relay of a cluster (real `redis-server`); the owner comes back with its secret
//! and resumes; a claim outlives its time-to-live while in use and expires after; bad
//! secrets and an unreachable store are refused with their codes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chitchat_protocol::{
    ClientFrame, ErrorCode, Hello, MIN_PROTOCOL_VERSION, ResumePoint, ServerFrame, Welcome,
    nick_skeleton,
};

use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, TestRelay, WAIT, join, send_text};
use chitchat_tests::redis::RedisServer;

/// Two guest secrets as clients make them (32 random bytes, base64url).
pub(crate) const ADA_SECRET: &str = "q3J5cGhnZW5ldGljYWxseS1yYW5kb20tYnl0ZXMx";
pub(crate) const EVE_SECRET: &str = "ZXZlLWhhcy1oZXItb3duLXNlY3JldC1ub3QtYWRh";

/// Says Hello with `secret` on a fresh connection to `addr`; the Welcome, or the Error the
/// relay refused it with (after checking the close carries the same code).
pub(crate) async fn hello(
    addr: SocketAddr,
    ca: &Path,
    nick: &str,
    secret: Option<&str>,
) -> (RawClient, Result<Welcome, ErrorCode>) {
    let mut c = RawClient::connect_to(addr, ca, None).await;
    c.send(&ClientFrame::Hello(Hello {
        version: MIN_PROTOCOL_VERSION,
        nick: nick.into(),
        token: secret.map(str::to_owned),
    }))
    .await;
    let answer = match c.recv().await {
        ServerFrame::Welcome(w) => Ok(w),
        ServerFrame::Error(e) => {
            assert_eq!(e.id, 0, "a refused Hello is told on id 0");
            let (code, _) = c.closed().await;
            assert_eq!(
                code,
                u64::from(e.code.0),
                "the close carries the Error's code"
            );
            assert!(!e.message.is_empty(), "the refusal says why");
            Err(e.code)
        }
        other => panic!("expected Welcome or Error, got {other:?}"),
    };
    (c, answer)
}

/// [`hello`] that must be welcomed.
pub(crate) async fn welcomed(
    addr: SocketAddr,
    ca: &Path,
    nick: &str,
    secret: Option<&str>,
) -> RawClient {
    let (c, answer) = hello(addr, ca, nick, secret).await;
    let welcome = answer.unwrap_or_else(|code| panic!("{nick} refused with {code}"));
    assert_eq!(welcome.nick, nick);
    c
}

/// [`hello`] that must be refused with `code`.
pub(crate) async fn refused(
    addr: SocketAddr,
    ca: &Path,
    nick: &str,
    secret: Option<&str>,
    code: ErrorCode,
) {
    let (_, answer) = hello(addr, ca, nick, secret).await;
    assert_eq!(answer.err(), Some(code), "Hello as {nick} with {secret:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_nick_cannot_be_taken() {
    let relay = TestRelay::start(&[]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let ada = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;

    refused(addr, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    refused(addr, &ca, "ada", None, ErrorCode::NICK_TAKEN).await;
    // Look-alikes share the claim: another case, and a nick in another script.
    refused(addr, &ca, "Ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    let cop = welcomed(addr, &ca, "cop", Some(ADA_SECRET)).await;
    let cyrillic = "\u{441}\u{43e}\u{440}";
    assert_eq!(nick_skeleton(cyrillic), nick_skeleton("cop"));
    refused(addr, &ca, cyrillic, Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;

    // The same secret on a second device shares the nick while the first is connected.
    let _second = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;
    // The refusals touched nobody: the owner's session still works.
    let mut ada = ada;
    let (_, _room) = join(&mut ada, 1, "lobby", None).await;
    send_text(&mut ada, 2, "lobby", "still here").await;
    drop(cop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reconnects_and_resumes() {
    let relay = TestRelay::start(&[]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let mut ada = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;
    let (joined, _room) = join(&mut ada, 1, "lobby", None).await;
    let first = send_text(&mut ada, 2, "lobby", "before").await;
    ada.close();
    drop(ada);

    let mut other = welcomed(addr, &ca, "bob", None).await;
    let (_, _bob_room) = join(&mut other, 1, "lobby", None).await;
    send_text(&mut other, 2, "lobby", "while ada was away").await;

    refused(addr, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    let mut ada = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;
    let resume = ResumePoint {
        epoch: joined.epoch,
        seq: first,
    };
    let (_, mut room) = join(&mut ada, 1, "lobby", Some(resume)).await;
    let missed = room.message().await;
    assert_eq!(
        (missed.seq, missed.from.as_str(), missed.text.as_str()),
        (first + 1, "bob", "while ada was away")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_renewed_in_use_and_expires_after() {
    let ttl = Duration::from_secs(1);
    let relay = TestRelay::start(&["--nick-claim-ttl", "1s"]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let ada = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;

    // Renewed while in use: still refused well past the time-to-live.
    let until = Instant::now() + 3 * ttl;
    while Instant::now() < until {
        refused(addr, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
        tokio::time::sleep(ttl / 4).await;
    }

    // Released: within about a time-to-live the nick is free again.
    ada.close();
    drop(ada);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_eve, answer) = hello(addr, &ca, "ada", Some(EVE_SECRET)).await;
        match answer {
            Ok(_) => break,
            Err(ErrorCode::NICK_TAKEN) => {}
            Err(other) => panic!("refused with {other}"),
        }
        assert!(Instant::now() < deadline, "the claim did not expire");
        tokio::time::sleep(ttl / 4).await;
    }
    // Now eve's: ada's secret is the stranger's.
    refused(addr, &ca, "ada", Some(ADA_SECRET), ErrorCode::NICK_TAKEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_a_free_nick_is_used_not_claimed() {
    let relay = TestRelay::start(&[]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let _guest = welcomed(addr, &ca, "eve", None).await;
    let _guest_too = welcomed(addr, &ca, "eve", None).await;
    // Nothing was claimed: a secret may still claim it, and then the guests are out.
    let _owner = welcomed(addr, &ca, "eve", Some(EVE_SECRET)).await;
    refused(addr, &ca, "eve", None, ErrorCode::NICK_TAKEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_secrets_are_refused_and_claim_nothing() {
    let relay = TestRelay::start(&[]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let mut bystander = welcomed(addr, &ca, "bob", Some(EVE_SECRET)).await;
    let long = "k".repeat(129);
    for bad in [
        "",
        "short",
        "sixteen chars ok",
        "\u{e9}t\u{e9}-accentu\u{e9}-non-ascii",
        "tab\there-is-not-printable",
        long.as_str(),
    ] {
        refused(addr, &ca, "carol", Some(bad), ErrorCode::UNAUTHORIZED).await;
    }
    // None of them claimed the nick.
    let _carol = welcomed(addr, &ca, "carol", None).await;
    // The bystander was not disturbed.
    let (_, _room) = join(&mut bystander, 1, "lobby", None).await;
    send_text(&mut bystander, 2, "lobby", "fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_hold_across_a_cluster() {
    let mut redis = RedisServer::start().await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let ca = certs.path().join("ca.pem");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &[]).await;

    let _ada = welcomed(a.quic, &ca, "ada", Some(ADA_SECRET)).await;
    refused(b.quic, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    refused(b.quic, &ca, "ada", None, ErrorCode::NICK_TAKEN).await;
    refused(b.quic, &ca, "ADA", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    let _ada_phone = welcomed(b.quic, &ca, "ada", Some(ADA_SECRET)).await;

    // Without its store a relay cannot tell who holds a nick: it refuses rather than guess.
    redis.kill();
    refused(b.quic, &ca, "ada", Some(EVE_SECRET), ErrorCode::UNAVAILABLE).await;
    refused(b.quic, &ca, "zed", None, ErrorCode::UNAVAILABLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_survives_a_relay_restart() {
    let mut relay = TestRelay::start(&[]).await;
    let ada = welcomed(relay.addr, &relay.ca(), "ada", Some(ADA_SECRET)).await;
    ada.close();
    tokio::time::timeout(WAIT, relay.begin_shutdown())
        .await
        .expect("the relay stops in time")
        .expect("the relay task runs")
        .expect("the relay stops cleanly");
    let dir = std::mem::replace(&mut relay.dir, tempfile::tempdir().expect("a temp dir"));
    drop(relay);

    // The store on disk still holds the claim: a new relay on it refuses the stranger.
    let relay = TestRelay::start_in(dir, &[]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    refused(addr, &ca, "ada", Some(EVE_SECRET), ErrorCode::NICK_TAKEN).await;
    let _ada = welcomed(addr, &ca, "ada", Some(ADA_SECRET)).await;
}
