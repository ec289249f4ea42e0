//! The page's side of token mode: `/config.json` and the Content-Security-Policy name the
//! token URL, the development sign-in mints tokens only where it is allowed and refuses bad
//! input, and `/metrics` counts sessions by mode and refusals by reason.

use chitchat_protocol::{ErrorCode, ServerFrame};
use chitchat_relay::{Config, Relay};
use chitchat_tests::RelayProcess;
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::support::cluster::http_get;

/// Sends `head` (request line and headers, without the blank line) and `body`; the whole
/// answer as text.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // A relay refusing a large body may answer and close before reading all of it.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(crate::support::WAIT, stream.read_to_end(&mut raw)).await;
    String::from_utf8_lossy(&raw).into_owned()
}

/// `POST path` with `body` of `content_type`; (status, body).
async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    let text = exchange(addr, &head, body).await;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_config_names_the_mode_and_the_token_url_which_the_policy_allows() {
    let url = "https://login.example.test:8443/chitchat/token";
    let (relay, _keys) = jwt_relay(&["--auth-token-url", url]).await;
    let (status, body) = http_get(relay.http, "/config.json").await;
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        config["auth"],
        serde_json::json!({"mode": "jwt", "token_url": url, "dev_login": false})
    );
    let page = exchange(relay.http, "GET / HTTP/1.1\r\n", b"").await;
    let csp = page
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .expect("a policy");
    let connect = csp
        .split(';')
        .find(|d| d.trim().starts_with("connect-src"))
        .unwrap();
    assert!(
        connect.contains(" https://login.example.test:8443"),
        "{connect}"
    );
    assert!(
        !connect.contains("/chitchat/token"),
        "origins only: {connect}"
    );

    let open = TestRelay::start(&[]).await;
    let (_, body) = http_get(open.http, "/config.json").await;
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        config["auth"],
        serde_json::json!({"mode": "open", "token_url": null, "dev_login": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_login_mints_tokens_and_refuses_bad_input() {
    let (relay, _keys) = jwt_relay(&["--auth-dev-login"]).await;
    let (_, body) = http_get(relay.http, "/config.json").await;
    assert!(body.contains("\"dev_login\":true"), "{body}");
    let form = "application/x-www-form-urlencoded";
    let (status, body) = post(relay.http, "/auth/dev-login", form, b"name=Bob").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = answer["token"].as_str().unwrap().to_string();
    let (_bob, welcome) = signed_in(&relay, token).await;
    assert_eq!(welcome.nick, "Bob");
    let json = "application/json";
    let (status, body) = post(relay.http, "/auth/dev-login", json, br#"{"name":"Eve"}"#).await;
    assert_eq!(status, 200, "{body}");

    for (content_type, bad) in [
        (json, br#"{"name":"a b"}"#.to_vec()),
        (json, b"garbage".to_vec()),
        (json, br#"{"nick":"x"}"#.to_vec()),
        (form, b"name=".to_vec()),
        (form, vec![b'a'; 4096]),
    ] {
        let (status, body) = post(relay.http, "/auth/dev-login", content_type, &bad).await;
        assert!((400..500).contains(&status), "{status} {body}");
    }
    let (status, _) = post(relay.http, "/auth/dev-login", form, &[b'x'; 2048]).await;
    assert_eq!(status, 413, "a body over 1 KiB is refused unread");

    // Off unless asked for.
    let (plain, _keys) = jwt_relay(&[]).await;
    let (status, _) = post(plain.http, "/auth/dev-login", form, b"name=Bob").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_login_is_refused_unless_every_address_is_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", std::str::from_utf8(SECRET).unwrap());
    let data = dir.path().join("data");
    let certs = dir.path().join("certs");
    let args = [
        "chitchat-relay",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "0.0.0.0:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--certs-dir",
        certs.to_str().unwrap(),
        "--auth",
        "jwt",
        "--auth-hmac-secret-file",
        secret.to_str().unwrap(),
        "--auth-dev-login",
    ];
    match Relay::load(Config::parse_from(args)).await {
        Ok(_) => panic!("the dev login started on a public address"),
        Err(e) => assert!(format!("{e:#}").contains("0.0.0.0:0 is not"), "{e:#}"),
    }
}

/// `chitchat-relay token` with `args`: the token it prints.
fn token_subcommand(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chitchat-relay"))
        .arg("token")
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_process_admits_subcommand_tokens_and_counts_modes_and_refusals() {
    let keys = tempfile::tempdir().unwrap();
    let secret = write(keys.path(), "secret", std::str::from_utf8(SECRET).unwrap());
    let secret = secret.to_str().unwrap();
    let relay = RelayProcess::start(&["--auth", "jwt", "--auth-hmac-secret-file", secret]);
    let addr: SocketAddr = relay.quic_addr().parse().unwrap();
    let ca = relay.ca_file();

    let minted = token_subcommand(&[
        "--sub",
        "alice",
        "--name",
        "Alice",
        "--rooms",
        "team-*=rw",
        "--rooms",
        "news=r",
        "--ttl",
        "8h",
        "--auth-hmac-secret-file",
        secret,
    ]);
    let (mut alice, welcome) = signed_in_at(addr, &ca, minted).await;
    assert_eq!(welcome.nick, "Alice");
    let (_, _team) = crate::support::join(&mut alice, 1, "team-x", None).await;
    forbidden(
        crate::support::request_send(&mut alice, 2, "news", "hi").await,
        2,
    );
    forbidden(
        crate::support::request_join(&mut alice, 3, "other", None).await,
        3,
    );

    let forged = hs256(
        b"a forger's secret of a good length....",
        &serde_json::json!({"sub": "x", "exp": now() + 60}),
    );
    let mut mallory = RawClient::connect_to(addr, &ca, None).await;
    assert!(matches!(
        hello_token(&mut mallory, "x", Some(forged)).await,
        ServerFrame::Error(e) if e.code == ErrorCode::UNAUTHORIZED
    ));
    let wait = crate::support::WAIT;
    relay.wait_metric(
        "chitchat_auth_refusals_total{reason=\"signature\"}",
        wait,
        |v| v == 1.0,
    );
    relay.wait_metric("chitchat_auth_sessions{mode=\"jwt\"}", wait, |v| v == 1.0);
    drop(alice);
    relay.wait_metric("chitchat_auth_sessions{mode=\"jwt\"}", wait, |v| v == 0.0);
}
