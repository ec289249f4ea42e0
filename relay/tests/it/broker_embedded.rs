//! The embedded broker against real SQLite files: the shared broker conformance suite, then
//! what only this broker has (its files on disk, one owner per data dir, bad data dirs,
//! durability across `kill -9` of the process).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chitchat_relay::broker::embedded::{DB_FILE, EmbeddedBroker};
use chitchat_relay::broker::{Broker, BrokerError, Deliver, SharedBroker};
use futures::future::join_all;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::conformance::{RecordingSink, StoreFactory, new_message};

/// A fresh data dir; every `open` opens the same store in it.
struct TempStore {
    dir: TempDir,
}

impl TempStore {
    fn new() -> Self {
        TempStore {
            dir: tempfile::tempdir().expect("creating a temp dir"),
        }
    }
}

#[async_trait::async_trait]
impl StoreFactory for TempStore {
    async fn open(&self, sink: Arc<dyn Deliver>) -> Result<SharedBroker, BrokerError> {
        let broker = open_in(self.dir.path(), sink).await?;
        Ok(Arc::new(broker))
    }
}

crate::conformance::broker_conformance_tests!(TempStore::new());

async fn open_in(dir: &Path, sink: Arc<dyn Deliver>) -> Result<EmbeddedBroker, BrokerError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || EmbeddedBroker::open(&dir, sink, "test-node".into()))
        .await
        .expect("open task panicked")
}

/// Opens the store in `dir`, delivering to a sink nobody reads.
async fn open_quiet(dir: &Path) -> Result<EmbeddedBroker, BrokerError> {
    open_in(dir, RecordingSink::new()).await
}

fn count_rows(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("opening the database file directly");
    conn.query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
        .expect("counting messages")
}

#[tokio::test]
async fn messages_live_in_the_database_file_and_survive_reopening() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A data dir that does not exist yet is created.
    let data_dir = tmp.path().join("nested").join("data");
    let broker = open_quiet(&data_dir).await.expect("open");
    let db = data_dir.join(DB_FILE);
    assert_eq!(broker.db_path(), db);
    let epoch = broker.epoch();
    for i in 0..20 {
        broker
            .publish(new_message("disk", "tester", &format!("on disk {i}")))
            .await
            .expect("publish");
    }
    // Acknowledged means committed: another connection to the file sees every message.
    assert_eq!(count_rows(&db), 20);

    broker.close().await;
    assert!(!broker.is_ready(), "a closed broker is not ready");
    match broker
        .publish(new_message("disk", "tester", "too late"))
        .await
    {
        Err(BrokerError::Unavailable(_)) => {}
        other => panic!("publishing after close gave {other:?}"),
    }
    // Reads still work after close.
    assert_eq!(broker.head("disk").await.expect("head").last_seq, 20);
    drop(broker);
    assert!(db.is_file(), "{} exists", db.display());

    let broker = open_quiet(&data_dir).await.expect("reopen");
    assert_eq!(
        broker.epoch(),
        epoch,
        "the epoch is the store's, not the process's"
    );
    let history = broker.read_after("disk", 0, 100).await.expect("read");
    assert_eq!(history.len(), 20);
    assert_eq!(history[19].text, "on disk 19");
    let next = broker
        .publish(new_message("disk", "tester", "after"))
        .await
        .expect("publish");
    assert_eq!(next.seq, 21);
}

#[tokio::test]
async fn dropping_the_broker_stores_what_was_queued() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let broker = open_quiet(tmp.path()).await.expect("open");
    let pending: Vec<_> = (0..500)
        .map(|i| broker.publish(new_message("queued", "tester", &format!("{i}"))))
        .collect();
    drop(broker);
    let stored = join_all(pending).await;
    assert!(
        stored.iter().all(Result::is_ok),
        "every queued publish was stored"
    );

    let broker = open_quiet(tmp.path()).await.expect("reopen");
    assert_eq!(broker.head("queued").await.expect("head").last_seq, 500);
}

#[tokio::test]
async fn a_second_broker_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let first = open_quiet(tmp.path()).await.expect("open");
    match open_quiet(tmp.path()).await {
        Err(BrokerError::Internal(why)) => {
            assert!(why.contains("in use"), "unclear error: {why}");
            assert!(
                why.contains(&tmp.path().display().to_string()),
                "no path in: {why}"
            );
        }
        Err(other) => panic!("wrong error kind: {other:?}"),
        Ok(_) => panic!("two brokers opened the same data dir"),
    }
    // The refused open left the first one working.
    first
        .publish(new_message("one", "tester", "still fine"))
        .await
        .expect("publish");
    first.close().await;
    // Once the first has closed, the dir is free.
    let second = open_quiet(tmp.path()).await.expect("open after close");
    assert_eq!(second.head("one").await.expect("head").last_seq, 1);
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_gives_a_clear_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"plain file").expect("write");
    for data_dir in [file.clone(), file.join("below")] {
        match open_quiet(&data_dir).await {
            Err(BrokerError::Internal(why)) => {
                assert!(
                    why.contains(&file.display().to_string()),
                    "no path in: {why}"
                )
            }
            Err(other) => panic!("wrong error kind: {other:?}"),
            Ok(_) => panic!("opened a store in {}", data_dir.display()),
        }
    }
}

#[tokio::test]
async fn a_corrupt_database_file_gives_a_clear_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join(DB_FILE);
    std::fs::write(&db, vec![0x5a; 8192]).expect("write garbage");
    match open_quiet(tmp.path()).await {
        Err(BrokerError::Internal(why)) => {
            assert!(why.contains(&db.display().to_string()), "no path in: {why}");
            assert!(why.contains("not a database"), "unclear error: {why}");
        }
        Err(other) => panic!("wrong error kind: {other:?}"),
        Ok(_) => panic!("opened a garbage file as a store"),
    }
}

#[tokio::test]
async fn a_store_from_a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join(DB_FILE);
    let conn = rusqlite::Connection::open(&db).expect("create db");
    conn.pragma_update(None, "user_version", 99)
        .expect("set version");
    drop(conn);
    match open_quiet(tmp.path()).await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("schema version 99"), "{why}"),
        Err(other) => panic!("wrong error kind: {other:?}"),
        Ok(_) => panic!("opened a store with an unknown schema"),
    }
}

/// The environment variable that turns [`kill9_child`] into the publishing process.
const KILL9_DIR_ENV: &str = "CHITCHAT_TEST_KILL9_DIR";

/// Acknowledgements the parent waits for before killing the child: enough for many group
/// commits and at least one WAL checkpoint's worth of pages.
const KILL9_ACKS: u64 = 3000;

/// The child half of [`acknowledged_messages_survive_kill_9`]: publishes to the store in
/// the given dir until killed, printing `acked <seq>` after each acknowledged batch.
#[tokio::test]
#[ignore = "run as a child process by acknowledged_messages_survive_kill_9"]
async fn kill9_child() {
    let Some(dir) = std::env::var_os(KILL9_DIR_ENV).map(PathBuf::from) else {
        // Run by hand (`--include-ignored`): nothing to do without the parent.
        return;
    };
    let broker = open_quiet(&dir).await.expect("open");
    let mut next = 0u64;
    loop {
        let batch: Vec<_> = (0..50)
            .map(|_| {
                next += 1;
                broker.publish(new_message("durable", "tester", &format!("durable {next}")))
            })
            .collect();
        let mut last = 0;
        for result in join_all(batch).await {
            last = result.expect("publish").seq;
        }
        println!("acked {last}");
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary path");
    // The child's name as the test harness knows it: its path without the crate's name.
    let (_, module) = module_path!().split_once("::").expect("a module path");
    let child_test = format!("{module}::kill9_child");
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            &child_test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL9_DIR_ENV, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the child process");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let acked = tokio::time::timeout(Duration::from_secs(60), async {
        let mut acked = 0;
        while acked < KILL9_ACKS {
            let line = lines
                .next_line()
                .await
                .expect("reading the child")
                .expect("child exited");
            if let Some(seq) = line.strip_prefix("acked ") {
                acked = seq.parse().expect("acked seq");
            }
        }
        acked
    })
    .await
    .expect("the child acknowledged too few messages in time");
    child.start_kill().expect("kill -9");
    let status = child.wait().await.expect("waiting for the child");
    assert!(!status.success(), "the child was killed: {status}");

    let broker = open_quiet(tmp.path()).await.expect("reopen");
    let head = broker.head("durable").await.expect("head");
    println!("acked {acked} before the kill; {} stored", head.last_seq);
    assert!(
        head.last_seq >= acked,
        "acknowledged seq {acked} lost: the store ends at {}",
        head.last_seq
    );
    let stored = broker
        .read_after("durable", 0, head.last_seq as usize)
        .await
        .expect("read");
    assert_eq!(stored.len() as u64, head.last_seq, "gapless after the kill");
    for (i, msg) in stored.iter().enumerate() {
        assert_eq!(msg.seq, i as u64 + 1);
        assert_eq!(msg.text, format!("durable {}", msg.seq));
    }
    // Numbering continues after the last stored message.
    let next = broker
        .publish(new_message("durable", "tester", "after the kill"))
        .await
        .expect("publish");
    assert_eq!(next.seq, head.last_seq + 1);
}
