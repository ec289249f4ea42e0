//! Log entries on the wire against a real relay: version-2 sessions post, edit, delete and
//! react and receive every entry; version-1 sessions keep exactly version 1's frames; bad
//! input is refused with its code and the session goes on.

use chitchat_protocol::*;

use crate::support::*;

/// A version-2 session of `nick` on `relay`.
async fn v2(relay: &TestRelay, nick: &str) -> RawClient {
    let mut c = RawClient::connect(relay).await;
    let welcome = c.say_hello_as(nick, 2).await;
    assert_eq!(welcome.version, 2, "a version-2 session");
    c
}

/// Sends `frame` (request `id`) and returns the stored seq.
async fn sent(c: &mut RawClient, id: u32, frame: ClientFrame) -> u64 {
    match c.request(frame).await {
        ServerFrame::Sent { id: got, seq, .. } if got == id => seq,
        other => panic!("expected Sent {id}, got {other:?}"),
    }
}

fn edit(id: u32, room: &str, seq: u64, text: &str) -> ClientFrame {
    ClientFrame::Edit {
        id,
        room: room.into(),
        seq,
        text: text.into(),
    }
}

fn react(id: u32, room: &str, seq: u64, emoji: &str, on: bool) -> ClientFrame {
    ClientFrame::React {
        id,
        room: room.into(),
        seq,
        emoji: emoji.into(),
        on,
    }
}

#[tokio::test]
async fn version_two_sessions_receive_every_entry_and_pages_in_latest_state() {
    let relay = TestRelay::start(&[]).await;
    let mut ann = v2(&relay, "ann").await;
    let mut bob = v2(&relay, "bob").await;
    let (_, mut stream) = join(&mut bob, 1, "lobby", None).await;

    let first = send_text(&mut ann, 1, "lobby", "hello").await;
    let reply = ClientFrame::Post {
        id: 2,
        room: "lobby".into(),
        text: "hi ann".into(),
        send_id: 9,
        reply_to: Some(first),
    };
    let answer = sent(&mut bob, 2, reply.clone()).await;
    assert_eq!(
        sent(&mut bob, 2, reply).await,
        answer,
        "a repeated send id stores once"
    );
    let edited = sent(&mut ann, 3, edit(3, "lobby", first, "hello, all")).await;
    let reacted = sent(&mut bob, 4, react(4, "lobby", first, REACTIONS[0], true)).await;
    let deleted = sent(
        &mut bob,
        5,
        ClientFrame::Delete {
            id: 5,
            room: "lobby".into(),
            seq: answer,
        },
    )
    .await;
    assert_eq!([first, answer, edited, reacted, deleted], [1, 2, 3, 4, 5]);

    let mut live = Vec::new();
    for _ in 0..5 {
        let e = stream.entry().await;
        live.push((e.seq, e.from, e.body));
    }
    assert_eq!(
        live[1].2,
        EntryBody::Text {
            text: "hi ann".into(),
            reply_to: Some(1)
        }
    );
    assert_eq!(
        live[2].2,
        EntryBody::Edit {
            target: 1,
            text: "hello, all".into()
        }
    );
    assert_eq!(live[4], (5, "bob".into(), EntryBody::Delete { target: 2 }));

    let page = match request_history(&mut ann, 6, "lobby", None, 10).await {
        ServerFrame::Entries(page) => page,
        other => panic!("a version-2 History is answered by Entries, got {other:?}"),
    };
    assert_eq!(page.messages.len(), 2);
    let (hello, tombstone) = (&page.messages[0], &page.messages[1]);
    assert_eq!(hello.text, "hello, all");
    assert!(hello.edited_ts > 0);
    assert_eq!(hello.reactions[0].nicks, ["bob"]);
    assert!(tombstone.deleted && tombstone.text.is_empty());
    assert_eq!(tombstone.reply_to, Some(1));

    // A resume from before the edit gets the changes once, in order.
    let mut late = v2(&relay, "cy").await;
    let resume = ResumePoint {
        epoch: page.epoch,
        seq: 2,
    };
    let (_, mut resumed) = join(&mut late, 1, "lobby", Some(resume)).await;
    let seqs = [0; 3];
    let mut got = Vec::new();
    for _ in seqs {
        got.push(resumed.entry().await.seq);
    }
    assert_eq!(got, [3, 4, 5]);
    let after = send_text(&mut ann, 7, "lobby", "later").await;
    assert_eq!(
        resumed.entry().await.seq,
        after,
        "then live ones, nothing twice"
    );
}

#[tokio::test]
async fn version_one_sessions_keep_version_one_frames() {
    let relay = TestRelay::start(&[]).await;
    let mut old = RawClient::connect(&relay).await;
    let welcome = old.say_hello_as("old", MIN_PROTOCOL_VERSION).await;
    assert_eq!(
        welcome.version, 1,
        "Welcome names the version the session speaks"
    );
    let (_, mut stream) = join(&mut old, 1, "mixed", None).await;
    let mut ann = v2(&relay, "ann").await;

    let first = send_text(&mut ann, 1, "mixed", "before").await;
    sent(&mut ann, 2, edit(2, "mixed", first, "edited")).await;
    sent(&mut ann, 3, react(3, "mixed", first, REACTIONS[1], true)).await;
    let after = send_text(&mut ann, 4, "mixed", "after the edit").await;

    // Texts as Message, the edit and the reaction skipped: the seqs have a gap.
    let m = stream.message().await;
    assert_eq!((m.seq, m.text.as_str()), (first, "before"));
    let m = stream.message().await;
    assert_eq!((m.seq, m.text.as_str()), (after, "after the edit"));

    // Its session keeps working: sends, history (texts as first stored), resume.
    let own = send_text(&mut old, 2, "mixed", "from v1").await;
    assert_eq!(stream.message().await.seq, own);
    let page = history(&mut old, 3, "mixed", None, 10).await;
    let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["before", "after the edit", "from v1"]);
    let mut again = RawClient::connect(&relay).await;
    again.say_hello_as("old2", 1).await;
    let resume = ResumePoint {
        epoch: page.epoch,
        seq: 0,
    };
    let (_, mut replay) = join(&mut again, 1, "mixed", Some(resume)).await;
    let replayed = [replay.message().await.seq, replay.message().await.seq];
    assert_eq!(replayed, [first, after]);

    // Version 2's frames are unknown to a version-1 session.
    old.send(&edit(4, "mixed", first, "nope")).await;
    let (code, _) = old.closed().await;
    assert_eq!(code, u64::from(ErrorCode::UNKNOWN_FRAME.0));
    // Versions outside 1..=2 are refused.
    for version in [0, PROTOCOL_VERSION + 1] {
        let mut c = RawClient::connect(&relay).await;
        c.send(&ClientFrame::Hello(Hello {
            version,
            nick: "v".into(),
            token: None,
        }))
        .await;
        expect_error(c.recv().await, 0, ErrorCode::UNSUPPORTED_VERSION);
    }
}

#[tokio::test]
async fn bad_changes_are_refused_and_the_session_goes_on() {
    let relay = TestRelay::start(&[]).await;
    let mut ann = v2(&relay, "ann").await;
    let mut bob = v2(&relay, "bob").await;
    let seq = send_text(&mut ann, 1, "bad", "mine").await;
    let cases = [
        (
            bob.request(edit(2, "bad", seq, "yours")).await,
            ErrorCode::NOT_AUTHOR,
        ),
        (
            bob.request(ClientFrame::Delete {
                id: 2,
                room: "bad".into(),
                seq,
            })
            .await,
            ErrorCode::NOT_AUTHOR,
        ),
        (
            bob.request(edit(2, "bad", 99, "x")).await,
            ErrorCode::NO_SUCH_MESSAGE,
        ),
        (
            bob.request(edit(2, "bad", seq, "")).await,
            ErrorCode::INVALID_TEXT,
        ),
        (
            ann.request(edit(2, "bad", seq, "\u{202e}x")).await,
            ErrorCode::INVALID_TEXT,
        ),
        (
            bob.request(edit(2, "Bad Room", seq, "x")).await,
            ErrorCode::INVALID_ROOM,
        ),
        (
            bob.request(react(2, "bad", seq, "🦀", true)).await,
            ErrorCode::INVALID_REQUEST,
        ),
        (
            bob.request(react(2, "bad", seq, "", true)).await,
            ErrorCode::INVALID_REQUEST,
        ),
        (
            bob.request(ClientFrame::Post {
                id: 2,
                room: "bad".into(),
                text: "re".into(),
                send_id: 0,
                reply_to: Some(99),
            })
            .await,
            ErrorCode::NO_SUCH_MESSAGE,
        ),
    ];
    for (answer, code) in cases {
        expect_error(answer, 2, code);
    }
    let long = "x".repeat(5000);
    expect_error(
        ann.request(edit(3, "bad", seq, &long)).await,
        3,
        ErrorCode::TEXT_TOO_LONG,
    );
    // Nothing was stored, and both sessions go on.
    let page = match request_history(&mut ann, 4, "bad", None, 10).await {
        ServerFrame::Entries(page) => page,
        other => panic!("expected Entries, got {other:?}"),
    };
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].text, "mine");
    assert_eq!(send_text(&mut bob, 5, "bad", "still here").await, seq + 1);
}
