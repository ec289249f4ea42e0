//! Rooms as records on the wire, against an in-process relay over real QUIC: `ListRooms`
//! shows the rooms people join and the rooms made with `CreateRoom`, in name order, paged,
//! searched, without direct-message or private rooms; `SetTopic` needs the room joined; every
//! bad request is refused with its code and leaves the session and the store as they were;
//! the room requests' own rate holds.

use chitchat_protocol::*;

use crate::support::{RawClient, TestRelay, expect_error, join};

async fn list(
    c: &mut RawClient,
    id: u32,
    search: &str,
    after: Option<&str>,
    limit: u16,
) -> ServerFrame {
    c.request(ClientFrame::ListRooms {
        id,
        search: search.into(),
        after: after.map(str::to_owned),
        limit,
    })
    .await
}

fn names(frame: &ServerFrame) -> (Vec<String>, Option<String>) {
    match frame {
        ServerFrame::Rooms { rooms, next, .. } => {
            (rooms.iter().map(|r| r.name.clone()).collect(), next.clone())
        }
        other => panic!("expected Rooms, got {other:?}"),
    }
}

async fn create(c: &mut RawClient, id: u32, room: &str, topic: &str) -> ServerFrame {
    c.request(ClientFrame::CreateRoom {
        id,
        room: room.into(),
        topic: topic.into(),
    })
    .await
}

async fn set_topic(c: &mut RawClient, id: u32, room: &str, topic: &str) -> ServerFrame {
    c.request(ClientFrame::SetTopic {
        id,
        room: room.into(),
        topic: topic.into(),
    })
    .await
}

fn info(frame: ServerFrame) -> RoomSummary {
    match frame {
        ServerFrame::RoomInfo { room, .. } => room,
        other => panic!("expected RoomInfo, got {other:?}"),
    }
}

/// Waits (with the support's deadline) until `room` is listed: a join records its room on a
/// task of its own.
async fn until_listed(c: &mut RawClient, room: &str) -> Vec<RoomSummary> {
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    let mut id = 1000;
    loop {
        id += 1;
        if let ServerFrame::Rooms { rooms, .. } = list(c, id, "", None, 100).await
            && rooms.iter().any(|r| r.name == room)
        {
            return rooms;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room} never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_and_created_rooms_are_listed_with_members_and_topics() {
    let relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let (_, _lobby) = join(&mut ada, 1, "lobby", None).await;
    let made = info(create(&mut ada, 3, "ops", "Deploys").await);
    assert_eq!(
        (made.topic.as_str(), made.created_by.as_str(), made.members),
        ("Deploys", "ada", 0)
    );
    let rooms = until_listed(&mut ada, "lobby").await;
    let listed: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(listed, ["lobby", "ops"]);
    let lobby = rooms.iter().find(|r| r.name == "lobby").unwrap();
    assert_eq!((lobby.members, lobby.created_by.as_str()), (1, "ada"));

    let exists = create(&mut ada, 4, "ops", "Mine").await;
    let message = expect_error(exists, 4, ErrorCode::ROOM_EXISTS);
    assert!(message.contains("made by ada"), "{message}");

    // SetTopic needs the room joined; then it changes the topic for everyone.
    expect_error(
        set_topic(&mut ada, 5, "ops", "Incidents").await,
        5,
        ErrorCode::NOT_JOINED,
    );
    let (_, _ops) = join(&mut ada, 6, "ops", None).await;
    let changed = info(set_topic(&mut ada, 7, "ops", "Deploys and incidents").await);
    assert_eq!(
        (changed.topic.as_str(), changed.members),
        ("Deploys and incidents", 1)
    );
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    let (found, _) = names(&list(&mut bob, 1, "INCIDENT", None, 10).await);
    assert_eq!(found, ["ops"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_pages_in_name_order() {
    let relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    for (i, room) in ["delta", "alpha", "echo", "charlie", "bravo"]
        .iter()
        .enumerate()
    {
        info(create(&mut ada, i as u32 + 1, room, "").await);
    }
    let mut seen = Vec::new();
    let mut after = None;
    for id in 10..20 {
        let (page, next) = names(&list(&mut ada, id, "", after.as_deref(), 2).await);
        seen.extend(page);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_room_requests_are_refused_and_change_nothing() {
    let relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    info(create(&mut ada, 1, "kept", "Original").await);
    let (_, _kept) = join(&mut ada, 2, "kept", None).await;
    let long = "s".repeat(257);
    for (id, limit, search, after) in [
        (10, 0, "", None),
        (11, 101, "", None),
        (12, 10, long.as_str(), None),
        (13, 10, "", Some("no spaces")),
    ] {
        let frame = list(&mut ada, id, search, after, limit).await;
        expect_error(frame, id, ErrorCode::INVALID_REQUEST);
    }
    let topic_too_long = "t".repeat(257);
    for (id, room, topic, code) in [
        (20, "no spaces", "", ErrorCode::INVALID_ROOM),
        (21, "fresh", "two\nlines", ErrorCode::INVALID_TEXT),
        (22, "fresh", "bidi \u{202e}", ErrorCode::INVALID_TEXT),
        (
            23,
            "fresh",
            topic_too_long.as_str(),
            ErrorCode::TEXT_TOO_LONG,
        ),
    ] {
        expect_error(create(&mut ada, id, room, topic).await, id, code);
        if !topic.is_empty() {
            let frame = set_topic(&mut ada, id + 10, "kept", topic).await;
            expect_error(frame, id + 10, code);
        }
    }
    let frame = set_topic(&mut ada, 35, "no spaces", "x").await;
    expect_error(frame, 35, ErrorCode::INVALID_ROOM);
    // Nothing was made or changed, and the session goes on.
    let (rooms, _) = names(&list(&mut ada, 40, "", None, 100).await);
    assert_eq!(rooms, ["kept"]);
    let ServerFrame::Rooms { rooms, .. } = list(&mut ada, 41, "", None, 1).await else {
        panic!("expected Rooms");
    };
    assert_eq!(rooms[0].topic, "Original");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_requests_have_a_rate_of_their_own() {
    let relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let mut limited = None;
    for id in 1..=30 {
        if let ServerFrame::Error(e) = list(&mut ada, id, "", None, 10).await {
            assert_eq!(e.code, ErrorCode::RATE_LIMITED, "{e:?}");
            limited = Some(id);
            break;
        }
    }
    let limited = limited.expect("a flood of ListRooms is limited");
    assert!(
        limited > 10,
        "the burst of 10 is allowed (limited at {limited})"
    );
    // Other requests are not affected.
    let (_, _room) = join(&mut ada, 100, "lobby", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_lists_only_rooms_one_may_read_and_never_private_ones() {
    use crate::auth::{jwt_relay, signed_in, token};
    let (relay, _keys) = jwt_relay(&["--private-rooms", "secret-*"]).await;
    let (mut ada, _) = signed_in(&relay, token("ada", &[("*", "rw")], 600)).await;
    for (id, room) in [
        (1, "news"),
        (2, "team-a"),
        (3, "secret-plans"),
        (4, "@ada+bob"),
    ] {
        assert_eq!(info(create(&mut ada, id, room, "").await).name, room);
    }
    let (listed, _) = names(&list(&mut ada, 5, "", None, 100).await);
    assert_eq!(
        listed,
        ["news", "team-a"],
        "private and direct-message rooms are made but never listed"
    );

    let (mut bob, _) = signed_in(&relay, token("bob", &[("news", "r")], 600)).await;
    let (listed, _) = names(&list(&mut bob, 1, "", None, 100).await);
    assert_eq!(listed, ["news"], "only the rooms bob may read");
    expect_error(
        create(&mut bob, 2, "bobs-room", "").await,
        2,
        ErrorCode::FORBIDDEN,
    );
    let (_, _news) = join(&mut bob, 3, "news", None).await;
    let frame = set_topic(&mut bob, 4, "news", "Mine").await;
    expect_error(frame, 4, ErrorCode::FORBIDDEN);
}
