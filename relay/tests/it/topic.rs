//! A room's topic on the room stream (version 3's `RoomFrame::Topic`): a member joining a
//! room gets its topic (empty for none) right after `Open`; a change through `SetTopic` or the server
//! API's PATCH reaches every version-3 member at once, on this relay and on the others of a
//! cluster on a real `redis-server`; sessions below version 3 get no topic frame and their
//! stream goes on as before; a refused change (a bad topic, a room not joined) tells nobody.
//!
//! "Nothing else came" is checked without sleeping: after the step under test a message is
//! sent, which travels the same path, and the next frame must be that message.

use chitchat_protocol::{ClientFrame, EntryBody, ErrorCode, RoomFrame, ServerFrame};
use serde_json::json;

use crate::api::{KEY, api_certs_dir, call};
use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, RoomReader, TestRelay, expect_error, join, send_text};
use chitchat_tests::redis::{Persistence, RedisServer};

const ROOM: &str = "/api/v1/rooms/{room}";

/// Sends SetTopic and returns the answer.
async fn set_topic(c: &mut RawClient, id: u32, room: &str, topic: &str) -> ServerFrame {
    c.request(ClientFrame::SetTopic {
        id,
        room: room.into(),
        topic: topic.into(),
    })
    .await
}

/// A guest of protocol `version` on `relay`.
async fn guest(relay: &TestRelay, nick: &str, version: u16) -> RawClient {
    let mut c = RawClient::connect(relay).await;
    c.say_hello_as(nick, version).await;
    c
}

/// The next frame that is not a presence change.
async fn next_not_presence(room: &mut RoomReader) -> RoomFrame {
    loop {
        match room.next().await.expect("room stream open") {
            RoomFrame::Presence { .. } => {}
            frame => return frame,
        }
    }
}

/// Whether `frame` carries the text `text`, as a message or a text entry.
fn says(frame: &RoomFrame, text: &str) -> bool {
    match frame {
        RoomFrame::Message(m) => m.text == text,
        RoomFrame::Entry(e) => matches!(&e.body, EntryBody::Text { text: t, .. } if t == text),
        _ => false,
    }
}

fn topic(topic: &str, by: &str) -> RoomFrame {
    RoomFrame::Topic {
        topic: topic.into(),
        by: by.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_get_the_topic_at_join_and_each_change_once() {
    let relay = TestRelay::start(&[]).await;
    let mut ada = guest(&relay, "ada", 3).await;
    let (_, mut ada_room) = join(&mut ada, 1, "lobby", None).await;
    ada_room.keep_topics();
    // A room without a topic: the first frame after Open says so.
    assert_eq!(ada_room.next().await, Some(topic("", "")));
    send_text(&mut ada, 2, "lobby", "no topic yet").await;
    assert!(says(
        &next_not_presence(&mut ada_room).await,
        "no topic yet"
    ));

    let mut carl = guest(&relay, "carl", 2).await;
    let (_, mut carl_room) = join(&mut carl, 1, "lobby", None).await;
    carl_room.keep_topics();
    assert!(matches!(
        set_topic(&mut ada, 3, "lobby", "Release planning").await,
        ServerFrame::RoomInfo { id: 3, ref room } if room.topic == "Release planning"
    ));
    assert_eq!(
        next_not_presence(&mut ada_room).await,
        topic("Release planning", "ada")
    );

    // A version-3 member joining now gets the topic right after Open, then history.
    let mut bob = guest(&relay, "bob", 3).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    bob_room.keep_topics();
    assert_eq!(bob_room.next().await, Some(topic("Release planning", "")));

    // A bad topic is refused and tells nobody.
    let refused = set_topic(&mut bob, 2, "lobby", "two\nlines").await;
    expect_error(refused, 2, ErrorCode::INVALID_TEXT);
    // A room not joined is refused.
    let refused = set_topic(&mut bob, 3, "elsewhere", "mine").await;
    expect_error(refused, 3, ErrorCode::NOT_JOINED);

    send_text(&mut bob, 4, "lobby", "after the refusals").await;
    for room in [&mut ada_room, &mut bob_room] {
        assert!(
            says(&next_not_presence(room).await, "after the refusals"),
            "no topic frame for a refused change"
        );
    }
    // The version-2 member got no topic frame: next on its stream is the message.
    assert!(says(
        &next_not_presence(&mut carl_room).await,
        "after the refusals"
    ));

    // Clearing the topic is a change too; a later join then gets the empty topic.
    set_topic(&mut ada, 5, "lobby", "").await;
    assert_eq!(next_not_presence(&mut bob_room).await, topic("", "ada"));
    let mut dan = guest(&relay, "dan", 3).await;
    let (_, mut dan_room) = join(&mut dan, 1, "lobby", None).await;
    dan_room.keep_topics();
    assert_eq!(dan_room.next().await, Some(topic("", "")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_change_reaches_members_on_every_relay() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let (certs, keys) = api_certs_dir();
    let api = ["--api-key-file", keys.as_str()];
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &api).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &api).await;
    let mut ada = a.client_as("ada", 3).await;
    let (_, mut ada_room) = join(&mut ada, 1, "lobby", None).await;
    ada_room.keep_topics();
    let mut bob = b.client_as("bob", 3).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    bob_room.keep_topics();
    for room in [&mut ada_room, &mut bob_room] {
        assert_eq!(room.next().await, Some(topic("", "")));
    }
    // Relay b is subscribed to the room once a message from a reaches bob.
    send_text(&mut ada, 2, "lobby", "ready").await;
    assert!(says(&next_not_presence(&mut bob_room).await, "ready"));
    assert!(says(&next_not_presence(&mut ada_room).await, "ready"));

    set_topic(&mut ada, 3, "lobby", "Deploys on Friday").await;
    for room in [&mut ada_room, &mut bob_room] {
        assert_eq!(
            next_not_presence(room).await,
            topic("Deploys on Friday", "ada")
        );
    }

    // The operator's change through relay b's API reaches relay a's member too, unsigned.
    let answer = call(
        b.http,
        Some(KEY),
        "PATCH",
        (ROOM, "/api/v1/rooms/lobby"),
        Some(&json!({"topic": "Frozen until Monday"}).to_string()),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for room in [&mut ada_room, &mut bob_room] {
        assert_eq!(
            next_not_presence(room).await,
            topic("Frozen until Monday", "")
        );
    }
    // An archive-only change is no topic change: nothing is told.
    let answer = call(
        b.http,
        Some(KEY),
        "PATCH",
        (ROOM, "/api/v1/rooms/lobby"),
        Some(&json!({"private": true}).to_string()),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    send_text(&mut bob, 2, "lobby", "still here").await;
    for room in [&mut ada_room, &mut bob_room] {
        assert!(says(&next_not_presence(room).await, "still here"));
    }
}
