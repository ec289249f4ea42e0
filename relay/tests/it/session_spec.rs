//! docs/protocol.md's session decisions, each on the wire: what closes a session and what is
//! said before the close, which code a bad room name gets, what a join is needed for, and
//! that datagrams never end a session.

use std::time::Duration;

use crate::support::*;
use chitchat_protocol::*;

/// Reads the Error frame that must precede a close, then the close; both carry `code`.
async fn told_then_closed(c: &mut RawClient, code: ErrorCode) {
    let message = expect_error(c.recv().await, 0, code);
    assert!(!message.is_empty(), "the Error frame says why");
    let (closed, _) = c.closed().await;
    assert_eq!(closed, u64::from(code.0));
}

#[tokio::test]
async fn a_silent_session_is_told_idle_timeout_then_closed() {
    let relay = TestRelay::start(&["--idle-timeout-secs", "1"]).await;
    let (mut silent, _) = RawClient::hello(&relay, "silent").await;
    told_then_closed(&mut silent, ErrorCode::IDLE_TIMEOUT).await;
}

#[tokio::test]
async fn a_session_that_pings_is_not_idle() {
    let relay = TestRelay::start(&["--idle-timeout-secs", "1"]).await;
    let (mut talker, _) = RawClient::hello(&relay, "talker").await;
    for id in 1..=12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(matches!(
            talker.request(ClientFrame::Ping { id }).await,
            ServerFrame::Pong { .. }
        ));
    }
}

#[tokio::test]
async fn fatal_errors_before_hello_come_as_an_error_frame_first() {
    let relay = TestRelay::start(&[]).await;
    let mut c = RawClient::connect(&relay).await;
    c.send(&ClientFrame::Ping { id: 1 }).await;
    told_then_closed(&mut c, ErrorCode::PROTOCOL_VIOLATION).await;

    let mut c = RawClient::connect(&relay).await;
    c.send(&ClientFrame::Join {
        id: 1,
        room: "lobby".into(),
        resume: None,
    })
    .await;
    told_then_closed(&mut c, ErrorCode::PROTOCOL_VIOLATION).await;

    let mut c = RawClient::connect(&relay).await;
    c.send_raw(&[0, 0, 0, 2, 42, 0]).await;
    told_then_closed(&mut c, ErrorCode::UNKNOWN_FRAME).await;

    let mut c = RawClient::connect(&relay).await;
    c.send_raw(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes())
        .await;
    told_then_closed(&mut c, ErrorCode::FRAME_TOO_LARGE).await;
}

#[tokio::test]
async fn a_handshake_timeout_with_the_control_stream_open_is_told() {
    let relay = TestRelay::start(&["--handshake-timeout-secs", "1"]).await;
    let mut c = RawClient::connect(&relay).await;
    // Half a length prefix: the control stream exists, Hello never completes.
    c.send_raw(&[0, 0]).await;
    told_then_closed(&mut c, ErrorCode::HANDSHAKE_TIMEOUT).await;
}

#[tokio::test]
async fn leave_and_who_of_a_bad_room_name_are_invalid_room() {
    let relay = TestRelay::start(&[]).await;
    let (mut c, _) = RawClient::hello(&relay, "ada").await;
    // A bad name is INVALID_ROOM; a good name of a room not joined is still NOT_JOINED.
    let cases = [
        ("no such/room", ErrorCode::INVALID_ROOM),
        ("-x", ErrorCode::INVALID_ROOM),
        ("elsewhere", ErrorCode::NOT_JOINED),
    ];
    for (id, (room, code)) in (1..).zip(cases) {
        let room = room.to_string();
        let leave = ClientFrame::Leave {
            id,
            room: room.clone(),
        };
        expect_error(c.request(leave).await, id, code);
        let who = ClientFrame::Who { id: id + 10, room };
        expect_error(c.request(who).await, id + 10, code);
    }
}

#[tokio::test]
async fn send_needs_no_join_and_members_receive_it() {
    let relay = TestRelay::start(&[]).await;
    let (mut reader, _) = RawClient::hello(&relay, "reader").await;
    let (_, mut stream) = join(&mut reader, 1, "news", None).await;
    let (mut publisher, _) = RawClient::hello(&relay, "publisher").await;
    let seq = send_text(&mut publisher, 1, "news", "extra extra").await;
    let m = stream.message().await;
    assert_eq!(
        (m.seq, m.from.as_str(), m.text.as_str()),
        (seq, "publisher", "extra extra")
    );
}

#[tokio::test]
async fn bad_datagrams_are_dropped_and_the_session_goes_on() {
    let relay = TestRelay::start(&[]).await;
    let (mut c, _) = RawClient::hello(&relay, "noisy").await;
    join(&mut c, 1, "lobby", None).await;
    for bad in [&[0xff_u8, 1, 2][..], &[0, 200, 1][..], &[7; 900][..]] {
        c.conn
            .send_datagram(bytes::Bytes::copy_from_slice(bad))
            .expect("datagrams supported");
    }
    // Typing for a room not joined is dropped too.
    let typing = encode_datagram(&ClientDatagram::Typing {
        room: "elsewhere".into(),
    })
    .unwrap();
    c.conn.send_datagram(typing.into()).unwrap();
    for id in 2..=4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            c.request(ClientFrame::Ping { id }).await,
            ServerFrame::Pong { .. }
        ));
    }
}
