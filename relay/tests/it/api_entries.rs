//! The server API and log entries over real HTTP: history pages show each message in its
//! latest state, and the operator removes any message (a delete entry members receive),
//! with bad input refused by code. Every answer is validated against docs/openapi.json.

use chitchat_protocol::{ClientFrame, EntryBody, PROTOCOL_VERSION, REACTIONS, ServerFrame};
use serde_json::json;

use crate::api::{KEY, call, publish, relay_with_api};
use crate::support::{RawClient, join};

const MESSAGES: &str = "/api/v1/rooms/{room}/messages";
const MESSAGE: &str = "/api/v1/rooms/{room}/messages/{seq}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_the_latest_state_and_the_operator_removes_any_message() {
    let relay = relay_with_api(&[]).await;
    let mut ann = RawClient::connect(&relay).await;
    ann.say_hello_as("ann", PROTOCOL_VERSION).await;
    let (_, mut stream) = join(&mut ann, 1, "ops", None).await;
    assert_eq!(
        publish(relay.http, "ops", "bot", "deploy at 5").await.body["seq"],
        1
    );
    let edit = ClientFrame::Edit {
        id: 2,
        room: "ops".into(),
        seq: 1,
        text: "x".into(),
    };
    assert!(
        matches!(ann.request(edit).await, ServerFrame::Error(_)),
        "not ann's message"
    );
    let react = ClientFrame::React {
        id: 3,
        room: "ops".into(),
        seq: 1,
        emoji: REACTIONS[2].into(),
        on: true,
    };
    assert!(matches!(
        ann.request(react).await,
        ServerFrame::Sent { seq: 2, .. }
    ));

    let history = |query: &'static str| {
        let path = format!("/api/v1/rooms/ops/messages{query}");
        async move { call(relay.http, Some(KEY), "GET", (MESSAGES, &path), None, &[]).await }
    };
    let page = history("").await;
    assert_eq!(page.status, 200);
    let first = &page.body["messages"][0];
    assert_eq!(first["reactions"], json!({ REACTIONS[2]: ["ann"] }));
    assert_eq!(
        (first["deleted"].clone(), first["edited_ts"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(
        page.body["messages"].as_array().map(Vec::len),
        Some(1),
        "texts only"
    );
    let forward = history("?after=0&limit=10").await;
    assert_eq!(forward.body["messages"], page.body["messages"]);

    // The operator removes bot's message: no author check; members get the entry.
    let remove = |path: &'static str| async move {
        call(relay.http, Some(KEY), "DELETE", (MESSAGE, path), None, &[]).await
    };
    let removed = remove("/api/v1/rooms/ops/messages/1?by=moderator").await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(
        (
            removed.body["seq"].clone(),
            removed.body["target"].clone(),
            removed.body["by"].clone()
        ),
        (json!(3), json!(1), json!("moderator"))
    );
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(stream.entry().await);
    }
    assert_eq!(seen[2].body, EntryBody::Delete { target: 1 });
    let page = history("").await;
    let first = &page.body["messages"][0];
    assert_eq!(
        (first["deleted"].clone(), first["text"].clone()),
        (json!(true), json!(""))
    );
    assert_eq!(first["reactions"], json!({}));

    // Bad input: a code, nothing stored, the room goes on.
    for (path, status, code) in [
        ("/api/v1/rooms/ops/messages/1", 404, "NO_SUCH_MESSAGE"),
        ("/api/v1/rooms/ops/messages/2", 404, "NO_SUCH_MESSAGE"),
        ("/api/v1/rooms/ops/messages/99", 404, "NO_SUCH_MESSAGE"),
        ("/api/v1/rooms/ops/messages/one", 400, "BAD_REQUEST"),
        ("/api/v1/rooms/ops/messages/-1", 400, "BAD_REQUEST"),
        ("/api/v1/rooms/Bad%20Room/messages/1", 400, "INVALID_ROOM"),
        ("/api/v1/rooms/ops/messages/1?by=a%20b", 400, "INVALID_NICK"),
        ("/api/v1/rooms/ops/messages/1?who=x", 400, "BAD_REQUEST"),
    ] {
        let answer = remove(path).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{path}: {}",
            answer.body
        );
    }
    let unkeyed = call(
        relay.http,
        None,
        "DELETE",
        (MESSAGE, "/api/v1/rooms/ops/messages/1"),
        None,
        &[],
    )
    .await;
    assert_eq!(unkeyed.status, 401);
    assert_eq!(
        publish(relay.http, "ops", "bot", "still here").await.body["seq"],
        4
    );
}
