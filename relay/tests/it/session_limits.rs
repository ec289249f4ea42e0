//! What one session, or one source address, can make the relay do to others: requests other
//! than sends are rate limited (so Join/Leave spam cannot flood a room's members with
//! presence), new rooms and stored bytes are limited per address, and a session stalled in
//! many rooms is told once why it is closed.

use crate::support::*;
use chitchat_protocol::*;

/// Flags for a relay with small, quickly reached request limits.
const TIGHT: &[&str] = &[
    "--msgs-per-sec",
    "10",
    "--msgs-burst",
    "10",
    "--max-rooms",
    "5",
];

#[tokio::test]
async fn join_leave_spam_is_rate_limited_and_members_see_few_presence_changes() {
    const PAIRS: u32 = 300;
    let relay = TestRelay::start(TIGHT).await;
    let (mut member, _) = RawClient::hello(&relay, "member").await;
    let (_, mut stream) = join(&mut member, 1, "lobby", None).await;
    let (mut spammer, _) = RawClient::hello(&relay, "spammer").await;
    for i in 0..PAIRS {
        let room = "lobby".to_string();
        spammer
            .send(&ClientFrame::Join {
                id: 2 * i + 1,
                room: room.clone(),
                resume: None,
            })
            .await;
        spammer
            .send(&ClientFrame::Leave {
                id: 2 * i + 2,
                room,
            })
            .await;
    }
    let mut limited = 0;
    for _ in 0..2 * PAIRS {
        match spammer.recv().await {
            ServerFrame::Error(e) if e.code == ErrorCode::RATE_LIMITED => limited += 1,
            ServerFrame::Error(e) if e.code == ErrorCode::NOT_JOINED => {}
            ServerFrame::Joined(_) | ServerFrame::Left { .. } => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        limited > PAIRS,
        "most of the spam was refused ({limited} refusals)"
    );

    // A message sent after the spam marks the end of its presence changes on the stream.
    let (mut marker, _) = RawClient::hello(&relay, "marker").await;
    send_text(&mut marker, 1, "lobby", "after the spam").await;
    let mut presence = 0;
    loop {
        match stream.next().await.expect("room stream open") {
            RoomFrame::Presence { .. } => presence += 1,
            RoomFrame::Message(m) if m.text == "after the spam" => break,
            other => panic!("unexpected room frame {other:?}"),
        }
    }
    // Without the limit the member gets two changes per pair (600); with it, the burst and
    // the rate over the spam's few seconds.
    assert!(
        presence < 100,
        "the member received {presence} presence changes"
    );
    assert_eq!(
        who(&mut member, 2, "lobby").await,
        vec!["member".to_string()]
    );
}

#[tokio::test]
async fn who_and_history_floods_are_rate_limited_and_sends_go_on() {
    let relay = TestRelay::start(TIGHT).await;
    let (mut c, _) = RawClient::hello(&relay, "asker").await;
    join(&mut c, 1, "lobby", None).await;
    for id in 2..=41 {
        let frame = if id % 2 == 0 {
            ClientFrame::Who {
                id,
                room: "lobby".into(),
            }
        } else {
            ClientFrame::History {
                id,
                room: "lobby".into(),
                before: None,
                limit: 10,
            }
        };
        c.send(&frame).await;
    }
    let mut limited = 0;
    for _ in 2..=41 {
        if let ServerFrame::Error(e) = c.recv().await {
            assert_eq!(e.code, ErrorCode::RATE_LIMITED, "{}", e.message);
            limited += 1;
        }
    }
    assert!(limited >= 20, "{limited} of 40 refused");
    // Sends have their own budget.
    send_text(&mut c, 50, "lobby", "still sending").await;
}

#[tokio::test]
async fn new_rooms_are_limited_per_address_across_sessions() {
    let relay = TestRelay::start(&["--new-rooms-per-min", "3"]).await;
    let (mut a, _) = RawClient::hello(&relay, "founder").await;
    for (id, room) in ["r1", "r2", "r3"].iter().enumerate() {
        send_text(&mut a, id as u32 + 1, room, "first").await;
    }
    let refused = expect_error(
        request_send(&mut a, 4, "r4", "one too many").await,
        4,
        ErrorCode::QUOTA_EXCEEDED,
    );
    assert!(
        refused.contains("new rooms"),
        "the message names the quota: {refused}"
    );
    // Rooms that exist take messages as before.
    send_text(&mut a, 5, "r1", "second").await;
    // Another session from the same address shares the quota.
    let (mut b, _) = RawClient::hello(&relay, "accomplice").await;
    expect_error(
        request_send(&mut b, 1, "r5", "me too").await,
        1,
        ErrorCode::QUOTA_EXCEEDED,
    );
    assert_eq!(send_text(&mut b, 2, "r2", "existing").await, 2);
    // Nothing refused was stored.
    assert!(history(&mut b, 3, "r4", None, 10).await.messages.is_empty());
    assert!(history(&mut b, 4, "r5", None, 10).await.messages.is_empty());
}

#[tokio::test]
async fn stored_bytes_are_limited_per_address_across_sessions() {
    let relay = TestRelay::start(&["--stored-bytes-per-min", "1000"]).await;
    let (mut a, _) = RawClient::hello(&relay, "writer").await;
    let (mut b, _) = RawClient::hello(&relay, "cowriter").await;
    send_text(&mut a, 1, "notes", &"a".repeat(900)).await;
    let refused = expect_error(
        request_send(&mut b, 1, "notes", &"b".repeat(200)).await,
        1,
        ErrorCode::QUOTA_EXCEEDED,
    );
    assert!(
        refused.contains("bytes"),
        "the message names the quota: {refused}"
    );
    // What still fits is stored; the refused text was not.
    send_text(&mut b, 2, "notes", &"c".repeat(100)).await;
    let texts: Vec<usize> = history(&mut b, 3, "notes", None, 10)
        .await
        .messages
        .iter()
        .map(|m| m.text.len())
        .collect();
    assert_eq!(texts, vec![900, 100]);
}

#[tokio::test]
async fn a_session_stalled_in_many_rooms_is_told_once_then_closed() {
    // Room queues of 4 messages, and no rate limit in the sender's way.
    let flags = "--queue-len 4 --msgs-per-sec 1000 --msgs-burst 1000";
    let relay = TestRelay::start(&flags.split(' ').collect::<Vec<_>>()).await;
    let rooms = ["busy1", "busy2", "busy3"];
    // The stalled client's stream windows are tiny and it never reads its room streams.
    let mut stalled = RawClient::connect_with(&relay, Some(512)).await;
    stalled.say_hello("stalled").await;
    for (id, room) in rooms.iter().enumerate() {
        let joined = request_join(&mut stalled, id as u32 + 1, room, None).await;
        assert!(matches!(joined, ServerFrame::Joined(_)), "{joined:?}");
    }
    let (mut sender, _) = RawClient::hello(&relay, "sender").await;
    let mut id = 0;
    for i in 0..60u32 {
        for room in rooms {
            id += 1;
            send_text(&mut sender, id, room, &format!("{i:0>100}")).await;
        }
    }
    // The reason comes as a frame before the close: browsers may not see the close code.
    let message = expect_error(stalled.recv().await, 0, ErrorCode::SLOW_CONSUMER);
    assert!(message.contains("resume"), "{message}");
    let (code, _) = stalled.closed().await;
    assert_eq!(code, u64::from(ErrorCode::SLOW_CONSUMER.0));
    // The sender was not held up.
    send_text(&mut sender, id + 1, "busy1", "done").await;
}
