//! What hostile sessions can do to a relay process (a real `chitchat-relay`, measured in
//! /proc). Sessions that ask for history and never read it cannot exhaust it: with 16 of
//! them pipelining History requests for large pages, the relay stays far under 100 MB of
//! memory and far from its descriptor limit, and a bystander's History and Send keep working
//! (the bystander's send latency during the attack is printed, not asserted). A session
//! stalled in many rooms is one slow-consumer disconnect: counted once, logged once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chitchat_protocol::{ClientFrame, ServerFrame};
use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess};

use crate::support::RawClient;

/// Hostile sessions, as in the report this defends against.
const ATTACKERS: usize = 16;

/// History requests each attacker pipelines (the old per-session in-flight limit).
const REQUESTS_EACH: u32 = 256;

/// The relay's resident memory must stay under this (the attack took it to 885 MB).
const MAX_RSS_KB: u64 = 100 * 1024;

/// Open descriptors the relay may hold during the attack: sockets, the store, logs, and
/// a fixed read pool; the attack took it to its limit of 1 024.
const MAX_FDS: usize = 200;

/// The relay's resident memory in KB and its open descriptors.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, fds)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_never_read_history_cannot_exhaust_the_relay() {
    let relay = RelayProcess::start(&["--msgs-per-sec", "100000", "--msgs-burst", "100000"]);
    let addr: SocketAddr = relay.quic_addr().parse().expect("the QUIC address");
    let ca = relay.ca_file();

    // A room whose pages are large: 100 messages of 1 500 bytes, about 150 KB a page.
    let mut seeder = RawClient::hello_to(addr, &ca, "seeder").await.0;
    let text = "h".repeat(1500);
    for id in 1..=100 {
        seeder
            .send(&ClientFrame::Send {
                id,
                room: "archive".into(),
                text: text.clone(),
            })
            .await;
    }
    for _ in 1..=100 {
        assert!(matches!(seeder.recv().await, ServerFrame::Sent { .. }));
    }

    // Watch the relay throughout.
    let pid = relay.pid().expect("the relay is running");
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut peak = (0, 0);
            while watching.load(Ordering::Relaxed) {
                let (rss, fds) = usage(pid);
                peak = (peak.0.max(rss), peak.1.max(fds));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };

    // The attack: every attacker asks for the whole room, again and again, and never reads.
    let mut attackers = Vec::new();
    for n in 0..ATTACKERS {
        let mut a = RawClient::hello_to(addr, &ca, &format!("hoarder{n}"))
            .await
            .0;
        for id in 1..=REQUESTS_EACH {
            a.send(&ClientFrame::History {
                id,
                room: "archive".into(),
                before: None,
                limit: 100,
            })
            .await;
        }
        attackers.push(a);
    }

    // A bystander, meanwhile: its sends are stored and its history read.
    let mut victim = RawClient::hello_to(addr, &ca, "victim").await.0;
    let mut latencies = Vec::new();
    for id in 1..=200u32 {
        let started = Instant::now();
        let answer = victim
            .request(ClientFrame::Send {
                id,
                room: "calm".into(),
                text: format!("still here {id}"),
            })
            .await;
        latencies.push(started.elapsed());
        assert!(
            matches!(answer, ServerFrame::Sent { id: got, .. } if got == id),
            "the bystander's send is stored: {answer:?}"
        );
        if id % 20 == 0 {
            match victim
                .request(ClientFrame::History {
                    id: 10_000 + id,
                    room: "archive".into(),
                    before: None,
                    limit: 100,
                })
                .await
            {
                ServerFrame::History(page) => assert_eq!(page.messages.len(), 100),
                other => panic!("the bystander's history read failed: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watching.store(false, Ordering::Relaxed);
    let (peak_rss, peak_fds) = watcher.join().expect("the watcher");
    latencies.sort();
    eprintln!(
        "during the attack: relay peak RSS {} KB, peak descriptors {peak_fds}; bystander send \
         p50 {:?}, p99 {:?}, max {:?}",
        peak_rss,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    assert!(peak_rss > 0, "the relay's memory was read");
    assert!(
        peak_rss < MAX_RSS_KB,
        "relay RSS reached {peak_rss} KB under the attack"
    );
    assert!(
        peak_fds < MAX_FDS,
        "relay held {peak_fds} descriptors under the attack"
    );
    for a in &attackers {
        a.conn.close(0u32.into(), b"done");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stalled_in_many_rooms_counts_and_logs_once() {
    let relay = RelayProcess::start(&[
        "--queue-len",
        "4",
        "--msgs-per-sec",
        "100000",
        "--msgs-burst",
        "100000",
    ]);
    let addr: SocketAddr = relay.quic_addr().parse().expect("the QUIC address");
    let ca = relay.ca_file();
    let rooms = ["busy1", "busy2", "busy3", "busy4", "busy5"];
    // Tiny stream windows, and the room streams are never read.
    let mut stalled = RawClient::connect_to(addr, &ca, Some(512)).await;
    stalled.say_hello("stalled").await;
    for (id, room) in (1..).zip(rooms) {
        let joined = stalled
            .request(ClientFrame::Join {
                id,
                room: room.into(),
                resume: None,
            })
            .await;
        assert!(matches!(joined, ServerFrame::Joined(_)), "{joined:?}");
    }
    let mut sender = RawClient::hello_to(addr, &ca, "sender").await.0;
    let mut id = 0;
    for i in 0..40 {
        for room in rooms {
            id += 1;
            let sent = sender
                .request(ClientFrame::Send {
                    id,
                    room: room.into(),
                    text: format!("{i:0>200}"),
                })
                .await;
            assert!(matches!(sent, ServerFrame::Sent { .. }), "{sent:?}");
        }
    }
    match stalled.recv().await {
        ServerFrame::Error(e) => assert_eq!((e.id, e.code.0), (0, 23), "{}", e.message),
        other => panic!("expected Error SLOW_CONSUMER, got {other:?}"),
    }
    tokio::time::timeout(DEFAULT_TIMEOUT, stalled.conn.closed())
        .await
        .expect("closed in time");
    // The session counted itself before closing: the count is final once the close is seen.
    let name = "chitchat_slow_consumer_disconnects_total";
    let count = relay.wait_metric(name, DEFAULT_TIMEOUT, |v| v >= 1.0);
    assert_eq!(count, 1.0, "one stalled session is one disconnect");
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    let logged = loop {
        let logs = relay.logs();
        let lines = logs.lines().filter(|l| l.contains("SLOW_CONSUMER")).count();
        if lines > 0 || Instant::now() >= deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(logged, 1, "logged once:\n{}", relay.logs());
}
