//! The server API (`/api/v1` on the HTTP port) against in-process relays: real HTTP over
//! TCP, real QUIC clients in the rooms, real SQLite files, and a real `redis-server` for the
//! cluster case. Every answer, success or refusal, is validated against docs/openapi.json
//! for its route, method and status, so an answer the description does not promise fails.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use chitchat_protocol::ErrorCode;
use serde_json::{Value, json};

use crate::support::cluster::ClusterRelay;
use crate::support::{RawClient, TestRelay, WAIT, expect_error, join, request_send, send_text};
use chitchat_tests::redis::{Persistence, RedisServer};

pub(crate) const KEY: &str = "0123456789abcdef0123456789abcdef";
const OTHER_KEY: &str = "ffffffffffffffffffffffffffffffff-backend-2";

/// The OpenAPI description, read once.
fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let text = std::fs::read_to_string(&path).expect("docs/openapi.json");
        serde_json::from_str(&text).expect("docs/openapi.json is JSON")
    })
}

/// Panics unless `body` is what docs/openapi.json promises for `status` of `method
/// template` (the status must be listed there too).
fn conforms(template: &str, method: &str, status: u16, body: &Value) {
    let doc = openapi();
    let operation = &doc["paths"][template][method];
    assert!(
        operation.is_object(),
        "{method} {template} is not in docs/openapi.json"
    );
    let mut response = &operation["responses"][status.to_string()];
    if let Some(reference) = response["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        response = doc.pointer(pointer).expect("a resolvable $ref");
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {template} answered {status}, which docs/openapi.json does not list"
    );
    // The whole description is the root, so its `#/components/...` references resolve.
    let mut root = doc.clone();
    root.as_object_mut()
        .expect("an object")
        .insert("allOf".into(), json!([schema]));
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: {body} does not match docs/openapi.json: {errors:?}"
    );
}

/// One API call's answer.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error code of a refusal.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Calls `method path` on `http` with `key` (if any), `body` as JSON (if any) and extra
/// headers; checks the answer against the description of `template`.
pub(crate) async fn call(
    http: SocketAddr,
    key: Option<&str>,
    method: &str,
    (template, path): (&str, &str),
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let method_owned = method.to_owned();
    let path_owned = path.to_owned();
    let body_owned = body.map(|b| b.as_bytes().to_vec());
    let mut headers: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(key) = key {
        headers.push(("Authorization".into(), format!("Bearer {key}")));
    }
    if body.is_some()
        && !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let response = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        chitchat_tests::http::request(
            &http.to_string(),
            &method_owned,
            &path_owned,
            &headers,
            body_owned.as_deref(),
            WAIT,
        )
        .unwrap_or_else(|e| panic!("{method_owned} {path_owned}: {e}"))
    })
    .await
    .expect("the request runs");
    let body: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", response.body));
    let template = template.strip_prefix("/api/v1").unwrap_or(template);
    conforms(template, &method.to_lowercase(), response.status, &body);
    Answer {
        status: response.status,
        body,
    }
}

/// Extra request headers.
type Headers<'a> = Vec<(&'a str, &'a str)>;

const MESSAGES: &str = "/api/v1/rooms/{room}/messages";
const MEMBERS: &str = "/api/v1/rooms/{room}/members";

/// A relay with the API on (the key file in its temp dir holds [`KEY`] and [`OTHER_KEY`]).
pub(crate) async fn relay_with_api(extra: &[&str]) -> TestRelay {
    let keys = tempfile::NamedTempFile::new().expect("a key file");
    std::fs::write(keys.path(), format!("# backends\n{KEY}\n{OTHER_KEY}\n")).unwrap();
    let path = keys.path().display().to_string();
    let mut flags = vec!["--api-key-file", path.as_str()];
    flags.extend_from_slice(extra);
    let relay = TestRelay::start(&flags).await;
    // The keys are read at start; the file may go.
    drop(keys);
    relay
}

/// A directory for a cluster's certificates holding an API key file with [`KEY`], and that
/// file's path (for `--api-key-file`).
pub(crate) fn api_certs_dir() -> (tempfile::TempDir, String) {
    let certs = tempfile::tempdir().expect("a certs dir");
    let keys = certs.path().join("api-keys");
    std::fs::write(&keys, format!("{KEY}\n")).expect("writing the API key file");
    let keys = keys.display().to_string();
    (certs, keys)
}

pub(crate) async fn publish(http: SocketAddr, room: &str, from: &str, text: &str) -> Answer {
    let body = json!({ "from": from, "text": text }).to_string();
    let path = format!("/api/v1/rooms/{room}/messages");
    call(http, Some(KEY), "POST", (MESSAGES, &path), Some(&body), &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_is_numbered_stored_and_delivered_like_a_send() {
    let relay = relay_with_api(&[]).await;
    let (mut alice, _) = RawClient::hello(&relay, "alice").await;
    let (_, mut room) = join(&mut alice, 1, "lobby", None).await;

    let stored = publish(relay.http, "lobby", "deploy-bot", "build 42 is out").await;
    assert_eq!(stored.status, 201, "{}", stored.body);
    assert_eq!(stored.body["seq"], 1);
    assert_eq!(stored.body["from"], "deploy-bot");
    let live = room.message().await;
    assert_eq!((live.seq, live.from.as_str()), (1, "deploy-bot"));
    assert_eq!(live.text, "build 42 is out");

    // One numbering for both paths.
    assert_eq!(send_text(&mut alice, 2, "lobby", "thanks").await, 2);
    let page = call(
        relay.http,
        Some(KEY),
        "GET",
        (MESSAGES, "/api/v1/rooms/lobby/messages"),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, 200);
    let texts: Vec<&str> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["build 42 is out", "thanks"]);
    assert_eq!(page.body["last_seq"], 2);
    assert_eq!(page.body["more"], false);

    // The second key works as well.
    let members = call(
        relay.http,
        Some(OTHER_KEY),
        "GET",
        (MEMBERS, "/api/v1/rooms/lobby/members"),
        None,
        &[],
    )
    .await;
    assert_eq!(members.status, 200);
    assert_eq!(members.body["members"], json!(["alice"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_publish_with_its_send_id_is_stored_once() {
    let relay = relay_with_api(&[]).await;
    let body = json!({ "from": "billing", "text": "invoice sent", "send_id": 7 }).to_string();
    let path = "/api/v1/rooms/ops/messages";
    let first = call(
        relay.http,
        Some(KEY),
        "POST",
        (MESSAGES, path),
        Some(&body),
        &[],
    )
    .await;
    let again = call(
        relay.http,
        Some(KEY),
        "POST",
        (MESSAGES, path),
        Some(&body),
        &[],
    )
    .await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body["seq"], again.body["seq"]);
    let page = call(relay.http, Some(KEY), "GET", (MESSAGES, path), None, &[]).await;
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_back_and_forward() {
    let relay = relay_with_api(&[]).await;
    for i in 1..=5 {
        let stored = publish(relay.http, "log", "bot", &format!("m{i}")).await;
        assert_eq!(stored.body["seq"], i);
    }
    let page = |query: &'static str| {
        let path = format!("/api/v1/rooms/log/messages{query}");
        async move { call(relay.http, Some(KEY), "GET", (MESSAGES, &path), None, &[]).await }
    };
    let seqs = |a: &Answer| -> Vec<u64> {
        a.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    let newest = page("?limit=2").await;
    assert_eq!(
        (seqs(&newest), newest.body["more"].clone()),
        (vec![4, 5], json!(true))
    );
    let older = page("?before=4&limit=2").await;
    assert_eq!(
        (seqs(&older), older.body["more"].clone()),
        (vec![2, 3], json!(true))
    );
    let forward = page("?after=3&limit=10").await;
    assert_eq!(
        (seqs(&forward), forward.body["more"].clone()),
        (vec![4, 5], json!(false))
    );
    let first = page("?after=0&limit=1").await;
    assert_eq!(
        (seqs(&first), first.body["more"].clone()),
        (vec![1], json!(true))
    );
    let empty = call(
        relay.http,
        Some(KEY),
        "GET",
        (MESSAGES, "/api/v1/rooms/quiet/messages"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        (empty.body["last_seq"].clone(), seqs(&empty)),
        (json!(0), vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_file_the_api_is_off_and_says_so() {
    let relay = TestRelay::start(&[]).await;
    for (method, template, path) in [
        ("GET", MESSAGES, "/api/v1/rooms/lobby/messages"),
        ("GET", MEMBERS, "/api/v1/rooms/lobby/members"),
    ] {
        let answer = call(relay.http, Some(KEY), method, (template, path), None, &[]).await;
        assert_eq!((answer.status, answer.code()), (404, "API_DISABLED"));
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("--api-key-file"), "{message}");
    }
    // The rest of the HTTP port is unaffected.
    let (status, _) = crate::support::cluster::http_get(relay.http, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_key_are_refused_and_store_nothing() {
    let relay = relay_with_api(&[]).await;
    let body = json!({ "from": "mallory", "text": "hi" }).to_string();
    let path = "/api/v1/rooms/lobby/messages";
    let basic = format!("Basic {KEY}");
    let cases: [(Option<&str>, Headers); 4] = [
        (None, vec![]),
        (Some("0123456789abcdef0123456789abcdeX"), vec![]),
        (Some(""), vec![]),
        (None, vec![("Authorization", basic.as_str())]),
    ];
    for (key, headers) in cases {
        let answer = call(
            relay.http,
            key,
            "POST",
            (MESSAGES, path),
            Some(&body),
            &headers,
        )
        .await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "UNAUTHORIZED"),
            "{key:?}"
        );
    }
    let page = call(relay.http, Some(KEY), "GET", (MESSAGES, path), None, &[]).await;
    assert_eq!(page.body["last_seq"], 0, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_code_and_leave_the_room_working() {
    let relay = relay_with_api(&["--max-text-bytes", "64"]).await;
    let (mut alice, _) = RawClient::hello(&relay, "alice").await;
    let (_, mut room) = join(&mut alice, 1, "lobby", None).await;
    let path = "/api/v1/rooms/lobby/messages";
    let post = |body: String, headers: Vec<(&'static str, &'static str)>| {
        let http = relay.http;
        async move {
            call(
                http,
                Some(KEY),
                "POST",
                (MESSAGES, path),
                Some(&body),
                &headers,
            )
            .await
        }
    };
    let cases = [
        (
            json!({ "from": "bad nick!", "text": "x" }).to_string(),
            "INVALID_NICK",
        ),
        (
            json!({ "from": "bot", "text": "y".repeat(65) }).to_string(),
            "TEXT_TOO_LONG",
        ),
        (
            json!({ "from": "bot", "text": "" }).to_string(),
            "INVALID_TEXT",
        ),
        (json!({ "from": "bot" }).to_string(), "BAD_REQUEST"),
        (
            json!({ "from": "bot", "text": "x", "admin": true }).to_string(),
            "BAD_REQUEST",
        ),
        (
            json!({ "from": "bot", "text": "x", "send_id": -1 }).to_string(),
            "BAD_REQUEST",
        ),
        ("{not json".to_string(), "BAD_REQUEST"),
    ];
    for (body, code) in cases {
        let answer = post(body.clone(), vec![]).await;
        assert_eq!((answer.status, answer.code()), (400, code), "{body}");
    }
    let plain = post("hello".into(), vec![("Content-Type", "text/plain")]).await;
    assert_eq!(
        (plain.status, plain.code()),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );
    let huge = json!({ "from": "bot", "text": "z".repeat(100 * 1024) }).to_string();
    let too_large = post(huge, vec![]).await;
    assert_eq!(
        (too_large.status, too_large.code()),
        (413, "PAYLOAD_TOO_LARGE")
    );

    let bad_room = call(
        relay.http,
        Some(KEY),
        "GET",
        (MESSAGES, "/api/v1/rooms/no%20spaces/messages"),
        None,
        &[],
    )
    .await;
    assert_eq!((bad_room.status, bad_room.code()), (400, "INVALID_ROOM"));
    for query in [
        "?before=3&after=1",
        "?limit=0",
        "?limit=501",
        "?limit=many",
        "?since=1",
    ] {
        let path = format!("/api/v1/rooms/lobby/messages{query}");
        let answer = call(relay.http, Some(KEY), "GET", (MESSAGES, &path), None, &[]).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{query}"
        );
    }
    let unknown = call(
        relay.http,
        Some(KEY),
        "GET",
        (MEMBERS, "/api/v1/rooms/lobby/everything"),
        None,
        &[],
    )
    .await;
    assert_eq!(unknown.code(), "NOT_FOUND");

    // Nothing was stored, and the room still works for its member and for the API.
    assert_eq!(send_text(&mut alice, 2, "lobby", "still here").await, 1);
    assert_eq!(room.message().await.text, "still here");
    let ok = publish(relay.http, "lobby", "bot", "and so am I").await;
    assert_eq!((ok.status, ok.body["seq"].clone()), (201, json!(2)));
    assert_eq!(room.message().await.text, "and so am I");
    let frame = request_send(&mut alice, 3, "lobby", &"w".repeat(65)).await;
    expect_error(frame, 3, ErrorCode::TEXT_TOO_LONG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_key_file_stops_the_relay_naming_file_and_line() {
    let keys = tempfile::NamedTempFile::new().expect("a key file");
    std::fs::write(keys.path(), format!("{KEY}\nchangeme\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = keys.path().display().to_string();
    let data = dir.path().join("data").display().to_string();
    let certs = dir.path().join("certs").display().to_string();
    let args = [
        "chitchat-relay",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--certs-dir",
        &certs,
        "--api-key-file",
        &path,
    ];
    let config = <chitchat_relay::Config as clap::Parser>::parse_from(args);
    let error = match chitchat_relay::Relay::load(config).await {
        Ok(_) => panic!("a relay started with a short API key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains(&format!("line 2 of {path}")), "{error}");
    assert!(error.contains("at least 32"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_the_api_of_one_relay_reaches_members_of_another() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let keys = certs.path().join("api-keys");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    let keys = keys.display().to_string();
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", &["--api-key-file", &keys]).await;
    let mut alice = a.client("alice").await;
    let (_, mut room) = join(&mut alice, 1, "lobby", None).await;

    let members = call(
        b.http,
        Some(KEY),
        "GET",
        (MEMBERS, "/api/v1/rooms/lobby/members"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        members.body["members"],
        json!(["alice"]),
        "relay b reads Redis"
    );
    let stored = publish(b.http, "lobby", "ops", "maintenance at noon").await;
    assert_eq!(stored.status, 201);
    // Her own join first (it comes back through Redis), then the message.
    loop {
        match room.event().await {
            crate::support::Event::Said(from, text) => {
                assert_eq!(
                    (from.as_str(), text.as_str()),
                    ("ops", "maintenance at noon")
                );
                break;
            }
            crate::support::Event::Joined(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}
