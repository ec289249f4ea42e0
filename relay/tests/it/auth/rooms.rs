//! Room grants, private rooms and direct-message rooms on the wire: a refused request is
//! FORBIDDEN (the session goes on), and nothing of a room reaches a session without its
//! grant.

use std::time::Duration;

use chitchat_protocol::*;

use super::*;
use crate::support::{Event, join, request_history, request_join, request_send, send_text};

fn who(room: &str, id: u32) -> ClientFrame {
    ClientFrame::Who {
        id,
        room: room.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_one_room_opens_no_other() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let token = token("alice", &[("team-a", "rw"), ("news", "r")], 600);
    let (mut alice, _) = signed_in(&relay, token).await;

    forbidden(request_join(&mut alice, 1, "team-b", None).await, 1);
    forbidden(request_history(&mut alice, 2, "team-b", None, 10).await, 2);
    forbidden(alice.request(who("team-b", 3)).await, 3);
    forbidden(request_send(&mut alice, 4, "team-b", "hi").await, 4);
    // Read only: joining and reading, not posting.
    let (_, _news) = join(&mut alice, 5, "news", None).await;
    forbidden(request_send(&mut alice, 6, "news", "hi").await, 6);
    // The session goes on where it is granted.
    let (_, mut team) = join(&mut alice, 7, "team-a", None).await;
    let seq = send_text(&mut alice, 8, "team-a", "hello").await;
    assert_eq!(team.message().await.seq, seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_shows_nothing_without_a_grant() {
    let (relay, _keys) = jwt_relay(&["--private-rooms", "secret-*"]).await;
    let (mut bob, _) = signed_in(&relay, token("bob", &[("*", "rw")], 600)).await;
    let (_, mut bob_room) = join(&mut bob, 1, "secret-plans", None).await;
    assert_eq!(bob_room.event().await, Event::Joined("bob".into()));
    send_text(&mut bob, 2, "secret-plans", "the hidden text").await;
    assert_eq!(bob_room.message().await.text, "the hidden text");

    let (mut carol, _) = signed_in(&relay, token("carol", &[("team-*", "rw")], 600)).await;
    match request_join(&mut carol, 1, "secret-plans", None).await {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::FORBIDDEN);
            assert!(e.message.contains("private room"), "{}", e.message);
        }
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
    forbidden(
        request_history(&mut carol, 2, "secret-plans", None, 10).await,
        2,
    );
    forbidden(carol.request(who("secret-plans", 3)).await, 3);
    // Carol's presence never reached the room either: bob sees his own message next.
    let (_, _carol_room) = join(&mut carol, 4, "team-x", None).await;
    let seq = send_text(&mut bob, 3, "secret-plans", "still private").await;
    match bob_room.event().await {
        Event::Said(_, text) => assert_eq!(text, "still private"),
        other => panic!("expected bob's message, got {other:?}"),
    }
    assert_eq!(seq, 2);
    // Nothing of the private room came to carol's session: no room stream but team-x's.
    let extra = tokio::time::timeout(Duration::from_millis(300), carol.conn.accept_uni()).await;
    assert!(extra.is_err(), "carol got another room stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_room_refuses_a_third_user_in_token_mode() {
    let (relay, _keys) = jwt_relay(&[]).await;
    let dm = dm_room(&["bob", "alice"]).unwrap();
    let (mut alice, _) = signed_in(&relay, token("alice", &[], 600)).await;
    let (mut bob, _) = signed_in(&relay, token("bob", &[], 600)).await;
    let (mut carol, _) = signed_in(&relay, token("carol", &[("*", "rw")], 600)).await;
    let (_, mut alice_dm) = join(&mut alice, 1, &dm, None).await;
    let (_, _bob_dm) = join(&mut bob, 1, &dm, None).await;
    send_text(&mut bob, 2, &dm, "just us").await;
    assert_eq!(alice_dm.message().await.text, "just us");

    // Even a token granting every room does not open someone else's conversation.
    forbidden(request_join(&mut carol, 1, &dm, None).await, 1);
    forbidden(request_history(&mut carol, 2, &dm, None, 10).await, 2);
    forbidden(carol.request(who(&dm, 3)).await, 3);
    forbidden(request_send(&mut carol, 4, &dm, "me too").await, 4);
}

/// A guest secret, as clients make them.
fn secret(seed: char) -> Option<String> {
    Some(std::iter::repeat_n(seed, 43).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_room_in_open_mode_needs_a_named_nick_with_its_secret() {
    let relay = TestRelay::start(&[]).await;
    let dm = "@alice+bob";
    // A guest secret against the secret rules is refused, not taken as no secret.
    refused(
        &relay,
        Some("short".into()),
        ErrorCode::UNAUTHORIZED,
        "guest secret",
    )
    .await;
    refused(
        &relay,
        Some("with spaces in it, long enough".into()),
        ErrorCode::UNAUTHORIZED,
        "guest secret",
    )
    .await;
    let mut alice = RawClient::connect(&relay).await;
    assert!(matches!(
        hello_token(&mut alice, "alice", secret('a')).await,
        ServerFrame::Welcome(_)
    ));
    let (_, _alice_dm) = join(&mut alice, 1, dm, None).await;
    send_text(&mut alice, 2, dm, "for bob").await;

    // A guest without a secret cannot speak for the nick.
    let (mut bob_unproven, _) = RawClient::hello(&relay, "bob").await;
    match request_join(&mut bob_unproven, 1, dm, None).await {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::FORBIDDEN);
            assert!(e.message.contains("secret"), "{}", e.message);
        }
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
    forbidden(request_history(&mut bob_unproven, 2, dm, None, 10).await, 2);
    // A third user, secret or not.
    let mut carol = RawClient::connect(&relay).await;
    assert!(matches!(
        hello_token(&mut carol, "carol", secret('c')).await,
        ServerFrame::Welcome(_)
    ));
    forbidden(request_join(&mut carol, 1, dm, None).await, 1);
    forbidden(request_send(&mut carol, 2, dm, "hi").await, 2);
    // Bob with his secret reads it.
    let mut bob = RawClient::connect(&relay).await;
    assert!(matches!(
        hello_token(&mut bob, "bob", secret('b')).await,
        ServerFrame::Welcome(_)
    ));
    match request_history(&mut bob, 1, dm, None, 10).await {
        ServerFrame::History(page) => assert_eq!(page.messages[0].text, "for bob"),
        other => panic!("expected History, got {other:?}"),
    }
}
