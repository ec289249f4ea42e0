//! Hostile and broken input over real QUIC: every case gets an error frame with a code, or a
//! connection close with a code for framing errors; the relay keeps serving other clients,
//! and nothing stored is lost.

use crate::support::*;
use chitchat_protocol::*;

/// A bystander that joined `room` before the abuse and must be unaffected by it.
struct Bystander {
    client: RawClient,
    stream: RoomReader,
}

async fn bystander(relay: &TestRelay) -> Bystander {
    let (mut client, _) = RawClient::hello(relay, "bystander").await;
    let (_, stream) = join(&mut client, 1, "calm", None).await;
    Bystander { client, stream }
}

impl Bystander {
    /// The bystander can still send, and receives its own message.
    async fn still_served(&mut self, id: u32) {
        let seq = send_text(&mut self.client, id, "calm", &format!("still here {id}")).await;
        let m = self.stream.message().await;
        assert_eq!(
            (m.seq, m.text.as_str()),
            (seq, format!("still here {id}").as_str())
        );
    }
}

/// Stores a message first, and checks after the abuse that history still has it.
async fn history_intact(relay: &TestRelay, expect: &[&str]) {
    let (mut c, _) = RawClient::hello(relay, "auditor").await;
    let page = history(&mut c, 9, "calm", None, 100).await;
    let texts: Vec<_> = page.messages.iter().map(|m| m.text.as_str()).collect();
    for e in expect {
        assert!(texts.contains(e), "{e} missing from {texts:?}");
    }
}

async fn expect_close(raw: &[u8], code: ErrorCode) {
    let relay = TestRelay::start(&[]).await;
    let mut by = bystander(&relay).await;
    by.still_served(2).await;
    let (mut bad, _) = RawClient::hello(&relay, "mallory").await;
    bad.send_raw(raw).await;
    let (got, reason) = bad.closed().await;
    assert_eq!(got, u64::from(code.0), "closed with {reason}");
    assert!(!reason.is_empty(), "the close says why");
    by.still_served(3).await;
    history_intact(&relay, &["still here 2", "still here 3"]).await;
}

/// `body` behind a frame header that claims `len` bytes.
fn length_prefixed(len: usize, body: &[u8]) -> Vec<u8> {
    let mut raw = (len as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(body);
    raw
}

#[tokio::test]
async fn length_over_the_limit_closes_with_frame_too_large() {
    let raw = length_prefixed(MAX_FRAME_LEN + 1, &[3; 64]);
    expect_close(&raw, ErrorCode::FRAME_TOO_LARGE).await;
}

#[tokio::test]
async fn unknown_frame_type_closes_with_unknown_frame() {
    expect_close(&[0, 0, 0, 2, 42, 0], ErrorCode::UNKNOWN_FRAME).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_invalid_utf8() {
    // Send { id: 1, room: "calm", text: [0xff, 0xfe] }
    let body = [3u8, 1, 4, b'c', b'a', b'l', b'm', 2, 0xff, 0xfe];
    expect_close(&length_prefixed(body.len(), &body), ErrorCode::INVALID_UTF8).await;
}

#[tokio::test]
async fn malformed_body_closes_with_bad_frame() {
    // Ping whose id is a varint cut short.
    expect_close(&[0, 0, 0, 2, 6, 252], ErrorCode::BAD_FRAME).await;
}

#[tokio::test]
async fn truncated_frame_at_end_of_stream_closes_with_bad_frame() {
    let relay = TestRelay::start(&[]).await;
    let mut by = bystander(&relay).await;
    let (mut bad, _) = RawClient::hello(&relay, "mallory").await;
    let frame = encode_frame(&ClientFrame::Ping { id: 7 }).unwrap();
    bad.send_raw(&frame[..frame.len() - 1]).await;
    bad.send.finish().unwrap();
    let (code, _) = bad.closed().await;
    assert_eq!(code, u64::from(ErrorCode::BAD_FRAME.0));
    by.still_served(2).await;
}

#[tokio::test]
async fn anything_before_hello_is_a_protocol_violation() {
    let relay = TestRelay::start(&[]).await;
    let mut c = RawClient::connect(&relay).await;
    c.send(&ClientFrame::Ping { id: 1 }).await;
    let (code, _) = c.closed().await;
    assert_eq!(code, u64::from(ErrorCode::PROTOCOL_VIOLATION.0));
}

#[tokio::test]
async fn wrong_version_and_bad_nick_are_refused_with_a_reason() {
    let relay = TestRelay::start(&[]).await;
    let mut c = RawClient::connect(&relay).await;
    c.send(&ClientFrame::Hello(Hello {
        version: 99,
        nick: "ada".into(),
        token: None,
    }))
    .await;
    expect_error(c.recv().await, 0, ErrorCode::UNSUPPORTED_VERSION);
    assert_eq!(
        c.closed().await.0,
        u64::from(ErrorCode::UNSUPPORTED_VERSION.0)
    );

    let mut c = RawClient::connect(&relay).await;
    c.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        nick: "a b".into(),
        token: None,
    }))
    .await;
    expect_error(c.recv().await, 0, ErrorCode::INVALID_NICK);
    assert_eq!(c.closed().await.0, u64::from(ErrorCode::INVALID_NICK.0));
}

#[tokio::test]
async fn silent_client_is_closed_with_handshake_timeout() {
    let relay = TestRelay::start(&["--handshake-timeout-secs", "1"]).await;
    let c = RawClient::connect(&relay).await;
    let (code, _) = c.closed().await;
    assert_eq!(code, u64::from(ErrorCode::HANDSHAKE_TIMEOUT.0));
}

#[tokio::test]
async fn bad_room_names_and_texts_get_error_frames_and_the_session_goes_on() {
    let relay = TestRelay::start(&[]).await;
    let mut by = bystander(&relay).await;
    let (mut c, welcome) = RawClient::hello(&relay, "mallory").await;
    assert_eq!(welcome.limits.max_text_bytes, 4096);

    let r = request_join(&mut c, 1, "", None).await;
    expect_error(r, 1, ErrorCode::INVALID_ROOM);
    let r = request_join(&mut c, 2, &"r".repeat(65), None).await;
    expect_error(r, 2, ErrorCode::INVALID_ROOM);
    let r = request_send(&mut c, 3, "calm", &"x".repeat(100_000)).await;
    let message = expect_error(r, 3, ErrorCode::TEXT_TOO_LONG);
    assert!(message.contains("4096"), "{message}");
    let r = request_send(&mut c, 4, "calm", "   ").await;
    expect_error(r, 4, ErrorCode::INVALID_TEXT);
    let r = c
        .request(ClientFrame::Leave {
            id: 5,
            room: "nowhere".into(),
        })
        .await;
    expect_error(r, 5, ErrorCode::NOT_JOINED);
    let r = request_history(&mut c, 6, "calm", None, 0).await;
    expect_error(r, 6, ErrorCode::INVALID_REQUEST);

    // Still a working session, and nothing invalid was stored or delivered.
    assert!(matches!(
        c.request(ClientFrame::Ping { id: 7 }).await,
        ServerFrame::Pong { id: 7, .. }
    ));
    by.still_served(8).await;
    let (joined, _) = join(&mut c, 9, "calm", None).await;
    assert_eq!(joined.last_seq, 1, "only the bystander's message is stored");
}

#[tokio::test]
async fn flood_past_the_rate_limit_is_refused_and_the_rest_is_stored() {
    let relay = TestRelay::start(&["--msgs-per-sec", "5", "--msgs-burst", "10"]).await;
    let mut by = bystander(&relay).await;
    let (mut c, _) = RawClient::hello(&relay, "flooder").await;
    let total = 40u32;
    send_burst(&mut c, "flood", total, "m").await;
    let (mut stored, mut limited) = (Vec::new(), 0);
    for _ in 0..total {
        match c.recv().await {
            ServerFrame::Sent { seq, .. } => stored.push(seq),
            ServerFrame::Error(e) if e.code == ErrorCode::RATE_LIMITED => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited > 0, "the flood was limited");
    assert!(
        stored.len() >= 10,
        "the burst went through: {}",
        stored.len()
    );
    stored.sort();
    assert_eq!(
        stored,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "stored gapless"
    );
    by.still_served(2).await;
    // History holds exactly what was acknowledged.
    let page = history(&mut c, 99, "flood", None, 100).await;
    assert_eq!(page.messages.len(), stored.len());
}

#[tokio::test]
async fn too_many_rooms_is_refused() {
    let relay = TestRelay::start(&["--max-rooms", "2"]).await;
    let (mut c, _) = RawClient::hello(&relay, "joiner").await;
    let _a = join(&mut c, 1, "a", None).await;
    let _b = join(&mut c, 2, "b", None).await;
    let r = request_join(&mut c, 3, "c", None).await;
    expect_error(r, 3, ErrorCode::TOO_MANY_ROOMS);
}

#[tokio::test]
async fn sessions_over_the_limit_are_closed_with_server_busy() {
    let relay = TestRelay::start(&["--max-sessions", "2"]).await;
    let (_a, _) = RawClient::hello(&relay, "a").await;
    let (mut b, _) = RawClient::hello(&relay, "b").await;
    let c = RawClient::connect(&relay).await;
    assert_eq!(c.closed().await.0, u64::from(ErrorCode::SERVER_BUSY.0));
    assert!(matches!(
        b.request(ClientFrame::Ping { id: 1 }).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn a_consumer_that_stops_reading_is_disconnected_and_others_are_not() {
    let relay = TestRelay::start(&[
        "--queue-len",
        "4",
        "--msgs-per-sec",
        "1000",
        "--msgs-burst",
        "1000",
    ])
    .await;
    // The stalled client's room stream window is tiny and it never reads it.
    let mut stalled = RawClient::connect_with(&relay, Some(512)).await;
    stalled.say_hello("stalled").await;
    let joined = request_join(&mut stalled, 1, "busy", None).await;
    assert!(matches!(joined, ServerFrame::Joined(_)));
    let (mut reader, _) = RawClient::hello(&relay, "reader").await;
    let (_, mut stream) = join(&mut reader, 1, "busy", None).await;
    let (mut sender, _) = RawClient::hello(&relay, "sender").await;
    let mut last = 0;
    for i in 0..200u32 {
        last = send_text(&mut sender, i + 1, "busy", &format!("{i:0>100}")).await;
    }
    let (code, reason) = stalled.closed().await;
    assert_eq!(code, u64::from(ErrorCode::SLOW_CONSUMER.0), "{reason}");
    for expected in 1..=last {
        assert_eq!(stream.message().await.seq, expected);
    }
}
