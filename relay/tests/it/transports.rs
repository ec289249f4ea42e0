//! The relay's raw-client checks over each transport: every check is written once and run
//! over QUIC and over the WebSocket transport (QMux on the HTTP port), so frames, errors,
//! close codes and limits behave the same on both.

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

over_both!(members_chat_in_a_room);

async fn members_chat_in_a_room(via: Via) {
    let relay = TestRelay::start(&[]).await;
    let (mut alice, welcome) = RawClient::hello_via(&relay, via, "alice").await;
    assert_eq!(welcome.nick, "alice");
    let (mut bob, _) = RawClient::hello_via(&relay, via, "bob").await;
    let (_, _alice_room) = join(&mut alice, 1, "lobby", None).await;
    let (_, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
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
}
