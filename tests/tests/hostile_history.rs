//! Sessions that ask for history and never read it cannot exhaust the relay: with 16 of them
//! pipelining History requests for large pages, the relay process stays far under 100 MB of
//! memory and far from its descriptor limit, and a bystander's History and Send keep
//! working. The bystander's send latency during the attack is printed (not asserted).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chitchat_protocol::{ClientFrame, ServerFrame};
use chitchat_tests::RelayProcess;
use chitchat_tests::raw::RawSession as Raw;

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
    let mut seeder = Raw::hello(addr, &ca, "seeder", None).await;
    let text = "h".repeat(1500);
    for id in 1..=100 {
        seeder
            .write(&ClientFrame::Send {
                id,
                room: "archive".into(),
                text: text.clone(),
            })
            .await;
    }
    for _ in 1..=100 {
        assert!(matches!(seeder.read().await, ServerFrame::Sent { .. }));
    }

    // Watch the relay throughout.
    let pid = relay.pid();
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
        let mut a = Raw::hello(addr, &ca, &format!("hoarder{n}"), None).await;
        for id in 1..=REQUESTS_EACH {
            a.write(&ClientFrame::History {
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
    let mut victim = Raw::hello(addr, &ca, "victim", None).await;
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
