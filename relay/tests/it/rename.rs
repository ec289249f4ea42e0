//! Version 3's `Rename` over real QUIC: members see one rename (`RoomFrame::Renamed`), and
//! version 1 and 2 members a leave and a join; Who lists the new nick; the refusals
//! (another secret's nick, a look-alike of a member, a bad nick, a token-mode session, a
//! flood of renames, the frame below version 3) change nothing and leave other clients
//! alone; the guest claim moves to the new nick (renewed) and the old one expires; across two relays on a real `redis-server` the rename reaches the other relay's
//! members as one rename and its member lists follow.
//!
//! That no stray leave or join comes with a rename is checked without sleeping: after the
//! rename the renamed member sends a message, which travels the same path, and the next
//! frame after the rename must be that message.

use chitchat_protocol::{ClientFrame, EntryBody, ErrorCode, Hello, RoomFrame, ServerFrame};

use crate::auth::{jwt_relay, token};
use crate::nick_claims::{ADA_SECRET, EVE_SECRET, welcomed};
use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, RoomReader, TestRelay, WAIT, expect_error, join, send_text, who};
use chitchat_tests::redis::{Persistence, RedisServer};

/// Sends Rename and returns the answer, whatever it is.
async fn rename(c: &mut RawClient, id: u32, nick: &str) -> ServerFrame {
    c.request(ClientFrame::Rename {
        id,
        nick: nick.into(),
    })
    .await
}

/// Sends Rename and expects `Renamed` with the new nick.
async fn renamed(c: &mut RawClient, id: u32, nick: &str) {
    match rename(c, id, nick).await {
        ServerFrame::Renamed { id: got, nick: now } => {
            assert_eq!((got, now.as_str()), (id, nick));
        }
        other => panic!("expected Renamed, got {other:?}"),
    }
}

/// A version-3 guest (with `secret`, if any) on the relay at `relay`.
async fn guest(relay: &TestRelay, nick: &str, secret: Option<&str>) -> RawClient {
    let mut c = RawClient::connect(relay).await;
    c.send(&ClientFrame::Hello(Hello {
        version: 3,
        nick: nick.into(),
        token: secret.map(str::to_owned),
    }))
    .await;
    match c.recv().await {
        ServerFrame::Welcome(w) => assert_eq!((w.version, w.nick.as_str()), (3, nick)),
        other => panic!("expected Welcome, got {other:?}"),
    }
    c
}

/// The next room frame that is not the join of a nick other than `except`.
async fn after_joins(room: &mut RoomReader, except: &str) -> RoomFrame {
    loop {
        match room.next().await.expect("room stream open") {
            RoomFrame::Presence { nick, joined: true } if nick != except => {}
            frame => return frame,
        }
    }
}

/// Whether `frame` carries the text `text` from `from`, as a message or a text entry.
fn says(frame: &RoomFrame, from: &str, text: &str) -> bool {
    match frame {
        RoomFrame::Message(m) => m.from == from && m.text == text,
        RoomFrame::Entry(e) => {
            e.from == from && matches!(&e.body, EntryBody::Text { text: t, .. } if t == text)
        }
        _ => false,
    }
}

fn presence(nick: &str, joined: bool) -> RoomFrame {
    RoomFrame::Presence {
        nick: nick.into(),
        joined,
    }
}

#[tokio::test]
async fn a_rename_is_one_rename_for_v3_and_a_leave_and_join_for_older_sessions() {
    let relay = TestRelay::start(&[]).await;
    let mut ada = guest(&relay, "ada", Some(ADA_SECRET)).await;
    let (_, _ada_room) = join(&mut ada, 1, "lobby", None).await;
    let mut bob = guest(&relay, "bob", None).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    let mut carl = RawClient::connect(&relay).await;
    carl.say_hello_as("carl", 2).await;
    let (_, mut carl_room) = join(&mut carl, 1, "lobby", None).await;
    let (mut dan, _) = RawClient::hello(&relay, "dan").await;
    let (_, mut dan_room) = join(&mut dan, 1, "lobby", None).await;

    renamed(&mut ada, 2, "grace").await;
    send_text(&mut ada, 3, "lobby", "hello as grace").await;

    let rename = RoomFrame::Renamed {
        from: "ada".into(),
        to: "grace".into(),
    };
    assert_eq!(after_joins(&mut bob_room, "").await, rename);
    let next = bob_room.next().await.expect("open");
    assert!(
        says(&next, "grace", "hello as grace"),
        "then the message: {next:?}"
    );
    for room in [&mut carl_room, &mut dan_room] {
        assert_eq!(after_joins(room, "grace").await, presence("ada", false));
        assert_eq!(room.next().await, Some(presence("grace", true)));
        let next = room.next().await.expect("open");
        assert!(
            says(&next, "grace", "hello as grace"),
            "then the message: {next:?}"
        );
    }
    let members = who(&mut bob, 2, "lobby").await;
    assert_eq!(members, ["bob", "carl", "dan", "grace"]);

    // The new nick is the session's claim now: another secret cannot take it.
    crate::nick_claims::refused(
        relay.addr,
        &relay.ca(),
        "grace",
        Some(EVE_SECRET),
        ErrorCode::NICK_TAKEN,
    )
    .await;
    // Renaming to the nick one has is answered and changes nothing.
    renamed(&mut ada, 4, "grace").await;
    assert_eq!(who(&mut ada, 5, "lobby").await, members);
}

#[tokio::test]
async fn refused_renames_change_nothing() {
    let relay = TestRelay::start(&[]).await;
    let _eve = welcomed(relay.addr, &relay.ca(), "eve", Some(EVE_SECRET)).await;
    let mut ada = guest(&relay, "ada", Some(ADA_SECRET)).await;
    let (_, mut ada_room) = join(&mut ada, 1, "lobby", None).await;
    let mut ace = guest(&relay, "ace", None).await;
    let (_, _ace_room) = join(&mut ace, 1, "lobby", None).await;

    // Another secret holds the nick, or one that looks the same.
    let taken = expect_error(rename(&mut ada, 2, "eve").await, 2, ErrorCode::NICK_TAKEN);
    assert!(taken.contains("eve"), "{taken}");
    expect_error(rename(&mut ada, 3, "EVE").await, 3, ErrorCode::NICK_TAKEN);
    // A member of a joined room has a nick that looks the same (Cyrillic "асе").
    let looks = expect_error(
        rename(&mut ada, 4, "\u{430}\u{441}\u{435}").await,
        4,
        ErrorCode::NICK_LOOKALIKE,
    );
    assert!(looks.contains("lobby"), "{looks}");
    expect_error(rename(&mut ada, 5, "").await, 5, ErrorCode::INVALID_NICK);
    expect_error(
        rename(&mut ada, 6, "a\u{202e}b").await,
        6,
        ErrorCode::INVALID_NICK,
    );

    assert_eq!(who(&mut ada, 7, "lobby").await, ["ace", "ada"]);
    send_text(&mut ada, 8, "lobby", "still ada").await;
    let next = after_joins(&mut ada_room, "").await;
    assert!(
        says(&next, "ada", "still ada"),
        "no rename was told: {next:?}"
    );
    // eve's claim is still hers alone.
    crate::nick_claims::refused(
        relay.addr,
        &relay.ca(),
        "eve",
        Some(ADA_SECRET),
        ErrorCode::NICK_TAKEN,
    )
    .await;
}

#[tokio::test]
async fn a_rename_flood_is_rate_limited_and_others_are_not() {
    let relay = TestRelay::start(&[]).await;
    let mut ada = guest(&relay, "ada", None).await;
    let (_, _ada_room) = join(&mut ada, 1, "lobby", None).await;
    let mut bob = guest(&relay, "bob", None).await;
    let (_, _bob_room) = join(&mut bob, 1, "lobby", None).await;

    let mut limited = None;
    for i in 0..20u32 {
        let nick = format!("ada{i}");
        match rename(&mut ada, 10 + i, &nick).await {
            ServerFrame::Renamed { .. } => {}
            other => {
                expect_error(other, 10 + i, ErrorCode::RATE_LIMITED);
                limited = Some(i);
                break;
            }
        }
    }
    let limited = limited.expect("a flood of renames is refused");
    assert!(limited >= 1, "a first rename goes through");
    // The refused rename changed nothing; the flood cost bob nothing.
    let last = format!("ada{}", limited - 1);
    renamed(&mut bob, 2, "bobby").await;
    assert_eq!(who(&mut bob, 3, "lobby").await, [last.as_str(), "bobby"]);
}

#[tokio::test]
async fn rename_is_refused_in_token_mode_and_below_version_3() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let mut signed = RawClient::connect(&relay).await;
    signed
        .send(&ClientFrame::Hello(Hello {
            version: 3,
            nick: "ignored".into(),
            token: Some(token("ada", &[("*", "rw")], 600)),
        }))
        .await;
    assert!(matches!(signed.recv().await, ServerFrame::Welcome(_)));
    let (_, _room) = join(&mut signed, 1, "lobby", None).await;
    let why = expect_error(
        rename(&mut signed, 2, "grace").await,
        2,
        ErrorCode::FORBIDDEN,
    );
    assert!(why.contains("token"), "{why}");
    assert_eq!(who(&mut signed, 3, "lobby").await, ["ada"]);

    let open = TestRelay::start(&[]).await;
    let mut old = RawClient::connect(&open).await;
    old.say_hello_as("old", 2).await;
    old.send(&ClientFrame::Rename {
        id: 1,
        nick: "new".into(),
    })
    .await;
    let (code, _) = old.closed().await;
    assert_eq!(code, u64::from(ErrorCode::UNKNOWN_FRAME.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_reaches_the_other_relay_as_one_rename() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &[]).await;
    let mut ada = a.client_as("ada", 3).await;
    let (_, _ada_room) = join(&mut ada, 1, "lobby", None).await;
    let mut bob = b.client_as("bob", 3).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    let mut carl = b.client_as("carl", 2).await;
    let (_, mut carl_room) = join(&mut carl, 1, "lobby", None).await;
    // Both relays know every member before the rename.
    let deadline = std::time::Instant::now() + WAIT;
    for (id, c) in [&mut ada, &mut bob].into_iter().enumerate() {
        while who(c, 100 + id as u32, "lobby").await != ["ada", "bob", "carl"] {
            assert!(
                std::time::Instant::now() < deadline,
                "members listed in time"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    renamed(&mut ada, 2, "grace").await;
    send_text(&mut ada, 3, "lobby", "hello from a").await;

    let rename = RoomFrame::Renamed {
        from: "ada".into(),
        to: "grace".into(),
    };
    loop {
        match bob_room.next().await.expect("open") {
            RoomFrame::Presence {
                joined: true,
                ref nick,
            } if nick != "grace" => {}
            frame => {
                assert_eq!(frame, rename);
                break;
            }
        }
    }
    let next = bob_room.next().await.expect("open");
    assert!(
        says(&next, "grace", "hello from a"),
        "then the message: {next:?}"
    );
    assert_eq!(
        after_joins(&mut carl_room, "grace").await,
        presence("ada", false)
    );
    assert_eq!(carl_room.next().await, Some(presence("grace", true)));
    assert_eq!(who(&mut bob, 4, "lobby").await, ["bob", "carl", "grace"]);
    assert_eq!(who(&mut ada, 4, "lobby").await, ["bob", "carl", "grace"]);

    // Redis's member list follows: a relay that joins the room now reads it from there.
    let c = ClusterRelay::start(&redis.url(), certs.path(), "c", &[]).await;
    let mut dan = c.client_as("dan", 3).await;
    let (joined, _dan_room) = join(&mut dan, 1, "lobby", None).await;
    assert!(
        !joined.members.contains(&"ada".to_string()),
        "{:?}",
        joined.members
    );
    let deadline = std::time::Instant::now() + WAIT;
    while who(&mut dan, 2, "lobby").await != ["bob", "carl", "dan", "grace"] {
        assert!(
            std::time::Instant::now() < deadline,
            "relay c lists the new nick in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_moves_the_claim_and_lets_the_old_one_expire() {
    let ttl = std::time::Duration::from_secs(1);
    let relay = TestRelay::start(&["--nick-claim-ttl", "1s"]).await;
    let (addr, ca) = (relay.addr, relay.ca());
    let mut ada = guest(&relay, "ada", Some(ADA_SECRET)).await;
    renamed(&mut ada, 1, "grace").await;

    // The old nick is no longer renewed by the session: within about a time-to-live another
    // secret may take it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_eve, answer) = crate::nick_claims::hello(addr, &ca, "ada", Some(EVE_SECRET)).await;
        match answer {
            Ok(_) => break,
            Err(ErrorCode::NICK_TAKEN) => {}
            Err(other) => panic!("refused with {other}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old claim did not expire"
        );
        tokio::time::sleep(ttl / 4).await;
    }
    // The new nick is renewed while the session uses it: refused well past the time-to-live.
    let until = std::time::Instant::now() + 3 * ttl;
    while std::time::Instant::now() < until {
        crate::nick_claims::refused(addr, &ca, "grace", Some(EVE_SECRET), ErrorCode::NICK_TAKEN)
            .await;
        tokio::time::sleep(ttl / 4).await;
    }
    renamed(&mut ada, 2, "grace").await;
}
