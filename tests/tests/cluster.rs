//! Three relays sharing one Redis, as processes: a real `redis-server` (append-only file on),
//! three real `chitchat-relay --redis` on their own ports with one CA, and real `chitchat`
//! processes sending and tailing through different relays.
//!
//! - every member sees the same messages in the same order, whichever relay they came in by;
//! - many concurrent senders on different relays: every receiver's seqs are gapless and
//!   every acknowledged seq arrives;
//! - a relay with no member in a room receives none of its traffic (its
//!   `chitchat_broker_messages_total` stays 0), and starts receiving once it has one;
//! - a tail whose relay is killed moves to another and prints every message exactly once;
//! - Redis restarts: sends fail with UNAVAILABLE meanwhile, /healthz says so, relays
//!   reconnect by themselves, and nothing acknowledged is lost.

use std::collections::{BTreeMap, HashSet};
use std::thread;
use std::time::Duration;

use chitchat_tests::cluster::Cluster;
use chitchat_tests::{CliProcess, DEFAULT_TIMEOUT, RelayProcess, json_lines, seqs, texts};
use serde_json::Value;

/// How long a relay may take to notice that Redis went away or came back. Both are
/// noticed within a second or two (a closed socket; a reconnect backoff of at most a few
/// seconds); the margin is for a loaded machine.
const BROKER_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The metric of messages a relay received from Redis.
const BROKER_MESSAGES: &str = "chitchat_broker_messages_total";

/// How long a send may take to fail while Redis is down beyond the CLI's retry window
/// (`SEND_RETRY_WINDOW`): the relay refuses each try at once, so this is one CLI start and
/// connection and the last backoff, with room for a loaded machine.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// `chitchat send`'s retry window for UNAVAILABLE (client-cli's `SEND_RETRY_WINDOW`).
const SEND_RETRY_WINDOW: Duration = Duration::from_secs(15);

/// The next `n` messages a tail prints.
fn messages(tail: &mut CliProcess, n: usize) -> Vec<Value> {
    json_lines(&tail.take_lines(n, DEFAULT_TIMEOUT))
}

/// Sends `texts` to `room` with `chitchat send`, the i-th through relay `i % relays`;
/// returns the seqs the sends printed.
fn send_round_robin(cluster: &Cluster, relays: usize, room: &str, texts: &[String]) -> Vec<u64> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| cluster.cli(&[i % relays]).send(room, text))
        .collect()
}

/// Once relay1 (which has members) counted `busy` messages from Redis, asserts that `quiet`
/// counted exactly `expected`; `why` says what another count would mean.
fn assert_quiet_count(
    cluster: &Cluster,
    busy: f64,
    quiet: &RelayProcess,
    expected: f64,
    why: &str,
) {
    cluster
        .relay(0)
        .wait_metric(BROKER_MESSAGES, DEFAULT_TIMEOUT, |v| v >= busy);
    assert_eq!(
        quiet.metric(BROKER_MESSAGES).expect("/metrics"),
        Some(expected),
        "{why}"
    );
}

/// Panics unless `seqs` is exactly `first, first + 1, ..., last`.
fn assert_gapless(seqs: &[u64], first: u64, last: u64, context: &str) {
    let expected: Vec<u64> = (first..=last).collect();
    assert_eq!(seqs, expected, "{context}");
}

#[test]
fn every_member_sees_one_order() {
    let room = "one-order";
    let cluster = Cluster::start(3);
    let mut tails: Vec<CliProcess> = (0..3).map(|i| cluster.cli(&[i]).tail(room)).collect();

    let sent: Vec<String> = (1..=30).map(|i| format!("message {i}")).collect();
    assert_eq!(
        send_round_robin(&cluster, 3, room, &sent),
        (1..=30).collect::<Vec<u64>>(),
        "one counter for the room, whichever relay"
    );

    let seen: Vec<Vec<Value>> = tails.iter_mut().map(|t| messages(t, sent.len())).collect();
    for (i, messages) in seen.iter().enumerate() {
        assert_gapless(&seqs(messages), 1, 30, &tails[i].transcript());
        assert_eq!(
            texts(messages),
            sent,
            "relay{} delivers in seq order",
            i + 1
        );
    }
    // Not only the same texts: the same messages (epoch, sender, timestamp) everywhere.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

#[test]
fn concurrent_senders_on_every_relay_stay_gapless() {
    const SENDERS_PER_RELAY: usize = 4;
    const MESSAGES_PER_SENDER: usize = 25;
    let total = (3 * SENDERS_PER_RELAY * MESSAGES_PER_SENDER) as u64;
    let room = "crowded";
    let cluster = Cluster::start(3);
    let mut tails: Vec<CliProcess> = (0..3).map(|i| cluster.cli(&[i]).tail(room)).collect();

    // Every sender sends its messages one after the other; all senders at once.
    let senders: Vec<_> = (0..3)
        .flat_map(|relay| (0..SENDERS_PER_RELAY).map(move |sender| (relay, sender)))
        .map(|(relay, sender)| {
            let cli = cluster.cli(&[relay]);
            thread::spawn(move || {
                let name = format!("r{}s{sender}", relay + 1);
                let acks: Vec<(u64, String)> = (0..MESSAGES_PER_SENDER)
                    .map(|k| {
                        let text = format!("{name} #{k}");
                        (cli.send(room, &text), text)
                    })
                    .collect();
                (name, acks)
            })
        })
        .collect();
    let acked: Vec<(String, Vec<(u64, String)>)> = senders
        .into_iter()
        .map(|s| s.join().expect("a sender thread panicked"))
        .collect();

    // Each sender's acks rise (its sends were one after the other), and all acks together
    // are every seq from 1 once.
    let mut by_seq: BTreeMap<u64, String> = BTreeMap::new();
    for (name, acks) in &acked {
        assert!(
            acks.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}'s acks do not rise: {acks:?}"
        );
        for (seq, text) in acks {
            let earlier = by_seq.insert(*seq, text.clone());
            assert!(earlier.is_none(), "seq {seq} acknowledged twice");
        }
    }
    assert_gapless(
        &by_seq.keys().copied().collect::<Vec<_>>(),
        1,
        total,
        "acknowledged seqs",
    );

    for (i, tail) in tails.iter_mut().enumerate() {
        let got = messages(tail, total as usize);
        assert_gapless(
            &seqs(&got),
            1,
            total,
            &format!("receiver on relay{}", i + 1),
        );
        for message in &got {
            let seq = message["seq"].as_u64().unwrap_or_default();
            assert_eq!(
                message["text"].as_str(),
                by_seq.get(&seq).map(String::as_str),
                "relay{} delivered seq {seq} with another text than was acknowledged",
                i + 1
            );
        }
    }
}

#[test]
fn a_relay_without_members_receives_none_of_the_rooms_traffic() {
    let room = "busy";
    let cluster = Cluster::start(3);
    let quiet = cluster.relay(2);
    let mut tails = [cluster.cli(&[0]).tail(room), cluster.cli(&[1]).tail(room)];
    assert_eq!(quiet.metric(BROKER_MESSAGES).expect("/metrics"), Some(0.0));

    // Busy on the two relays with members, and sends through the quiet relay too: a send
    // does not make it a member.
    let first: Vec<String> = (1..=20).map(|i| format!("busy {i}")).collect();
    send_round_robin(&cluster, 3, room, &first);
    for tail in &mut tails {
        assert_eq!(texts(&messages(tail, first.len())), first);
    }
    // The members' relay did get them from Redis (so the metric counts), the quiet one not.
    assert_quiet_count(
        &cluster,
        20.0,
        quiet,
        0.0,
        "a relay without members received the room's messages",
    );
    let health = quiet.wait_health(true, DEFAULT_TIMEOUT);
    assert_eq!(health["rooms"], 0, "{health}");

    // A member on the quiet relay: it subscribes, reads history, then receives live.
    let mut third = cluster.cli(&[2]).tail(room);
    assert_eq!(texts(&messages(&mut third, first.len())), first);
    let second: Vec<String> = (1..=10).map(|i| format!("now joined {i}")).collect();
    send_round_robin(&cluster, 2, room, &second);
    assert_eq!(texts(&messages(&mut third, second.len())), second);
    let received = quiet.wait_metric(BROKER_MESSAGES, DEFAULT_TIMEOUT, |v| v >= 10.0);
    assert_eq!(
        received, 10.0,
        "exactly the messages sent while it had a member"
    );

    // The member leaves (Ctrl-C says goodbye): the relay unsubscribes and receives nothing
    // more.
    third.interrupt();
    third.wait_success();
    let deadline = std::time::Instant::now() + DEFAULT_TIMEOUT;
    while quiet.wait_health(true, DEFAULT_TIMEOUT)["rooms"] != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay kept the room after its last member left"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let third_batch: Vec<String> = (1..=10).map(|i| format!("left again {i}")).collect();
    send_round_robin(&cluster, 2, room, &third_batch);
    for tail in &mut tails {
        let all = [second.clone(), third_batch.clone()].concat();
        assert_eq!(texts(&messages(tail, all.len())), all);
    }
    assert_quiet_count(
        &cluster,
        40.0,
        quiet,
        10.0,
        "a relay whose last member left still received the room's messages",
    );
}

#[test]
fn a_tail_fails_over_when_its_relay_is_killed_and_prints_each_message_once() {
    let room = "failover";
    let mut cluster = Cluster::start(3);
    let mut tail = cluster.cli(&[0, 1, 2]).tail(room);
    let survivors = [cluster.cli(&[1]), cluster.cli(&[2])];

    let mut acked: Vec<u64> = (0..10)
        .map(|i| survivors[i % 2].send(room, &format!("before {i}")))
        .collect();
    let mut printed = messages(&mut tail, 10);

    // Messages keep coming through the surviving relays while relay1 dies...
    let sender = {
        let survivors = survivors.clone();
        thread::spawn(move || {
            (0..30)
                .map(|i| survivors[i % 2].send(room, &format!("during {i}")))
                .collect::<Vec<u64>>()
        })
    };
    // ...killed mid-stream, once the tail printed some of them.
    printed.extend(messages(&mut tail, 5));
    cluster.relay_mut(0).kill9();
    let moved = tail.wait_for_stderr("connected to", DEFAULT_TIMEOUT);
    assert!(
        moved.contains(cluster.relay(1).quic_addr())
            || moved.contains(cluster.relay(2).quic_addr()),
        "moved to a relay that is not a survivor: {moved}"
    );
    acked.extend(sender.join().expect("the sender thread panicked"));
    // ...and after.
    acked.extend((0..10).map(|i| survivors[i % 2].send(room, &format!("after {i}"))));

    acked.sort_unstable();
    let total = acked.len() as u64;
    assert_gapless(&acked, 1, total, "acknowledged seqs");
    printed.extend(messages(&mut tail, acked.len() - printed.len()));
    assert_gapless(&seqs(&printed), 1, total, &tail.transcript());
    let epochs: HashSet<&Value> = printed.iter().map(|m| &m["epoch"]).collect();
    assert_eq!(
        epochs.len(),
        1,
        "one history across the failover: {epochs:?}"
    );

    // Nothing comes twice after the last one either: the next line is the next message.
    let marker = survivors[0].send(room, "marker");
    assert_eq!(marker, total + 1);
    let next = messages(&mut tail, 1);
    assert_eq!(seqs(&next), [marker], "{}", tail.transcript());
    assert_eq!(texts(&next), ["marker"]);
    let transcript = tail.transcript();
    assert!(
        !transcript.contains("was reset") && !transcript.contains("were missed"),
        "{transcript}"
    );
}

#[test]
fn a_redis_restart_loses_no_acknowledged_message() {
    let room = "outage";
    let mut cluster = Cluster::start(3);
    let mut tails: Vec<CliProcess> = (0..3).map(|i| cluster.cli(&[i]).tail(room)).collect();

    let before: Vec<String> = (1..=9).map(|i| format!("before {i}")).collect();
    assert_eq!(
        send_round_robin(&cluster, 3, room, &before),
        (1..=9).collect::<Vec<u64>>()
    );
    for tail in &mut tails {
        assert_eq!(texts(&messages(tail, before.len())), before);
    }

    cluster.kill_redis();
    for relay in cluster.relays() {
        let health = relay.wait_health(false, BROKER_CHANGE_TIMEOUT);
        assert_eq!(health["status"], "unavailable", "{health}");
    }
    // The CLI retries UNAVAILABLE with the same send id for its retry window, then gives
    // up saying so; the three sends wait out their windows side by side.
    let outs: Vec<_> = thread::scope(|scope| {
        let sends: Vec<_> = (0..3)
            .map(|i| {
                let cli =
                    cluster
                        .cli(&[i])
                        .nick("sender")
                        .args(["send", room, "sent during the outage"]);
                scope.spawn(move || cli.output())
            })
            .collect();
        sends.into_iter().map(|s| s.join().expect("send")).collect()
    });
    for out in outs {
        assert_eq!(out.status.code(), Some(1), "{out}");
        assert!(out.stderr.contains("(UNAVAILABLE)"), "{out}");
        assert!(out.stderr.contains("gave up after"), "{out}");
        assert!(
            out.elapsed < SEND_RETRY_WINDOW + FAIL_FAST,
            "a send took {:?} to fail",
            out.elapsed
        );
    }

    cluster.restart_redis();
    for relay in cluster.relays() {
        relay.wait_health(true, BROKER_CHANGE_TIMEOUT);
    }
    let after: Vec<String> = (1..=9).map(|i| format!("after {i}")).collect();
    assert_eq!(
        send_round_robin(&cluster, 3, room, &after),
        (10..=18).collect::<Vec<u64>>(),
        "numbering survived the restart"
    );
    let total = (before.len() + after.len()) as u64;
    for tail in &mut tails {
        let got = messages(tail, after.len());
        assert_gapless(
            &seqs(&got),
            before.len() as u64 + 1,
            total,
            &tail.transcript(),
        );
        assert_eq!(texts(&got), after);
    }

    // Every acknowledged message is stored, none of the refused ones.
    let history = cluster
        .cli(&[1])
        .args(["history", room, "--limit", "100", "--json"])
        .output();
    history.assert_success();
    let stored = json_lines(&history.lines());
    assert_gapless(&seqs(&stored), 1, total, &history.to_string());
    assert_eq!(texts(&stored), [before, after].concat());
}
