//! Version 3's read markers over real QUIC: a user's sessions (two of one guest, with the
//! same guest secret; two of one token `sub`) hear each other's `MarkRead` as `ReadMarker`
//! with id 0, another user and version-2 sessions hear nothing, a session joining later gets
//! the stored marker after `Joined`; the refusals (an unjoined room, a bad room name, a
//! guest without its nick's claim, a flood, the frame below version 3) and the clamp to the
//! room's head leave other clients alone; across two relays on a real `redis-server` the
//! marker reaches the user's session on the other relay.
//!
//! That nothing more arrives is checked without sleeping: the hub hands a marker to every
//! local session in one step before the setter is answered, so a session that then answers
//! a Ping with Pong first had nothing waiting; across relays, a later marker must be the
//! next frame.

use std::net::SocketAddr;
use std::path::Path;

use chitchat_protocol::{ClientFrame, ErrorCode, Hello, ServerFrame};

use crate::auth::{jwt_relay, token};
use crate::nick_claims::{ADA_SECRET, EVE_SECRET};
use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, TestRelay, expect_error, join, send_text};
use chitchat_tests::redis::{Persistence, RedisServer};

/// A version-3 session of `nick` (with `secret`, if any) at `addr`, welcomed.
async fn v3(addr: SocketAddr, ca: &Path, nick: &str, secret: Option<&str>) -> RawClient {
    hello(addr, ca, nick, secret, 3).await
}

async fn hello(
    addr: SocketAddr,
    ca: &Path,
    nick: &str,
    token: Option<&str>,
    version: u16,
) -> RawClient {
    let mut c = RawClient::connect_to(addr, ca, None).await;
    c.send(&ClientFrame::Hello(Hello {
        version,
        nick: nick.into(),
        token: token.map(str::to_owned),
    }))
    .await;
    match c.recv().await {
        ServerFrame::Welcome(w) => assert_eq!(w.version, version),
        other => panic!("expected Welcome, got {other:?}"),
    }
    c
}

async fn mark(c: &mut RawClient, id: u32, room: &str, seq: u64) -> ServerFrame {
    c.request(ClientFrame::MarkRead {
        id,
        room: room.into(),
        seq,
    })
    .await
}

/// Marks `room` read up to `seq` and returns the stored marker the answer names.
async fn marked(c: &mut RawClient, id: u32, room: &str, seq: u64) -> u64 {
    match mark(c, id, room, seq).await {
        ServerFrame::ReadMarker {
            id: got,
            room: r,
            seq,
        } => {
            assert_eq!((got, r.as_str()), (id, room));
            seq
        }
        other => panic!("expected ReadMarker, got {other:?}"),
    }
}

/// The next control frame, which must be another device's marker.
async fn heard(c: &mut RawClient) -> (String, u64) {
    match c.recv().await {
        ServerFrame::ReadMarker { id: 0, room, seq } => (room, seq),
        other => panic!("expected ReadMarker with id 0, got {other:?}"),
    }
}

/// Nothing is waiting for `c`: a Ping is answered first.
async fn nothing_waiting(c: &mut RawClient, id: u32) {
    match c.request(ClientFrame::Ping { id }).await {
        ServerFrame::Pong { id: got, .. } => assert_eq!(got, id),
        other => panic!("expected Pong, got {other:?}"),
    }
}

#[tokio::test]
async fn read_markers_are_shared_by_a_guests_sessions_only() {
    let relay = TestRelay::start(&[]).await;
    let ca = relay.ca();
    let mut phone = v3(relay.addr, &ca, "ada", Some(ADA_SECRET)).await;
    let mut laptop = v3(relay.addr, &ca, "ada", Some(ADA_SECRET)).await;
    let mut eve = v3(relay.addr, &ca, "eve", Some(EVE_SECRET)).await;
    let mut old = hello(relay.addr, &ca, "ada", Some(ADA_SECRET), 2).await;
    let mut rooms = Vec::new();
    for c in [&mut phone, &mut laptop, &mut eve, &mut old] {
        rooms.push(join(c, 1, "lobby", None).await.1);
    }
    for i in 0..3 {
        send_text(&mut eve, 10 + i, "lobby", &format!("m{i}")).await;
    }

    assert_eq!(marked(&mut phone, 2, "lobby", 2).await, 2);
    assert_eq!(heard(&mut laptop).await, ("lobby".into(), 2));
    nothing_waiting(&mut phone, 3).await;
    nothing_waiting(&mut eve, 3).await;
    nothing_waiting(&mut old, 3).await;

    // Never backwards: an older device's lower marker answers (and tells) the stored one.
    assert_eq!(marked(&mut laptop, 4, "lobby", 1).await, 2);
    assert_eq!(heard(&mut phone).await, ("lobby".into(), 2));
    assert_eq!(marked(&mut laptop, 5, "lobby", 3).await, 3);
    assert_eq!(heard(&mut phone).await, ("lobby".into(), 3));
    nothing_waiting(&mut eve, 6).await;

    // A session joining later hears the stored marker right after Joined; another user's
    // session and a room without a marker hear nothing.
    let mut tablet = v3(relay.addr, &ca, "ada", Some(ADA_SECRET)).await;
    let (_, _tablet_room) = join(&mut tablet, 1, "lobby", None).await;
    assert_eq!(heard(&mut tablet).await, ("lobby".into(), 3));
    let (_, _elsewhere) = join(&mut tablet, 2, "elsewhere", None).await;
    nothing_waiting(&mut tablet, 3).await;
    let mut eve2 = v3(relay.addr, &ca, "eve", Some(EVE_SECRET)).await;
    let (_, _eve2_room) = join(&mut eve2, 1, "lobby", None).await;
    nothing_waiting(&mut eve2, 2).await;

    // A session that left the room hears nothing of it.
    crate::support::leave(&mut laptop, 7, "lobby").await;
    assert_eq!(marked(&mut phone, 8, "lobby", 3).await, 3);
    assert_eq!(heard(&mut tablet).await, ("lobby".into(), 3));
    nothing_waiting(&mut laptop, 9).await;
}

#[tokio::test]
async fn read_markers_follow_a_tokens_user() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let ca = relay.ca();
    let ada_token = token("ada", &[("*", "rw")], 600);
    let bob_token = token("bob", &[("*", "rw")], 600);
    let mut one = hello(relay.addr, &ca, "x", Some(&ada_token), 3).await;
    let mut two = hello(relay.addr, &ca, "y", Some(&ada_token), 3).await;
    let mut bob = hello(relay.addr, &ca, "z", Some(&bob_token), 3).await;
    let mut rooms = Vec::new();
    for c in [&mut one, &mut two, &mut bob] {
        rooms.push(join(c, 1, "lobby", None).await.1);
    }
    send_text(&mut bob, 2, "lobby", "hi").await;
    assert_eq!(marked(&mut one, 2, "lobby", 1).await, 1);
    assert_eq!(heard(&mut two).await, ("lobby".into(), 1));
    nothing_waiting(&mut bob, 3).await;
}

#[tokio::test]
async fn bad_read_markers_are_refused_and_others_are_unaffected() {
    let relay = TestRelay::start(&[]).await;
    let ca = relay.ca();
    let mut ada = v3(relay.addr, &ca, "ada", Some(ADA_SECRET)).await;
    let mut laptop = v3(relay.addr, &ca, "ada", Some(ADA_SECRET)).await;
    let mut eve = v3(relay.addr, &ca, "eve", Some(EVE_SECRET)).await;
    let mut rooms = Vec::new();
    for c in [&mut ada, &mut laptop, &mut eve] {
        rooms.push(join(c, 1, "lobby", None).await.1);
    }
    for i in 0..4 {
        send_text(&mut eve, 10 + i, "lobby", &format!("m{i}")).await;
    }

    let why = expect_error(
        mark(&mut ada, 2, "elsewhere", 1).await,
        2,
        ErrorCode::NOT_JOINED,
    );
    assert!(why.contains("elsewhere"), "{why}");
    let bad = mark(&mut ada, 3, "no spaces allowed", 1).await;
    assert!(
        matches!(&bad, ServerFrame::Error(e) if e.id == 3),
        "a bad room name is refused: {bad:?}"
    );
    // Past the room's head: clamped to it.
    assert_eq!(marked(&mut ada, 4, "lobby", 1_000_000).await, 4);
    assert_eq!(heard(&mut laptop).await, ("lobby".into(), 4));

    // A guest without its nick's claim has no user to keep markers for.
    let mut nobody = v3(relay.addr, &ca, "nobody", None).await;
    let (_, _nobody_room) = join(&mut nobody, 1, "lobby", None).await;
    let why = expect_error(
        mark(&mut nobody, 2, "lobby", 1).await,
        2,
        ErrorCode::FORBIDDEN,
    );
    assert!(why.contains("secret"), "{why}");

    // A flood is cut; the others' markers still go through.
    let mut limited = false;
    for i in 0..100u32 {
        match mark(&mut ada, 100 + i, "lobby", 4).await {
            ServerFrame::ReadMarker { .. } => {}
            other => {
                expect_error(other, 100 + i, ErrorCode::RATE_LIMITED);
                limited = true;
                break;
            }
        }
    }
    assert!(limited, "a flood of MarkRead is rate limited");
    assert_eq!(marked(&mut eve, 20, "lobby", 2).await, 2);
    send_text(&mut eve, 21, "lobby", "still here").await;
    nothing_waiting(&mut eve, 22).await;

    // Below version 3 the frame is unknown, as before.
    let mut old = hello(relay.addr, &ca, "old", None, 2).await;
    old.send(&ClientFrame::MarkRead {
        id: 1,
        room: "lobby".into(),
        seq: 1,
    })
    .await;
    let (code, _) = old.closed().await;
    assert_eq!(code, u64::from(ErrorCode::UNKNOWN_FRAME.0));
    nothing_waiting(&mut eve, 23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_marker_reaches_the_users_session_on_another_relay() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &[]).await;
    let mut on_a = v3(a.quic, a.ca(), "ada", Some(ADA_SECRET)).await;
    let mut on_b = v3(b.quic, b.ca(), "ada", Some(ADA_SECRET)).await;
    let mut eve = v3(b.quic, b.ca(), "eve", Some(EVE_SECRET)).await;
    let mut rooms = Vec::new();
    for c in [&mut on_a, &mut on_b, &mut eve] {
        rooms.push(join(c, 1, "lobby", None).await.1);
    }
    send_text(&mut eve, 2, "lobby", "one").await;
    send_text(&mut eve, 3, "lobby", "two").await;

    assert_eq!(marked(&mut on_a, 2, "lobby", 1).await, 1);
    assert_eq!(heard(&mut on_b).await, ("lobby".into(), 1));
    nothing_waiting(&mut eve, 4).await;
    // Relay a's own marker came back over the bus too, before the later one from b: the
    // next frame there must be b's, so the setter never heard its own.
    assert_eq!(marked(&mut on_b, 2, "lobby", 2).await, 2);
    assert_eq!(heard(&mut on_a).await, ("lobby".into(), 2));

    // A session joining on a third relay reads the stored marker from Redis.
    let c = ClusterRelay::start(&redis.url(), certs.path(), "c", &[]).await;
    let mut on_c = v3(c.quic, c.ca(), "ada", Some(ADA_SECRET)).await;
    let (_, _room) = join(&mut on_c, 1, "lobby", None).await;
    assert_eq!(heard(&mut on_c).await, ("lobby".into(), 2));
}
