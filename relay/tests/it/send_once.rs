//! `SendOnce` over real QUIC against an in-process relay on a real SQLite file: a repeated
//! send id is answered with the original `Sent`, stores nothing and delivers nothing new;
//! a reused id with another text keeps the original; another sender's same id is its own.

use chitchat_protocol::*;

use crate::support::*;

async fn send_once(c: &mut RawClient, id: u32, room: &str, text: &str, send_id: u64) -> Sent {
    match c
        .request(ClientFrame::SendOnce {
            id,
            room: room.into(),
            text: text.into(),
            send_id,
        })
        .await
    {
        ServerFrame::Sent {
            id: got,
            epoch,
            seq,
            ts,
            ..
        } => {
            assert_eq!(got, id);
            Sent { epoch, seq, ts }
        }
        other => panic!("expected Sent for send id {send_id}, got {other:?}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Sent {
    epoch: u64,
    seq: u64,
    ts: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_send_id_is_answered_with_the_original_and_stored_once() {
    let relay = TestRelay::start(&[]).await;
    let (mut ann, _) = RawClient::hello(&relay, "ann").await;
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    let (_, mut stream) = join(&mut bob, 1, "idem", None).await;

    let first = send_once(&mut ann, 1, "idem", "once", 99).await;
    let retry = send_once(&mut ann, 2, "idem", "once", 99).await;
    assert_eq!(retry, first, "the retry is answered with the original Sent");
    let reused = send_once(&mut ann, 3, "idem", "another text", 99).await;
    assert_eq!(reused, first, "a reused id: the original wins");
    let bobs = send_once(&mut bob, 2, "idem", "bob's", 99).await;
    let plain = send_once(&mut ann, 4, "idem", "no id", 0).await;
    let plain_again = send_once(&mut ann, 5, "idem", "no id", 0).await;
    assert_eq!(
        [bobs.seq, plain.seq, plain_again.seq],
        [first.seq + 1, first.seq + 2, first.seq + 3],
        "other senders' ids are their own; send id 0 is no id"
    );

    let page = history(&mut bob, 3, "idem", None, 50).await;
    let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["once", "bob's", "no id", "no id"], "stored once");
    // The room stream is in seq order: a second delivery of the first would come second.
    let delivered: Vec<u64> = [
        stream.message().await,
        stream.message().await,
        stream.message().await,
        stream.message().await,
    ]
    .iter()
    .map(|m| m.seq)
    .collect();
    assert_eq!(delivered, [1, 2, 3, 4], "delivered once");
}
