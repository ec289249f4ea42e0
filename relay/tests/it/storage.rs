//! Storage limits of the embedded store, against a real relay and its real SQLite file:
//! `--history-limit` and `--history-max-age` trim each room's history (and a resume from a
//! trimmed point says so), and `--min-free-disk-mb` refuses sends with `STORAGE_FULL` while
//! reads, joins and other clients go on.

use std::path::Path;
use std::time::Duration;

use chitchat_protocol::*;
use chitchat_relay::broker::embedded::DB_FILE;

use crate::support::cluster::eventually;
use crate::support::*;

/// The seqs of `room` in the relay's SQLite file, read straight from disk.
fn stored_seqs(dir: &Path, room: &str) -> Vec<u64> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("data").join(DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT seq FROM messages WHERE room = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([room], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Stores `texts`, each `(room, text)`, through a relay that is then shut down; its data dir
/// (to restart on) and the last message's timestamp.
async fn stored_then_stopped(texts: &[(&str, &str)]) -> (tempfile::TempDir, u64) {
    let mut relay = TestRelay::start(&[]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let mut last_ts = 0;
    for (id, (room, text)) in (1..).zip(texts) {
        match request_send(&mut ada, id, room, text).await {
            ServerFrame::Sent { ts, .. } => last_ts = ts,
            other => panic!("expected Sent, got {other:?}"),
        }
    }
    drop(ada);
    relay.begin_shutdown().await.unwrap().unwrap();
    let dir = std::mem::replace(&mut relay.dir, tempfile::tempdir().unwrap());
    (dir, last_ts)
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn history_limit_keeps_the_newest_per_room_and_resume_says_truncated() {
    let relay = TestRelay::start(&["--history-limit", "3"]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    for i in 1..=6 {
        assert_eq!(
            send_text(&mut ada, i, "lobby", &format!("m{i}")).await,
            u64::from(i)
        );
    }
    send_text(&mut ada, 7, "quiet", "only one").await;

    assert_eq!(stored_seqs(relay.dir.path(), "lobby"), [4, 5, 6]);
    assert_eq!(stored_seqs(relay.dir.path(), "quiet"), [1]);
    let page = history(&mut ada, 8, "lobby", None, 100).await;
    assert_eq!(seqs(&page.messages), [4, 5, 6]);
    assert!(!page.more);

    // A reader who last saw seq 1 is told history no longer reaches back, then gets 4..6.
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    let (joined, mut stream) = join(
        &mut bob,
        1,
        "lobby",
        Some(ResumePoint {
            epoch: page.epoch,
            seq: 1,
        }),
    )
    .await;
    assert_eq!(joined.resume, ResumeOutcome::Truncated { first_seq: 4 });
    assert_eq!(joined.last_seq, 6);
    for want in 4..=6 {
        assert_eq!(stream.message().await.seq, want);
    }
    // Numbering goes on from the newest kept message.
    assert_eq!(send_text(&mut ada, 9, "lobby", "m7").await, 7);
    assert_eq!(stream.message().await.text, "m7");
    assert_eq!(stored_seqs(relay.dir.path(), "lobby"), [5, 6, 7]);
}

#[tokio::test]
async fn history_max_age_drops_old_messages_but_keeps_each_rooms_newest() {
    let texts = [
        ("lobby", "o1"),
        ("lobby", "o2"),
        ("lobby", "o3"),
        ("lobby", "o4"),
    ];
    let (dir, last_old_ts) =
        stored_then_stopped(&[&texts[..], &[("attic", "alone")]].concat()).await;

    // Let every stored message pass the maximum age of one second.
    while chitchat_relay::clock::now_ms() <= last_old_ts + 1000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relay = TestRelay::start_in(dir, &["--history-max-age", "1s"]).await;
    let path = relay.dir.path().to_path_buf();
    // The first pass runs at start: of a room whose messages are all old, only the newest
    // stays, so its numbering goes on.
    eventually("the first retention pass trims lobby", WAIT, || {
        let path = path.clone();
        async move { (stored_seqs(&path, "lobby") == [4]).then_some(()) }
    })
    .await;
    assert_eq!(stored_seqs(&path, "attic"), [1]);
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    assert_eq!(send_text(&mut bob, 1, "lobby", "fresh").await, 5);
    assert_eq!(send_text(&mut bob, 2, "attic", "again").await, 2);
    let page = history(&mut bob, 3, "lobby", None, 100).await;
    assert_eq!(seqs(&page.messages), [4, 5]);
    assert_eq!(page.messages[1].text, "fresh");
}

#[tokio::test]
async fn a_nearly_full_disk_refuses_sends_but_reads_go_on() {
    let texts = [
        ("lobby", "before1"),
        ("lobby", "before2"),
        ("lobby", "before3"),
    ];
    let (dir, _) = stored_then_stopped(&texts).await;

    // A floor of a petabyte: the real file system's free space is below it.
    let relay = TestRelay::start_in(dir, &["--min-free-disk-mb", "1000000000"]).await;
    let (mut ada, _) = RawClient::hello(&relay, "ada").await;
    let (mut bob, _) = RawClient::hello(&relay, "bob").await;
    let (_, bob_stream) = join(&mut bob, 1, "lobby", None).await;

    let message = expect_error(
        request_send(&mut ada, 1, "lobby", "lost?").await,
        1,
        ErrorCode::STORAGE_FULL,
    );
    assert!(message.contains("disk is nearly full"), "{message}");
    expect_error(
        request_send(&mut ada, 2, "newroom", "lost?").await,
        2,
        ErrorCode::STORAGE_FULL,
    );
    // Not fatal: the same session still reads, and so does everyone else.
    let page = history(&mut ada, 3, "lobby", None, 100).await;
    assert_eq!(seqs(&page.messages), [1, 2, 3]);
    let page = history(&mut bob, 2, "lobby", None, 100).await;
    assert_eq!(seqs(&page.messages), [1, 2, 3]);
    assert_eq!(who(&mut bob, 3, "lobby").await, ["bob"]);
    // Nothing was stored or delivered.
    assert_eq!(stored_seqs(relay.dir.path(), "lobby"), [1, 2, 3]);
    assert!(stored_seqs(relay.dir.path(), "newroom").is_empty());
    drop(bob_stream);
}
