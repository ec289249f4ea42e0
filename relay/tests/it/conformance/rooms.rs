//! Conformance case on room records: created once (racing creators get one record), read
//! back, changed, kept across a reopen, and listed in the directory in name order, public and
//! unarchived only, searched by name and topic, paged with a cursor.

use chitchat_relay::broker::{RoomChange, RoomPage, RoomRecord};

use super::*;

fn record(name: &str, topic: &str, private: bool, by: &str) -> RoomRecord {
    RoomRecord {
        name: name.into(),
        topic: topic.into(),
        private,
        archived: false,
        created_ms: 1_700_000_000_000,
        created_by: by.into(),
    }
}

async fn create(broker: &dyn Broker, r: RoomRecord) -> (RoomRecord, bool) {
    let name = r.name.clone();
    broker
        .create_room(r)
        .await
        .unwrap_or_else(|e| panic!("creating {name} failed: {e}"))
}

async fn list(broker: &dyn Broker, search: &str, after: Option<&str>, limit: usize) -> RoomPage {
    broker
        .list_rooms(search, after, limit)
        .await
        .unwrap_or_else(|e| panic!("listing rooms failed: {e}"))
}

fn names(page: &RoomPage) -> Vec<&str> {
    page.rooms.iter().map(|r| r.name.as_str()).collect()
}

pub async fn room_records_are_created_once_and_listed(factory: &dyn StoreFactory) {
    let (broker, _sink) = open(factory).await;
    let lobby = record("lobby", "Say hi", false, "ada");
    assert_eq!(create(&*broker, lobby.clone()).await, (lobby.clone(), true));
    let again = create(&*broker, record("lobby", "Another topic", true, "bob")).await;
    assert_eq!(again, (lobby.clone(), false), "the first record stays");

    // Racing creators: one record, one winner.
    let racers: Vec<_> = (0..8)
        .map(|i| broker.create_room(record("race", &format!("t{i}"), false, &format!("n{i}"))))
        .collect();
    let results: Vec<_> = join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results.iter().filter(|(_, made)| *made).count(), 1);
    assert!(results.windows(2).all(|w| w[0].0 == w[1].0), "{results:?}");

    for (name, topic, private) in [
        ("music", "Bands and gigs", false),
        ("ops", "Deploys, on-call", false),
        ("secret-plans", "", true),
        ("zoo", "Animals", false),
    ] {
        create(&*broker, record(name, topic, private, "ada")).await;
    }
    let archived = broker
        .update_room(
            "zoo",
            RoomChange {
                archived: Some(true),
                ..RoomChange::default()
            },
        )
        .await
        .unwrap()
        .expect("zoo has a record");
    assert!(archived.archived && archived.topic == "Animals");
    let retitled = broker
        .update_room(
            "ops",
            RoomChange {
                topic: Some("Deploys and incidents".into()),
                ..RoomChange::default()
            },
        )
        .await
        .unwrap()
        .expect("ops has a record");
    assert_eq!(retitled.topic, "Deploys and incidents");
    assert_eq!(
        broker
            .update_room("nowhere", RoomChange::default())
            .await
            .unwrap(),
        None
    );
    assert_eq!(broker.room("nowhere").await.unwrap(), None);

    let all = list(&*broker, "", None, 10).await;
    assert_eq!(
        names(&all),
        ["lobby", "music", "ops", "race"],
        "public, unarchived, in order"
    );
    assert_eq!(all.next, None);
    let first = list(&*broker, "", None, 2).await;
    assert_eq!(names(&first), ["lobby", "music"]);
    let rest = list(&*broker, "", first.next.as_deref(), 2).await;
    assert_eq!(names(&rest), ["ops", "race"]);
    assert_eq!(
        names(&list(&*broker, "INCIDENT", None, 10).await),
        ["ops"],
        "by topic"
    );
    assert_eq!(
        names(&list(&*broker, "mus", None, 10).await),
        ["music"],
        "by name"
    );
    assert!(
        list(&*broker, "plans", None, 10).await.rooms.is_empty(),
        "private is hidden"
    );
    assert_eq!(archived_names(&*broker).await, ["zoo"]);

    // Private and archived both ways: the directory and the archived set follow.
    let change = |private, archived| RoomChange {
        private,
        archived,
        ..RoomChange::default()
    };
    let music = broker
        .update_room("music", change(Some(true), Some(true)))
        .await
        .unwrap()
        .expect("music has a record");
    assert!(music.private && music.archived && music.topic == "Bands and gigs");
    broker
        .update_room("zoo", change(None, Some(false)))
        .await
        .unwrap();
    broker
        .update_room("secret-plans", change(Some(false), None))
        .await
        .unwrap();
    assert_eq!(
        names(&list(&*broker, "", None, 10).await),
        ["lobby", "ops", "race", "secret-plans", "zoo"]
    );
    assert_eq!(archived_names(&*broker).await, ["music"]);

    // Kept across a reopen.
    drop(broker);
    let (broker, _sink) = open(factory).await;
    assert_eq!(broker.room("lobby").await.unwrap(), Some(lobby));
    assert_eq!(
        broker.room("ops").await.unwrap().map(|r| r.topic),
        Some("Deploys and incidents".into())
    );
    assert_eq!(archived_names(&*broker).await, ["music"]);
}

async fn archived_names(broker: &dyn Broker) -> Vec<String> {
    let mut names = broker
        .archived_rooms(100)
        .await
        .unwrap_or_else(|e| panic!("reading the archived rooms failed: {e}"));
    names.sort();
    names
}
