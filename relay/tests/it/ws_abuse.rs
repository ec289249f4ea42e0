//! Hostile input on the WebSocket transport: requests to `/ws` that are not a ChitChat
//! upgrade get a plain HTTP refusal; garbage QMux, a stream beyond the stream limit or an
//! oversized message end only their own session; text messages are ignored; a client that
//! stops reading is disconnected. Every time, a bystander stays served and the relay keeps no session behind.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use chitchat_protocol::*;
use futures::{SinkExt, StreamExt};
use qmux::ws::tokio_tungstenite::{WebSocketStream, client_async};
use qmux::ws::tungstenite::Message as WsMessage;
use qmux::ws::tungstenite::client::IntoClientRequest;
use qmux::ws::tungstenite::http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::*;

/// A bystander on QUIC in room `calm`, to show other sessions are unaffected.
async fn bystander(relay: &TestRelay) -> (RawClient, RoomReader) {
    let (mut c, _) = RawClient::hello(relay, "bystander").await;
    let (_, room) = join(&mut c, 1, "calm", None).await;
    (c, room)
}

/// The bystander can still send and receives its own message.
async fn still_served(c: &mut RawClient, room: &mut RoomReader, id: u32) {
    let seq = send_text(c, id, "calm", "still here").await;
    assert_eq!(room.message().await.seq, seq);
}

/// Sends `request` to the relay's HTTP port and returns the status code and the whole
/// answer (headers and body).
async fn raw_http(relay: &TestRelay, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(relay.http).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A refusal is a complete response on a connection the client asked to close.
    timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer}"));
    (status, answer)
}

/// An upgrade request to `/ws` with these extra header lines.
fn upgrade(extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, close\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Waits until a new session gets in, on a relay started with room for exactly one more
/// (`--max-sessions`): the sessions under test have given their place back. (The metrics
/// registry is process-wide, so in-process relays count sessions this way.)
async fn session_slot_free(relay: &TestRelay) {
    timeout(WAIT, async {
        loop {
            let mut probe = RawClient::connect_via(relay, Via::WebSocket).await;
            probe
                .send(&ClientFrame::Hello(Hello {
                    version: PROTOCOL_VERSION,
                    nick: "probe".into(),
                    token: None,
                }))
                .await;
            match probe.recv().await {
                ServerFrame::Welcome(_) => return,
                ServerFrame::Error(e) if e.code == ErrorCode::SERVER_BUSY => {}
                other => panic!("expected Welcome or SERVER_BUSY, got {other:?}"),
            }
        }
    })
    .await
    .expect("a session place free again in time");
}

/// A WebSocket to `/ws` with the ChitChat subprotocol, over `io`, nothing sent on it yet.
async fn websocket<S>(relay: &TestRelay, io: S) -> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!("ws://{}{WS_PATH}", relay.http)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(WS_SUBPROTOCOL),
    );
    client_async(request, io).await.expect("the upgrade").0
}

/// Sends `message` as the first thing on a fresh WebSocket and expects the relay to end it.
async fn ended_by_relay(relay: &TestRelay, what: &str, message: WsMessage) {
    let tcp = TcpStream::connect(relay.http).await.unwrap();
    let mut ws = websocket(relay, tcp).await;
    ws.send(message).await.unwrap();
    timeout(WAIT, async {
        // Whatever the relay sends first (its transport parameters), the socket must end.
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the relay did not end the WebSocket after {what}"));
}

/// A QMux varint (RFC 9000 section 16).
fn varint(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16383 => (0x4000 | v as u16).to_be_bytes().to_vec(),
        16384..=1_073_741_823 => (0x8000_0000 | v as u32).to_be_bytes().to_vec(),
        _ => (0xc000_0000_0000_0000 | v).to_be_bytes().to_vec(),
    }
}

/// A QMux record: empty transport parameters, then a STREAM frame on the client's
/// bidirectional stream number `n`.
fn record_opening_stream(n: u64) -> Vec<u8> {
    let mut record = varint(0x3f51_5330_0d0a_0d0a);
    record.extend(varint(0));
    record.push(0x0a); // STREAM with a length
    record.extend(varint(4 * n));
    record.extend(varint(1));
    record.push(0);
    record
}

#[tokio::test]
async fn requests_that_are_not_a_chitchat_upgrade_are_refused() {
    let relay = TestRelay::start(&[]).await;
    let (mut by, mut calm) = bystander(&relay).await;
    let cases = [
        (
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_string(),
            400,
            "not a WebSocket upgrade",
        ),
        (
            upgrade("Sec-WebSocket-Version: 13\r\n"),
            400,
            "no supported subprotocol",
        ),
        (
            upgrade("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: qmux-02, webtransport, qmux-01.chitchat-1\r\n"),
            400,
            "qmux-02.chitchat-1",
        ),
        (
            upgrade("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: qmux-02.chitchat-1\r\n"),
            426,
            "Sec-WebSocket-Version: 13",
        ),
        (
            "POST /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_string(),
            405,
            "",
        ),
    ];
    for (request, status, says) in cases {
        let (got, answer) = raw_http(&relay, &request).await;
        assert_eq!(got, status, "{request}\n---\n{answer}");
        assert!(
            answer.to_lowercase().contains(&says.to_lowercase()),
            "{answer}"
        );
    }
    still_served(&mut by, &mut calm, 2).await;
}

#[tokio::test]
async fn garbage_qmux_ends_only_its_own_session() {
    // The bystander's place and one more.
    let relay = TestRelay::start(&["--max-sessions", "2"]).await;
    let (mut by, mut calm) = bystander(&relay).await;
    // Not a QMux record at all; an unknown frame type after valid parameters.
    ended_by_relay(&relay, "garbage", WsMessage::binary(vec![0xff; 300])).await;
    let mut unknown = record_opening_stream(0);
    unknown.truncate(9);
    unknown.extend(varint(0x1234));
    ended_by_relay(&relay, "an unknown frame", WsMessage::binary(unknown)).await;
    // A message far over the record size the relay asked for is refused unread.
    ended_by_relay(&relay, "1 MiB", WsMessage::binary(vec![0; 1 << 20])).await;
    still_served(&mut by, &mut calm, 2).await;
    session_slot_free(&relay).await;
}

#[tokio::test]
async fn text_messages_are_ignored_and_a_socket_without_hello_times_out() {
    let relay = TestRelay::start(&["--max-sessions", "2", "--handshake-timeout-secs", "1"]).await;
    let (mut by, mut calm) = bystander(&relay).await;
    // QMux travels in binary messages; a text one is dropped (bounded by the message size),
    // and a socket that never opens its control stream is closed like a silent QUIC client.
    ended_by_relay(&relay, "a text message", WsMessage::text("hello")).await;
    still_served(&mut by, &mut calm, 2).await;
    session_slot_free(&relay).await;
}

#[tokio::test]
async fn a_stream_past_the_stream_limit_ends_the_session() {
    let relay = TestRelay::start(&["--max-sessions", "2"]).await;
    let (mut by, mut calm) = bystander(&relay).await;
    // The relay allows one client stream (the control stream); stream number 100000 and
    // the second stream are both over it.
    ended_by_relay(
        &relay,
        "stream 100000",
        WsMessage::binary(record_opening_stream(100_000)),
    )
    .await;
    let mut two = record_opening_stream(0);
    two.extend(&record_opening_stream(1)[9..]);
    ended_by_relay(&relay, "a second stream", WsMessage::binary(two)).await;
    still_served(&mut by, &mut calm, 2).await;
    session_slot_free(&relay).await;
}

/// A socket whose reads stop for good once `paused` is set: the client stops reading while
/// its kernel buffers fill.
struct Pausable {
    tcp: TcpStream,
    paused: Arc<AtomicBool>,
}

impl AsyncRead for Pausable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.paused.load(Ordering::Relaxed) {
            return Poll::Pending;
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pausable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_client_that_never_reads_its_socket_is_disconnected() {
    let flags = [
        "--queue-len",
        "16",
        "--msgs-per-sec",
        "1000",
        "--msgs-burst",
        "1000",
    ];
    let relay = TestRelay::start(&flags).await;
    let (mut by, mut calm) = bystander(&relay).await;
    let paused = Arc::new(AtomicBool::new(false));
    let tcp = TcpStream::connect(relay.http).await.unwrap();
    let ws = websocket(
        &relay,
        Pausable {
            tcp,
            paused: paused.clone(),
        },
    )
    .await;
    let session = qmux::ws::Upgraded::new(ws)
        .with_alpn(WS_SUBPROTOCOL)
        .with_session_config(quiet_config())
        .connect();
    let mut stalled = RawClient::from_link(Link::WebSocket(Box::new(session))).await;
    stalled.say_hello("stalled").await;
    let joined = request_join(&mut stalled, 1, "busy", None).await;
    assert!(matches!(joined, ServerFrame::Joined(_)), "{joined:?}");
    // From here on nothing is read from the socket: TCP's window and the relay's buffers
    // fill, then its room queue.
    paused.store(true, Ordering::Relaxed);
    let (mut sender, _) = RawClient::hello(&relay, "sender").await;
    let text = "x".repeat(4000);
    let mut id = 0;
    // Until the relay lets the stalled session go (SLOW_CONSUMER; its farewell cannot be
    // delivered): a probe session then gets in.
    let filled = async {
        loop {
            id += 1;
            send_text(&mut sender, id, "busy", &text).await;
        }
    };
    tokio::select! {
        _ = filled => unreachable!(),
        _ = session_slot_free(&relay) => {}
    }
    // The bystander was never held up.
    still_served(&mut by, &mut calm, 2).await;
}
