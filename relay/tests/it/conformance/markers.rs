//! Conformance case on read markers: a user's marker in a room is what any of the user's
//! sessions (on any relay) reads back, never moves backwards, never passes the room's newest
//! seq, and is kept per user and per room.

use super::*;

async fn set(broker: &dyn Broker, room: &str, user: &str, seq: u64) -> u64 {
    broker
        .set_read_marker(room, user, seq)
        .await
        .unwrap_or_else(|e| panic!("setting {user}'s marker in {room} to {seq} failed: {e}"))
}

async fn get(broker: &dyn Broker, room: &str, user: &str) -> Option<u64> {
    broker
        .read_marker(room, user)
        .await
        .unwrap_or_else(|e| panic!("reading {user}'s marker in {room} failed: {e}"))
}

/// Set and read back; never backwards; clamped to the head; per user; per room; racing
/// sets keep the highest; a reopened store still has them.
pub async fn read_markers_shared_by_a_users_sessions(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let (room, other_room) = ("marked", "marked-too");
    let (ada, bob) = ("guest:ada", "sub:bob");
    publish_many(&*broker, room, "ada", 10, |i| format!("m{i}")).await;
    publish_many(&*broker, other_room, "ada", 3, |i| format!("o{i}")).await;

    assert_eq!(get(&*broker, room, ada).await, None, "no marker yet");
    assert_eq!(set(&*broker, room, ada, 4).await, 4);
    assert_eq!(get(&*broker, room, ada).await, Some(4));

    // Never backwards: a lower seq (an older device catching up) keeps the stored one.
    assert_eq!(set(&*broker, room, ada, 2).await, 4);
    assert_eq!(set(&*broker, room, ada, 0).await, 4);
    assert_eq!(get(&*broker, room, ada).await, Some(4));
    assert_eq!(set(&*broker, room, ada, 7).await, 7);

    // Clamped to the room's newest seq, and then to the new newest.
    assert_eq!(set(&*broker, room, ada, 1_000).await, 10);
    assert_eq!(set(&*broker, room, ada, u64::MAX).await, 10);
    publish(&*broker, room, "bob", "eleven").await;
    assert_eq!(set(&*broker, room, ada, 1_000).await, 11);
    assert_eq!(
        set(&*broker, "empty-room", ada, 5).await,
        0,
        "a room without messages has nothing to mark"
    );
    assert_eq!(get(&*broker, "empty-room", ada).await, None);

    // Per user and per room.
    assert_eq!(
        get(&*broker, room, bob).await,
        None,
        "another user's is apart"
    );
    assert_eq!(set(&*broker, room, bob, 3).await, 3);
    assert_eq!(get(&*broker, room, ada).await, Some(11));
    assert_eq!(
        get(&*broker, other_room, ada).await,
        None,
        "another room's is apart"
    );
    assert_eq!(set(&*broker, other_room, ada, 2).await, 2);
    assert_eq!(get(&*broker, room, ada).await, Some(11));

    // Racing sets (two devices at once): the highest stays.
    let racers: Vec<_> = (1..=10u64)
        .map(|seq| {
            let broker = broker.clone();
            tokio::spawn(async move { broker.set_read_marker("marked", "sub:carol", seq).await })
        })
        .collect();
    for racer in racers {
        racer
            .await
            .expect("the racer runs")
            .expect("the marker is set");
    }
    assert_eq!(get(&*broker, room, "sub:carol").await, Some(10));

    // Kept by the store, not by the broker handle.
    drop(broker);
    let (again, _sink) = open(factory).await;
    assert_eq!(get(&*again, room, ada).await, Some(11));
    assert_eq!(get(&*again, room, bob).await, Some(3));
}
