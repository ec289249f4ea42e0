//! Admission at the QUIC endpoint: one source address cannot fill `--max-sessions` (with or
//! without Hello), and every client turned away (too many from its address, relay full,
//! relay draining) reads why in an Error frame on its control stream, then the close code.

use std::net::SocketAddr;
use std::path::Path;

use chitchat_protocol::*;
use tokio::time::timeout;

use crate::support::*;

/// Another loopback address: a second host as far as the relay can tell.
const OTHER_HOST: &str = "127.0.0.2:0";

/// A client on [`OTHER_HOST`]: connects, says Hello, returns the first frame the relay
/// answers with and the connection.
async fn hello_from_other_host(
    addr: SocketAddr,
    ca: &Path,
    nick: &str,
) -> (ServerFrame, quinn::Connection) {
    let endpoint = client_endpoint(ca, None);
    endpoint
        .rebind(std::net::UdpSocket::bind(OTHER_HOST).unwrap())
        .unwrap();
    let conn = timeout(WAIT, endpoint.connect(addr, "localhost").unwrap())
        .await
        .expect("connect in time")
        .expect("TLS handshake");
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        nick: nick.into(),
        token: None,
    });
    send.write_all(&encode_frame(&hello).unwrap())
        .await
        .unwrap();
    let mut buf = FrameBuffer::new();
    let frame = timeout(WAIT, async {
        loop {
            if let Some(f) = buf.next_frame::<ServerFrame>().unwrap() {
                return f;
            }
            let chunk = recv.read_chunk(65536, true).await.unwrap().unwrap();
            buf.extend(&chunk.bytes);
        }
    })
    .await
    .expect("an answer in time");
    (frame, conn)
}

/// Says Hello on a connected client and expects the Error frame (id 0) that turns it away,
/// then the close with the same code.
async fn expect_turned_away(mut c: RawClient, code: ErrorCode) {
    c.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        nick: "late".into(),
        token: None,
    }))
    .await;
    expect_error(c.recv().await, 0, code);
    assert_eq!(c.closed().await.0, u64::from(code.0));
}

#[tokio::test]
async fn one_address_cannot_fill_max_sessions_with_silent_connections() {
    let relay = TestRelay::start(&["--max-sessions", "5", "--max-sessions-per-addr", "4"]).await;
    // The attacker: TLS-complete connections that never say Hello.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(RawClient::connect(&relay).await);
    }
    let over = RawClient::connect(&relay).await;
    expect_turned_away(over, ErrorCode::TOO_MANY_FROM_ADDRESS).await;
    // The victim, on another address, still gets in.
    let (answer, _conn) = hello_from_other_host(relay.addr, &relay.ca(), "victim").await;
    assert!(
        matches!(answer, ServerFrame::Welcome(_)),
        "the victim got {answer:?}"
    );
}

#[tokio::test]
async fn a_full_relay_says_server_busy_on_the_control_stream() {
    let relay = TestRelay::start(&["--max-sessions", "1"]).await;
    let (mut first, _) = RawClient::hello(&relay, "first").await;
    let (answer, conn) = hello_from_other_host(relay.addr, &relay.ca(), "second").await;
    expect_error(answer, 0, ErrorCode::SERVER_BUSY);
    match timeout(WAIT, conn.closed()).await.expect("closed in time") {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(
                c.error_code.into_inner(),
                u64::from(ErrorCode::SERVER_BUSY.0)
            )
        }
        other => panic!("expected SERVER_BUSY, got {other}"),
    }
    assert!(matches!(
        first.request(ClientFrame::Ping { id: 1 }).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn connections_during_the_drain_are_told_shutting_down() {
    let mut relay = TestRelay::start(&["--drain-secs", "3"]).await;
    let (mut staying, _) = RawClient::hello(&relay, "staying").await;
    let stopping = relay.begin_shutdown();
    assert!(matches!(staying.recv().await, ServerFrame::GoAway { .. }));
    let late = RawClient::connect(&relay).await;
    expect_turned_away(late, ErrorCode::SHUTTING_DOWN).await;
    drop(staying);
    timeout(WAIT, stopping).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn admission_flags_refuse_bad_values() {
    use clap::Parser;
    let base = ["chitchat-relay"];
    for bad in [
        ["--max-sessions-per-addr", "0"],
        ["--max-handshakes-per-addr", "0"],
        ["--max-handshakes", "0"],
        ["--retry-above", "many"],
        ["--http-max-conns", "0"],
        ["--http-max-conns-per-addr", "0"],
        ["--http-header-timeout-secs", "0"],
        ["--http-idle-timeout-secs", "0"],
        ["--admin-listen", "not-an-address"],
    ] {
        let args = base.iter().chain(bad.iter());
        let err = chitchat_relay::Config::try_parse_from(args)
            .expect_err(&format!("{bad:?} must be refused"));
        assert!(
            err.to_string().contains(bad[0]),
            "{bad:?}: the error names the flag: {err}"
        );
    }
}
