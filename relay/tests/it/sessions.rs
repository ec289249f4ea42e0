//! Session behaviour over real QUIC against an in-process relay with a real SQLite store:
//! fan-out, resume without gap or duplicate, epochs, presence, history paging, shutdown.

use crate::support::*;
use chitchat_protocol::*;

#[tokio::test]
async fn every_member_gets_every_message_in_seq_order() {
    let relay = TestRelay::start(&["--msgs-per-sec", "1000", "--msgs-burst", "1000"]).await;
    let (mut a, _) = RawClient::hello(&relay, "a").await;
    let (mut b, _) = RawClient::hello(&relay, "b").await;
    let (_, mut sa) = join(&mut a, 1, "lobby", None).await;
    let (_, mut sb) = join(&mut b, 1, "lobby", None).await;
    // The sender is not a member: sending does not require joining.
    let (mut s, _) = RawClient::hello(&relay, "s").await;
    send_burst(&mut s, "lobby", 100, "m").await;
    for i in 1..=100u64 {
        for stream in [&mut sa, &mut sb] {
            let m = stream.message().await;
            assert_eq!(
                (m.seq, m.text.clone(), m.from.as_str()),
                (i, format!("m{i}"), "s")
            );
        }
    }
}

#[tokio::test]
async fn resume_sends_what_was_missed_then_live_each_once() {
    let relay = TestRelay::start(&[]).await;
    let (mut w, _) = RawClient::hello(&relay, "writer").await;
    for i in 1..=5 {
        send_text(&mut w, i, "r", &format!("old{i}")).await;
    }
    let (mut c, _) = RawClient::hello(&relay, "reader").await;
    let (joined, mut stream) = join(&mut c, 1, "r", Some(ResumePoint { epoch: 0, seq: 2 })).await;
    assert_eq!(
        (joined.resume, joined.last_seq),
        (ResumeOutcome::Resumed, 5)
    );
    send_text(&mut w, 6, "r", "new6").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(stream.message().await.seq);
    }
    assert_eq!(got, vec![3, 4, 5, 6]);

    // Resuming with the right epoch behaves the same; a wrong epoch says so and sends all.
    let (mut d, _) = RawClient::hello(&relay, "other").await;
    let (joined, mut stream) = join(
        &mut d,
        1,
        "r",
        Some(ResumePoint {
            epoch: joined.epoch + 1,
            seq: 4,
        }),
    )
    .await;
    assert_eq!(joined.resume, ResumeOutcome::EpochChanged);
    for expected in 1..=6 {
        assert_eq!(stream.message().await.seq, expected);
    }
}

#[tokio::test]
async fn live_join_gets_only_new_messages_and_history_pages_backwards() {
    let relay = TestRelay::start(&["--msgs-per-sec", "1000", "--msgs-burst", "1000"]).await;
    let (mut w, _) = RawClient::hello(&relay, "writer").await;
    send_burst(&mut w, "big", 250, "t").await;
    for _ in 1..=250 {
        assert!(matches!(w.recv().await, ServerFrame::Sent { .. }));
    }
    let (mut c, _) = RawClient::hello(&relay, "c").await;
    let (joined, mut stream) = join(&mut c, 1, "big", None).await;
    assert_eq!((joined.resume, joined.last_seq), (ResumeOutcome::Live, 250));
    send_text(&mut w, 999, "big", "fresh").await;
    assert_eq!(stream.message().await.seq, 251);

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = history(&mut c, 2, "big", before, 100).await;
        assert!(page.messages.len() <= 100);
        let first = page.messages.first().map(|m| m.seq);
        seen.splice(0..0, page.messages.into_iter().map(|m| m.seq));
        if !page.more {
            break;
        }
        before = first;
    }
    assert_eq!(seen, (1..=251).collect::<Vec<u64>>());
}

#[tokio::test]
async fn members_see_joins_and_leaves_and_who_lists_them() {
    let relay = TestRelay::start(&[]).await;
    let (mut a, _) = RawClient::hello(&relay, "ada").await;
    let (joined, mut sa) = join(&mut a, 1, "p", None).await;
    assert_eq!(joined.members, vec!["ada"]);
    let (mut b, _) = RawClient::hello(&relay, "bob").await;
    let (joined, _sb) = join(&mut b, 1, "p", None).await;
    assert_eq!(joined.members, vec!["ada", "bob"]);
    // ada's own join may come first on her stream; bob's join follows.
    loop {
        match sa.next().await.unwrap() {
            RoomFrame::Presence { nick, joined: true } if nick == "bob" => break,
            RoomFrame::Presence { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    match a
        .request(ClientFrame::Who {
            id: 2,
            room: "p".into(),
        })
        .await
    {
        ServerFrame::Members { members, .. } => assert_eq!(members, vec!["ada", "bob"]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        b.request(ClientFrame::Leave {
            id: 2,
            room: "p".into()
        })
        .await,
        ServerFrame::Left { .. }
    ));
    assert_eq!(
        sa.next().await,
        Some(RoomFrame::Presence {
            nick: "bob".into(),
            joined: false
        })
    );
    drop(b);
    match a
        .request(ClientFrame::Who {
            id: 3,
            room: "p".into(),
        })
        .await
    {
        ServerFrame::Members { members, .. } => assert_eq!(members, vec!["ada"]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shutdown_says_goaway_then_closes_and_history_survives_a_restart() {
    let mut relay = TestRelay::start(&["--drain-secs", "1"]).await;
    let (mut c, _) = RawClient::hello(&relay, "c").await;
    let seq = send_text(&mut c, 1, "keep", "survives").await;
    let epoch = match request_join(&mut c, 2, "keep", None).await {
        ServerFrame::Joined(j) => j.epoch,
        other => panic!("{other:?}"),
    };
    let stopping = relay.begin_shutdown();
    assert!(matches!(c.recv().await, ServerFrame::GoAway { .. }));
    assert_eq!(c.closed().await.0, u64::from(ErrorCode::SHUTTING_DOWN.0));
    tokio::time::timeout(WAIT, stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let dir = std::mem::replace(&mut relay.dir, tempfile::tempdir().unwrap());
    drop(relay);
    let relay = TestRelay::start_in(dir, &[]).await;
    let (mut c, _) = RawClient::hello(&relay, "c").await;
    let (joined, mut stream) = join(&mut c, 1, "keep", Some(ResumePoint { epoch, seq: 0 })).await;
    assert_eq!(
        (joined.epoch, joined.resume),
        (epoch, ResumeOutcome::Resumed)
    );
    let m = stream.message().await;
    assert_eq!((m.seq, m.text.as_str()), (seq, "survives"));
    assert_eq!(
        send_text(&mut c, 2, "keep", "next").await,
        seq + 1,
        "numbering continues"
    );
}
