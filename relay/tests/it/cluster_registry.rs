//! The relay registry through the relays' HTTP side: `GET /relays` lists every live relay
//! of a cluster on one real `redis-server` with where to reach it and its certificate
//! hash, drops a relay that stops (at once) or crashes (once its entry expires); the page
//! configuration offers every live relay's WebTransport URL, this relay's first, with the
//! union of their certificate hashes; a relay without Redis lists itself alone.

use std::time::Duration;

use chitchat_tests::redis::RedisServer;
use serde_json::Value;

use crate::support::WAIT;
use crate::support::cluster::{ClusterRelay, eventually, http_get, relay_nodes};

/// The page configuration written into index.html.
fn page_config(html: &str) -> Value {
    let start_tag = r#"<script id="chitchat-config" type="application/json">"#;
    let start = html
        .find(start_tag)
        .expect("the config script in index.html")
        + start_tag.len();
    let end = start
        + html[start..]
            .find("</script>")
            .expect("the end of the config");
    serde_json::from_str(&html[start..end]).expect("the config is JSON")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn relay<'a>(relays: &'a Value, node: &str) -> &'a Value {
    relays["relays"]
        .as_array()
        .expect("a relays array")
        .iter()
        .find(|r| r["node"] == node)
        .unwrap_or_else(|| panic!("{node} is not listed: {relays}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_and_the_page_list_every_live_relay() {
    let redis = RedisServer::start().await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let b = ClusterRelay::start(
        &redis.url(),
        certs.path(),
        "b",
        &[
            "--public-addr",
            "relay-b.example:4433",
            "--public-http",
            "https://relay-b.example/",
        ],
    )
    .await;

    // Relay a learns of b at its next registry check.
    let relays = eventually("a lists both relays", WAIT, || async {
        let relays = a.relays().await;
        (relay_nodes(&relays) == ["a", "b"]).then_some(relays)
    })
    .await;
    assert_eq!(relays["node"], "a");
    let ra = relay(&relays, "a");
    assert_eq!(ra["quic"], format!("localhost:{}", a.quic.port()));
    assert_eq!(
        ra["webtransport"],
        format!("https://localhost:{}/", a.quic.port())
    );
    assert_eq!(ra["http"], format!("http://localhost:{}/", a.http.port()));
    let rb = relay(&relays, "b");
    assert_eq!(rb["quic"], "relay-b.example:4433");
    assert_eq!(rb["webtransport"], "https://relay-b.example:4433/");
    assert_eq!(rb["http"], "https://relay-b.example/");
    for r in [ra, rb] {
        let hash = r["cert_sha256"].as_str().expect("a dev leaf hash");
        assert_eq!(hash.len(), 64, "{r}");
        assert!(r["seen_ms"].as_u64().expect("seen_ms") > 0);
        assert!(r["sessions"].is_u64());
    }
    assert_ne!(
        ra["cert_sha256"], rb["cert_sha256"],
        "each relay has its own leaf"
    );

    // The page from relay a: a first (at the host the browser used), then b; both hashes.
    let (status, html) = a.get("/").await;
    assert_eq!(status, 200);
    let config = page_config(&html);
    assert_eq!(
        strings(&config["webtransport"]),
        [
            format!("https://127.0.0.1:{}/", a.quic.port()),
            "https://relay-b.example:4433/".to_string()
        ]
    );
    let hashes = strings(&config["cert_hashes"]);
    assert_eq!(hashes.len(), 2, "{config}");
    for r in [ra, rb] {
        assert!(
            hashes.contains(&r["cert_sha256"].as_str().unwrap().to_string()),
            "{config}"
        );
    }
    // /config.json (what a page reads before reconnecting) says the same.
    let (status, body) = a.get("/config.json").await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["webtransport"], config["webtransport"]);

    // Relay b's page puts b first.
    let (_, html) = b.get("/index.html").await;
    let config = page_config(&html);
    let urls = strings(&config["webtransport"]);
    assert_eq!(urls[0], format!("https://127.0.0.1:{}/", b.quic.port()));
    assert_eq!(
        urls[1..],
        [format!("https://localhost:{}/", a.quic.port())],
        "{config}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_relay_leaves_the_registry_at_once() {
    let redis = RedisServer::start().await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let mut b = ClusterRelay::start(&redis.url(), certs.path(), "b", &["--drain-secs", "0"]).await;
    eventually("a lists b", WAIT, || async {
        (relay_nodes(&a.relays().await) == ["a", "b"]).then_some(())
    })
    .await;
    b.stop().await;
    // Gone from Redis as soon as it stopped...
    let left: Vec<String> = redis
        .cmd(&["ZRANGE", "chitchat:{_relays}:index", "0", "-1"])
        .await;
    assert_eq!(left, ["a"]);
    // ...and from a's list at a's next check (every second), far before any expiry.
    eventually("a drops b", Duration::from_secs(3), || async {
        (relay_nodes(&a.relays().await) == ["a"]).then_some(())
    })
    .await;
    let (_, html) = a.get("/").await;
    assert_eq!(
        page_config(&html)["webtransport"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_relay_drops_out_when_its_entry_expires() {
    let redis = RedisServer::start().await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let flags = ["--heartbeat-secs", "1"];
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", &flags).await;
    let mut b = ClusterRelay::start(&redis.url(), certs.path(), "b", &flags).await;
    eventually("a lists b", WAIT, || async {
        (relay_nodes(&a.relays().await) == ["a", "b"]).then_some(())
    })
    .await;
    let ttl_ms: i64 = redis.cmd(&["PTTL", "chitchat:{_relays}:node:b"]).await;
    assert!(
        (1000..=2500).contains(&ttl_ms),
        "a 1 s heartbeat gives entries a 2.5 s ttl, refreshed every second: {ttl_ms} ms"
    );
    b.crash();
    // 2.5 s after its last beat, plus a check (200 ms).
    eventually("a drops the crashed b", Duration::from_secs(5), || async {
        (relay_nodes(&a.relays().await) == ["a"]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_redis_lists_itself() {
    let certs = tempfile::tempdir().expect("a certs dir");
    let mut solo =
        ClusterRelay::start_solo(certs.path(), "solo", &["--public-addr", "chat.example:443"])
            .await;
    let http = solo.http;
    let quic_port = solo.quic.port();

    let (status, body) = http_get(http, "/relays").await;
    assert_eq!(status, 200, "{body}");
    let relays: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(relay_nodes(&relays), ["solo"]);
    let listed = relay(&relays, "solo");
    assert_eq!(listed["quic"], "chat.example:443");
    assert_eq!(listed["webtransport"], "https://chat.example:443/");
    assert_eq!(listed["http"], format!("http://localhost:{}/", http.port()));
    assert_eq!(listed["cert_sha256"].as_str().map(str::len), Some(64));

    let (_, html) = http_get(http, "/").await;
    let config = page_config(&html);
    assert_eq!(
        strings(&config["webtransport"]),
        [format!("https://127.0.0.1:{quic_port}/")]
    );
    assert_eq!(strings(&config["cert_hashes"]).len(), 1);

    solo.stop().await;
}
