//! The relay's raw-client checks over each transport: every check is written once and run
//! over QUIC and over the WebSocket transport (QMux on the HTTP port), so frames, errors,
//! close codes and limits behave the same on both.

use chitchat_protocol::*;

use crate::support::*;

/// Makes one test per transport from a check taking a [`Via`].
macro_rules! over_both {
    ($($check:ident),* $(,)?) => {
        mod over_quic {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::Via::Quic).await
            })*
        }
        mod over_websocket {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::Via::WebSocket).await
            })*
        }
    };
}

over_both!(
    members_chat_in_a_room,
    fatal_errors_before_hello_are_told_then_closed,
    refused_hellos_are_told_then_closed,
    a_silent_session_is_told_idle_timeout,
    a_handshake_without_hello_is_told_handshake_timeout,
    a_truncated_frame_at_the_end_of_the_stream_is_bad_frame,
    typing_reaches_the_other_members_and_bad_datagrams_are_dropped,
    sends_past_the_burst_are_rate_limited,
    a_full_relay_says_server_busy,
    an_address_over_its_session_cap_is_told_too_many,
    shutdown_says_goaway_then_shutting_down,
    a_session_that_stops_reading_is_slow_consumer,
);

/// Reads the Error frame that must precede a close, then the close; both carry `code`.
async fn told_then_closed(c: &mut RawClient, code: ErrorCode) {
    let message = expect_error(c.recv().await, 0, code);
    assert!(!message.is_empty(), "the Error frame says why");
    let (closed, _) = c.closed().await;
    assert_eq!(closed, u64::from(code.0), "close code after {message}");
}

/// Reads `room` until `want`, skipping presence changes on the way (a member's own join may
/// come first); fails on a message that is not `want`.
async fn expect_event(room: &mut RoomReader, want: Event) {
    loop {
        match room.event().await {
            got if got == want => return,
            Event::Joined(_) | Event::Left(_) => {}
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
}

/// Says Hello as `nick` without waiting for the answer.
async fn say(c: &mut RawClient, version: u16, nick: &str) {
    c.send(&ClientFrame::Hello(Hello {
        version,
        nick: nick.into(),
        token: None,
    }))
    .await;
}

async fn members_chat_in_a_room(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let (mut alice, welcome) = RawClient::hello_via(&relay, via, "alice").await;
    assert_eq!(welcome.nick, "alice");
    let (mut bob, _) = RawClient::hello_via(&relay, via, "bob").await;
    let (_, mut alice_room) = join(&mut alice, 1, "lobby", None).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    expect_event(&mut alice_room, Event::Joined("bob".into())).await;
    let seq = send_text(&mut alice, 2, "lobby", "hello bob").await;
    let m = bob_room.message().await;
    assert_eq!(
        (m.seq, m.from.as_str(), m.text.as_str()),
        (seq, "alice", "hello bob")
    );
    assert_eq!(who(&mut bob, 2, "lobby").await, vec!["alice", "bob"]);
    let page = history(&mut bob, 3, "lobby", None, 10).await;
    assert_eq!(page.messages.len(), 1);
    leave(&mut bob, 4, "lobby").await;
    expect_event(
        &mut alice_room,
        Event::Said("alice".into(), "hello bob".into()),
    )
    .await;
    expect_event(&mut alice_room, Event::Left("bob".into())).await;
    // A request for a room not joined is answered, not fatal.
    expect_error(
        bob.request(ClientFrame::Who {
            id: 5,
            room: "lobby".into(),
        })
        .await,
        5,
        ErrorCode::NOT_JOINED,
    );
    assert!(matches!(
        bob.request(ClientFrame::Ping { id: 6 }).await,
        ServerFrame::Pong { id: 6, .. }
    ));
}

async fn fatal_errors_before_hello_are_told_then_closed(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let mut c = RawClient::connect_via(&relay, via).await;
    c.send(&ClientFrame::Ping { id: 1 }).await;
    told_then_closed(&mut c, ErrorCode::PROTOCOL_VIOLATION).await;

    let mut c = RawClient::connect_via(&relay, via).await;
    c.send_raw(&[0, 0, 0, 2, 42, 0]).await;
    told_then_closed(&mut c, ErrorCode::UNKNOWN_FRAME).await;

    let mut c = RawClient::connect_via(&relay, via).await;
    c.send_raw(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes())
        .await;
    told_then_closed(&mut c, ErrorCode::FRAME_TOO_LARGE).await;
}

async fn refused_hellos_are_told_then_closed(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let mut c = RawClient::connect_via(&relay, via).await;
    say(&mut c, PROTOCOL_VERSION + 1, "future").await;
    told_then_closed(&mut c, ErrorCode::UNSUPPORTED_VERSION).await;

    let mut c = RawClient::connect_via(&relay, via).await;
    say(&mut c, PROTOCOL_VERSION, "has space").await;
    told_then_closed(&mut c, ErrorCode::INVALID_NICK).await;
}

async fn a_silent_session_is_told_idle_timeout(via: Via) {
    let relay = TestRelay::start(&["--idle-timeout-secs", "1"]).await;
    let (mut silent, _) = RawClient::hello_via(&relay, via, "silent").await;
    told_then_closed(&mut silent, ErrorCode::IDLE_TIMEOUT).await;
}

async fn a_handshake_without_hello_is_told_handshake_timeout(via: Via) {
    let relay = TestRelay::start(&["--handshake-timeout-secs", "1"]).await;
    let mut c = RawClient::connect_via(&relay, via).await;
    // Half a length prefix: the control stream exists, Hello never completes.
    c.send_raw(&[0, 0]).await;
    told_then_closed(&mut c, ErrorCode::HANDSHAKE_TIMEOUT).await;
}

async fn a_truncated_frame_at_the_end_of_the_stream_is_bad_frame(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let (mut c, _) = RawClient::hello_via(&relay, via, "mallory").await;
    let frame = encode_frame(&ClientFrame::Ping { id: 7 }).unwrap();
    c.send_raw(&frame[..frame.len() - 1]).await;
    c.send.finish().unwrap();
    let (code, _) = c.closed().await;
    assert_eq!(code, u64::from(ErrorCode::BAD_FRAME.0));
}

async fn typing_reaches_the_other_members_and_bad_datagrams_are_dropped(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let (mut typist, _) = RawClient::hello_via(&relay, via, "typist").await;
    let (mut reader, _) = RawClient::hello_via(&relay, via, "reader").await;
    join(&mut typist, 1, "lobby", None).await;
    join(&mut reader, 1, "lobby", None).await;
    for bad in [&[0xff_u8, 1, 2][..], &[0, 200, 1][..]] {
        typist
            .conn
            .send_datagram(bytes::Bytes::copy_from_slice(bad))
            .expect("datagrams supported");
    }
    let typing = encode_datagram(&ClientDatagram::Typing {
        room: "lobby".into(),
    })
    .unwrap();
    typist.conn.send_datagram(typing.into()).unwrap();
    let got = tokio::time::timeout(WAIT, reader.conn.read_datagram())
        .await
        .expect("a typing datagram in time")
        .expect("datagrams readable");
    match decode_datagram::<ServerDatagram>(&got).unwrap() {
        ServerDatagram::Typing { room, nick } => {
            assert_eq!((room.as_str(), nick.as_str()), ("lobby", "typist"))
        }
    }
    // The bad datagrams ended nothing.
    send_text(&mut typist, 2, "lobby", "still here").await;
}

async fn sends_past_the_burst_are_rate_limited(via: Via) {
    let relay = TestRelay::start(&["--msgs-per-sec", "1", "--msgs-burst", "3"]).await;
    let (mut c, _) = RawClient::hello_via(&relay, via, "eager").await;
    send_burst(&mut c, "lobby", 10, "m").await;
    let mut limited = 0;
    for _ in 1..=10 {
        if let ServerFrame::Error(e) = c.recv().await {
            assert_eq!(e.code, ErrorCode::RATE_LIMITED, "{}", e.message);
            limited += 1;
        }
    }
    assert!(limited >= 6, "{limited} of 10 refused");
    assert!(matches!(
        c.request(ClientFrame::Ping { id: 11 }).await,
        ServerFrame::Pong { .. }
    ));
}

async fn a_full_relay_says_server_busy(via: Via) {
    let relay = TestRelay::start(&["--max-sessions", "1"]).await;
    let (mut first, _) = RawClient::hello_via(&relay, via, "first").await;
    let mut second = RawClient::connect_via(&relay, via).await;
    say(&mut second, PROTOCOL_VERSION, "second").await;
    told_then_closed(&mut second, ErrorCode::SERVER_BUSY).await;
    assert!(matches!(
        first.request(ClientFrame::Ping { id: 1 }).await,
        ServerFrame::Pong { .. }
    ));
}

async fn an_address_over_its_session_cap_is_told_too_many(via: Via) {
    let relay = TestRelay::start(&["--max-sessions-per-addr", "2"]).await;
    // The cap counts sessions of both transports together.
    let (_quic, _) = RawClient::hello_via(&relay, Via::Quic, "one").await;
    let (mut two, _) = RawClient::hello_via(&relay, via, "two").await;
    let mut over = RawClient::connect_via(&relay, via).await;
    say(&mut over, PROTOCOL_VERSION, "three").await;
    told_then_closed(&mut over, ErrorCode::TOO_MANY_FROM_ADDRESS).await;
    assert!(matches!(
        two.request(ClientFrame::Ping { id: 1 }).await,
        ServerFrame::Pong { .. }
    ));
}

async fn shutdown_says_goaway_then_shutting_down(via: Via) {
    let mut relay = TestRelay::start(&["--drain-secs", "1"]).await;
    let (mut c, _) = RawClient::hello_via(&relay, via, "c").await;
    send_text(&mut c, 1, "keep", "stored").await;
    let stopping = relay.begin_shutdown();
    assert!(matches!(c.recv().await, ServerFrame::GoAway { .. }));
    assert_eq!(c.closed().await.0, u64::from(ErrorCode::SHUTTING_DOWN.0));
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stopped in time")
        .unwrap()
        .unwrap();
}

async fn a_session_that_stops_reading_is_slow_consumer(via: Via) {
    // Room queues of 4 messages, and no rate limit in the sender's way.
    let flags = "--queue-len 4 --msgs-per-sec 1000 --msgs-burst 1000";
    let relay = TestRelay::start(&flags.split(' ').collect::<Vec<_>>()).await;
    // Tiny room stream windows, and the room stream is never read.
    let mut stalled = RawClient::connect_via_with(&relay, via, 512).await;
    stalled.say_hello("stalled").await;
    let joined = request_join(&mut stalled, 1, "busy", None).await;
    assert!(matches!(joined, ServerFrame::Joined(_)), "{joined:?}");
    let (mut sender, _) = RawClient::hello_via(&relay, via, "sender").await;
    for id in 1..=100 {
        send_text(&mut sender, id, "busy", &format!("{id:0>100}")).await;
    }
    let message = expect_error(stalled.recv().await, 0, ErrorCode::SLOW_CONSUMER);
    assert!(message.contains("resume"), "{message}");
    let (code, _) = stalled.closed().await;
    assert_eq!(code, u64::from(ErrorCode::SLOW_CONSUMER.0));
    // The sender was not held up.
    send_text(&mut sender, 101, "busy", "done").await;
}

/// A QUIC member and a WebSocket member of one room see each other, their messages and
/// their typing.
#[tokio::test]
async fn quic_and_websocket_members_chat_together() {
    let relay = TestRelay::start(&[]).await;
    let (mut q, _) = RawClient::hello_via(&relay, Via::Quic, "quic").await;
    let (mut w, _) = RawClient::hello_via(&relay, Via::WebSocket, "web").await;
    let (_, mut q_room) = join(&mut q, 1, "lobby", None).await;
    let (_, mut w_room) = join(&mut w, 1, "lobby", None).await;
    expect_event(&mut q_room, Event::Joined("web".into())).await;
    send_text(&mut q, 2, "lobby", "from quic").await;
    send_text(&mut w, 2, "lobby", "from the web").await;
    for room in [&mut q_room, &mut w_room] {
        assert_eq!(room.message().await.text, "from quic");
        assert_eq!(room.message().await.text, "from the web");
    }
    let typing = encode_datagram(&ClientDatagram::Typing {
        room: "lobby".into(),
    })
    .unwrap();
    w.conn.send_datagram(typing.into()).unwrap();
    let got = tokio::time::timeout(WAIT, q.conn.read_datagram())
        .await
        .expect("typing in time")
        .unwrap();
    assert!(matches!(
        decode_datagram::<ServerDatagram>(&got).unwrap(),
        ServerDatagram::Typing { nick, .. } if nick == "web"
    ));
}
