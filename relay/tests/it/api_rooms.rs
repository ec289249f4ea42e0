//! The server API's rooms as records: a room made by a join or a post shows in the
//! directory at once, with its members and last activity; a room made with a topic; the
//! topic changed; search and paging; every bad input refused with a code. Answers are
//! validated against docs/openapi.json by `api::call`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Answer, KEY, api_certs_dir, call, publish, relay_with_api};
use crate::support::cluster::{ClusterRelay, eventually};
use crate::support::{RawClient, join};
use chitchat_tests::redis::{Persistence, RedisServer};

const ROOMS: &str = "/api/v1/rooms";
const ROOM: &str = "/api/v1/rooms/{room}";

pub(crate) async fn directory(http: SocketAddr, query: &str) -> Answer {
    let path = format!("/api/v1/rooms{query}");
    call(http, Some(KEY), "GET", (ROOMS, &path), None, &[]).await
}

pub(crate) fn names(page: &Answer) -> Vec<String> {
    page.body["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn entry<'a>(page: &'a Answer, name: &str) -> &'a Value {
    page.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {}", page.body))
}

async fn create(http: SocketAddr, body: Value) -> Answer {
    call(
        http,
        Some(KEY),
        "POST",
        (ROOMS, ROOMS),
        Some(&body.to_string()),
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_people_use_are_in_the_directory_with_members_and_activity() {
    let relay = relay_with_api(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let (_, _room) = join(&mut ada, 1, "lobby", None).await;
    let posted = publish(relay.http, "news", "bot", "extra extra").await;
    assert_eq!(posted.status, 201);

    // The join records the room on a task of its own: wait for it.
    let page = eventually(
        "lobby in the directory",
        Duration::from_secs(10),
        || async {
            let page = directory(relay.http, "").await;
            names(&page).contains(&"lobby".to_owned()).then_some(page)
        },
    )
    .await;
    assert_eq!(names(&page), ["lobby", "news"]);
    let lobby = entry(&page, "lobby");
    assert_eq!(
        (lobby["members"].clone(), lobby["created_by"].clone()),
        (json!(1), json!("ada"))
    );
    assert_eq!(
        (lobby["last_seq"].clone(), lobby["last_activity_ms"].clone()),
        (json!(0), Value::Null)
    );
    let news = entry(&page, "news");
    assert_eq!(
        (news["last_seq"].clone(), news["created_by"].clone()),
        (json!(1), json!("bot"))
    );
    assert_eq!(news["last_activity_ms"], posted.body["ts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_made_with_a_topic_once_and_its_topic_changed() {
    let relay = relay_with_api(&[]).await;
    let made = create(
        relay.http,
        json!({"name": "ops", "topic": "Deploys", "created_by": "ada"}),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (made.body["topic"].clone(), made.body["members"].clone()),
        (json!("Deploys"), json!(0))
    );
    let again = create(relay.http, json!({"name": "ops", "topic": "Mine now"})).await;
    assert_eq!((again.status, again.code()), (409, "ROOM_EXISTS"));

    let body = json!({"topic": "Deploys and incidents"}).to_string();
    let changed = call(
        relay.http,
        Some(KEY),
        "PATCH",
        (ROOM, "/api/v1/rooms/ops"),
        Some(&body),
        &[],
    )
    .await;
    assert_eq!(
        (changed.status, changed.body["topic"].clone()),
        (200, json!("Deploys and incidents"))
    );
    let shown = call(
        relay.http,
        Some(KEY),
        "GET",
        (ROOM, "/api/v1/rooms/ops"),
        None,
        &[],
    )
    .await;
    assert_eq!(shown.body["topic"], "Deploys and incidents");
    assert_eq!(shown.body["created_by"], "ada", "the first record stays");
    let found = directory(relay.http, "?search=INCIDENT").await;
    assert_eq!(names(&found), ["ops"]);

    let missing = call(
        relay.http,
        Some(KEY),
        "GET",
        (ROOM, "/api/v1/rooms/nowhere"),
        None,
        &[],
    )
    .await;
    assert_eq!((missing.status, missing.code()), (404, "NO_SUCH_ROOM"));
    let missing = call(
        relay.http,
        Some(KEY),
        "PATCH",
        (ROOM, "/api/v1/rooms/nowhere"),
        Some(&body),
        &[],
    )
    .await;
    assert_eq!((missing.status, missing.code()), (404, "NO_SUCH_ROOM"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_pages_in_name_order() {
    let relay = relay_with_api(&[]).await;
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        assert_eq!(create(relay.http, json!({"name": name})).await.status, 201);
    }
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = directory(relay.http, &query).await;
        seen.extend(names(&page));
        match page.body["next"].as_str() {
            Some(next) => query = format!("?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_room_requests_get_a_code_and_change_nothing() {
    let relay = relay_with_api(&[]).await;
    assert_eq!(
        create(relay.http, json!({"name": "kept", "topic": "Original"}))
            .await
            .status,
        201
    );
    let cases = [
        (json!({"name": "no spaces"}), "INVALID_ROOM"),
        (
            json!({"name": "ok", "topic": "t".repeat(257)}),
            "BAD_REQUEST",
        ),
        (json!({"name": "ok", "topic": "two\nlines"}), "BAD_REQUEST"),
        (
            json!({"name": "ok", "topic": "bidi \u{202e}"}),
            "BAD_REQUEST",
        ),
        (
            json!({"name": "ok", "created_by": "not a nick!"}),
            "INVALID_NICK",
        ),
        (json!({"name": "ok", "private": "yes"}), "BAD_REQUEST"),
        (json!({"name": "ok", "archived": true}), "BAD_REQUEST"),
        (json!({"topic": "no name"}), "BAD_REQUEST"),
    ];
    for (body, code) in cases {
        let answer = create(relay.http, body.clone()).await;
        assert_eq!((answer.status, answer.code()), (400, code), "{body}");
    }
    for body in [
        json!({"topic": "x".repeat(300)}),
        json!({"topic": 5}),
        json!({}),
    ] {
        let text = body.to_string();
        let answer = call(
            relay.http,
            Some(KEY),
            "PATCH",
            (ROOM, "/api/v1/rooms/kept"),
            Some(&text),
            &[],
        )
        .await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{body}"
        );
    }
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=a",
        &format!("?search={}", "s".repeat(300)),
    ] {
        let answer = directory(relay.http, query).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{query}"
        );
    }
    let page = directory(relay.http, "").await;
    assert_eq!(names(&page), ["kept"], "nothing else was made");
    assert_eq!(entry(&page, "kept")["topic"], "Original");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_every_relay_lists_the_same_rooms_and_members() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let (certs, keys) = api_certs_dir();
    let flags = ["--api-key-file", keys.as_str()];
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &flags).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &flags).await;
    let mut ada = a.client("ada").await;
    let (_, _room) = join(&mut ada, 1, "lobby", None).await;
    assert_eq!(
        create(b.http, json!({"name": "ops", "topic": "Deploys"}))
            .await
            .status,
        201
    );
    for relay in [&a, &b] {
        let page = eventually("both rooms listed", Duration::from_secs(10), || async {
            let page = directory(relay.http, "").await;
            (names(&page) == ["lobby", "ops"]).then_some(page)
        })
        .await;
        assert_eq!(
            entry(&page, "lobby")["members"],
            1,
            "ada, counted on every relay"
        );
        assert_eq!(entry(&page, "ops")["topic"], "Deploys");
    }
}
