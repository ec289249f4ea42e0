//! The text and nick rules against a real relay: bidi controls and invisible texts are
//! refused with `INVALID_TEXT` and nothing reaches the room or its history; non-NFKC and
//! mixed-script nicks are refused at `Hello`; a nick that looks like a present member's is
//! refused at `Join`, and the member and the room are untouched.

use chitchat_protocol::*;

use crate::support::*;

#[tokio::test]
async fn bidi_and_invisible_texts_are_refused_and_never_reach_the_room() {
    let relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    let (_, mut bob_stream) = join(&mut bob, 1, "lobby", None).await;

    let cases = [
        "evil\u{202E}txt.exe",
        "\u{2066}isolated\u{2069}",
        "\u{200B}\u{200D}\u{FEFF}",
        " \u{2060}\n\u{3164}",
    ];
    for (id, text) in (1..).zip(cases) {
        let message = expect_error(
            request_send(&mut ada, id, "lobby", text).await,
            id,
            ErrorCode::INVALID_TEXT,
        );
        assert!(!message.is_empty());
    }
    // The session goes on; the next message is the room's first, and the only one stored.
    assert_eq!(send_text(&mut ada, 10, "lobby", "plain").await, 1);
    let got = bob_stream.message().await;
    assert_eq!((got.seq, got.text.as_str()), (1, "plain"));
    let page = history(&mut bob, 2, "lobby", None, 100).await;
    assert_eq!(page.messages.len(), 1);
}

#[tokio::test]
async fn fullwidth_and_mixed_script_nicks_are_refused_at_hello() {
    let relay = TestRelay::start(&[]).await;
    for nick in ["\u{FF41}\u{FF44}\u{FF4D}\u{FF49}\u{FF4E}", "\u{430}dmin"] {
        let mut c = RawClient::connect(&relay).await;
        c.send(&ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            nick: nick.into(),
            token: None,
        }))
        .await;
        expect_error(c.recv().await, 0, ErrorCode::INVALID_NICK);
    }
    // Others are unaffected.
    let (mut ada, _) = RawClient::hello(&relay, "admin").await;
    assert_eq!(send_text(&mut ada, 1, "lobby", "hi").await, 1);
}

#[tokio::test]
async fn a_look_alike_of_a_present_member_cannot_join_the_room() {
    let relay = TestRelay::start(&[]).await;
    let (mut ace, _) = RawClient::hello(&relay, "ace").await;
    let (_, mut ace_stream) = join(&mut ace, 1, "lobby", None).await;

    // Cyrillic а, с, е: one script, a valid nick, and the same skeleton as "ace".
    let (mut impostor, _) = RawClient::hello(&relay, "\u{430}\u{441}\u{435}").await;
    let message = expect_error(
        request_join(&mut impostor, 1, "lobby", None).await,
        1,
        ErrorCode::NICK_LOOKALIKE,
    );
    assert!(message.contains("looks like"), "{message}");
    // Not fatal: the impostor's session goes on elsewhere; the room never saw it.
    join(&mut impostor, 2, "elsewhere", None).await;
    assert_eq!(who(&mut ace, 2, "lobby").await, ["ace"]);
    // The same nick in a second session is the same person and joins.
    let (mut ace2, _) = RawClient::hello(&relay, "ace").await;
    join(&mut ace2, 1, "lobby", None).await;
    assert_eq!(send_text(&mut ace2, 2, "lobby", "me again").await, 1);
    assert_eq!(ace_stream.message().await.text, "me again");
}
