//! Archived and private rooms through the server API: an archived room is read-only for
//! everyone (sends, changes, topic and the API's publish refused with FORBIDDEN, its history
//! still readable) and left out of the directory, on every relay of a cluster; unarchiving
//! opens it again; a private room is made and listed only when made public. Every bad PATCH
//! is refused with a code and changes nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chitchat_protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use serde_json::{Value, json};

use crate::api::{Answer, KEY, api_certs_dir, call, publish, relay_with_api};
use crate::api_rooms::{directory, names};
use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, join};
use chitchat_tests::redis::{Persistence, RedisServer};

const ROOMS: &str = "/api/v1/rooms";
const ROOM: &str = "/api/v1/rooms/{room}";
const MESSAGES: &str = "/api/v1/rooms/{room}/messages";

async fn patch(http: SocketAddr, room: &str, body: &Value) -> Answer {
    let path = format!("/api/v1/rooms/{room}");
    call(
        http,
        Some(KEY),
        "PATCH",
        (ROOM, &path),
        Some(&body.to_string()),
        &[],
    )
    .await
}

async fn listed(http: SocketAddr) -> Vec<String> {
    names(&directory(http, "").await)
}

async fn create(http: SocketAddr, body: Value) -> Answer {
    let body = body.to_string();
    call(http, Some(KEY), "POST", (ROOMS, ROOMS), Some(&body), &[]).await
}

/// Sends `text` into `room` and returns the answer.
async fn send(client: &mut RawClient, id: u32, room: &str, text: &str) -> ServerFrame {
    client
        .request(ClientFrame::Send {
            id,
            room: room.into(),
            text: text.into(),
        })
        .await
}

fn refused_as_archived(answer: &ServerFrame) -> bool {
    matches!(answer, ServerFrame::Error(e)
        if e.code == ErrorCode::FORBIDDEN && e.message.contains("archived"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_room_is_read_only_and_unlisted_until_unarchived() {
    let relay = relay_with_api(&[]).await;
    let made = create(relay.http, json!({"name": "ops", "topic": "Deploys"})).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let mut ada = RawClient::connect(&relay).await;
    ada.say_hello_as("ada", PROTOCOL_VERSION).await;
    let (_, _ops) = join(&mut ada, 1, "ops", None).await;
    let (_, _lobby) = join(&mut ada, 2, "lobby", None).await;
    assert!(matches!(
        send(&mut ada, 3, "ops", "before").await,
        ServerFrame::Sent { seq: 1, .. }
    ));

    let archived = patch(relay.http, "ops", &json!({"archived": true})).await;
    assert_eq!(
        (archived.status, archived.body["archived"].clone()),
        (200, json!(true)),
        "{}",
        archived.body
    );
    assert_eq!(archived.body["topic"], "Deploys", "the topic stays");
    assert!(!listed(relay.http).await.contains(&"ops".to_owned()));

    let answer = send(&mut ada, 4, "ops", "after").await;
    assert!(refused_as_archived(&answer), "{answer:?}");
    for frame in [
        ClientFrame::Edit {
            id: 5,
            room: "ops".into(),
            seq: 1,
            text: "changed".into(),
        },
        ClientFrame::Delete {
            id: 6,
            room: "ops".into(),
            seq: 1,
        },
        ClientFrame::SetTopic {
            id: 7,
            room: "ops".into(),
            topic: "Mine".into(),
        },
    ] {
        let answer = ada.request(frame.clone()).await;
        assert!(refused_as_archived(&answer), "{frame:?}: {answer:?}");
    }
    let posted = publish(relay.http, "ops", "bot", "after").await;
    assert_eq!((posted.status, posted.code()), (403, "FORBIDDEN"));

    // Other rooms are unaffected; the archive's history is still there, unchanged.
    assert!(matches!(
        send(&mut ada, 8, "lobby", "hi").await,
        ServerFrame::Sent { seq: 1, .. }
    ));
    let history = call(
        relay.http,
        Some(KEY),
        "GET",
        (MESSAGES, "/api/v1/rooms/ops/messages"),
        None,
        &[],
    )
    .await;
    assert_eq!(history.status, 200);
    let texts: Vec<_> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("before")]);

    let opened = patch(relay.http, "ops", &json!({"archived": false})).await;
    assert_eq!(
        (opened.status, opened.body["archived"].clone()),
        (200, json!(false))
    );
    assert!(matches!(
        send(&mut ada, 9, "ops", "again").await,
        ServerFrame::Sent { seq: 2, .. }
    ));
    assert!(listed(relay.http).await.contains(&"ops".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_left_out_of_the_directory_until_made_public() {
    let relay = relay_with_api(&[]).await;
    let made = create(
        relay.http,
        json!({"name": "plans", "topic": "Q3", "private": true}),
    )
    .await;
    assert_eq!(
        (made.status, made.body["private"].clone()),
        (201, json!(true))
    );
    assert!(listed(relay.http).await.is_empty());
    let public = patch(relay.http, "plans", &json!({"private": false})).await;
    assert_eq!(public.body["private"], false);
    assert_eq!(listed(relay.http).await, ["plans"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_changes_are_refused_with_a_code_and_change_nothing() {
    let relay = relay_with_api(&[]).await;
    let made = create(relay.http, json!({"name": "kept", "topic": "Original"})).await;
    assert_eq!(made.status, 201);
    for body in [
        json!({}),
        json!({"archived": "yes"}),
        json!({"private": 1}),
        json!({"archived": true, "colour": "red"}),
        json!({"archived": true, "topic": "two\nlines"}),
        json!(["archived"]),
    ] {
        let answer = patch(relay.http, "kept", &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{body}"
        );
    }
    let missing = patch(relay.http, "nowhere", &json!({"archived": true})).await;
    assert_eq!((missing.status, missing.code()), (404, "NO_SUCH_ROOM"));
    assert_eq!(
        listed(relay.http).await,
        ["kept"],
        "still listed, unarchived"
    );
    let posted = publish(relay.http, "kept", "bot", "still open").await;
    assert_eq!(posted.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_archived_through_one_relay_is_read_only_on_every_relay() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let (certs, keys) = api_certs_dir();
    let flags = ["--api-key-file", keys.as_str()];
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &flags).await;
    let mut b = ClusterRelay::start(&redis.url(), certs.path(), "b", &flags).await;
    let mut bob = b.client("bob").await;
    let (_, _ops) = join(&mut bob, 1, "ops", None).await;
    assert!(matches!(
        send(&mut bob, 2, "ops", "first").await,
        ServerFrame::Sent { .. }
    ));

    let archived = patch(a.http, "ops", &json!({"archived": true})).await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    // Relay b learns it at its next refresh of the archived rooms.
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in 10.. {
        let answer = send(&mut bob, id, "ops", "late").await;
        if refused_as_archived(&answer) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "relay b still takes sends to the archived room: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A relay started after the change knows it from its first moment.
    b.stop().await;
    let c = ClusterRelay::start(&redis.url(), certs.path(), "c", &flags).await;
    let mut cy = c.client("cy").await;
    let (_, _ops) = join(&mut cy, 1, "ops", None).await;
    let answer = send(&mut cy, 2, "ops", "from c").await;
    assert!(refused_as_archived(&answer), "{answer:?}");
}
