//! Conformance cases on send ids: a publish repeating a remembered `(room, sender, send_id)`
//! gets the stored message back and stores and delivers nothing new.

use super::*;

fn with_id(room: &str, from: &str, text: &str, send_id: u64) -> NewMessage {
    NewMessage {
        send_id: Some(send_id),
        ..new_message(room, from, text)
    }
}

async fn publish_with_id(
    broker: &dyn Broker,
    room: &str,
    from: &str,
    text: &str,
    send_id: u64,
) -> Message {
    broker
        .publish(with_id(room, from, text, send_id))
        .await
        .unwrap_or_else(|e| panic!("publishing {text:?} with send id {send_id} failed: {e}"))
}

/// A retry with the same send id returns the original message (seq, ts, text: the original
/// wins even if the retry's text differs) and stores and delivers it once; the id is
/// scoped to its room and sender, and sends without an id are never merged.
pub async fn repeated_send_id_is_stored_once(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    subscribe(&*broker, "idem").await;
    subscribe(&*broker, "other").await;

    let first = publish_with_id(&*broker, "idem", "ann", "hello", 7).await;
    let retry = publish_with_id(&*broker, "idem", "ann", "hello", 7).await;
    assert_eq!(retry, first, "a retry gets the stored message back");
    let reused = publish_with_id(&*broker, "idem", "ann", "changed", 7).await;
    assert_eq!(
        reused, first,
        "a reused id with another text: the original wins"
    );

    let bob = publish_with_id(&*broker, "idem", "bob", "bob's", 7).await;
    let plain = [
        publish(&*broker, "idem", "ann", "plain").await,
        publish(&*broker, "idem", "ann", "plain").await,
    ];
    let elsewhere = publish_with_id(&*broker, "other", "ann", "hello", 7).await;
    assert_eq!(
        (bob.seq, plain[0].seq, plain[1].seq, elsewhere.seq),
        (2, 3, 4, 1),
        "ids are per room and sender; sends without an id are all stored"
    );

    // Ids use all 64 bits.
    let big = publish_with_id(&*broker, "other", "ann", "big", u64::MAX).await;
    let big_again = publish_with_id(&*broker, "other", "ann", "big", u64::MAX).await;
    assert_eq!((big.seq, big_again), (2, big.clone()));

    let stored: Vec<(u64, String)> = read_after(&*broker, "idem", 0, 100)
        .await
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect();
    let expected = [(1, "hello"), (2, "bob's"), (3, "plain"), (4, "plain")]
        .map(|(seq, text)| (seq, text.to_owned()));
    assert_eq!(stored, expected, "the room's history holds each send once");

    // Deliveries are in seq order: once seq 4 has arrived, a repeated delivery of seq 1
    // would have arrived before it.
    let delivered = sink.wait_messages("idem", 4).await;
    assert_eq!(
        seqs(&delivered),
        [1, 2, 3, 4],
        "each send is delivered once"
    );
    assert_eq!(sink.wait_messages("other", 2).await, vec![elsewhere, big]);
}
