//! The clients survive failures and move fast, against real relays sharing a real Redis:
//!
//! - a `tail` and a `chat` whose relay dies while Redis is down keep their room: the
//!   surviving relay refuses their sessions with UNAVAILABLE until Redis is back (it cannot
//!   check their nicks' claims), they retry, and then print every message sent after Redis
//!   returned, each once;
//! - a `tail` whose relay is killed with `kill -9` prints the next message stored elsewhere
//!   within 2 s (it notices the silence within a second, then moves);
//! - a `send` whose first relay (or first two) is dead goes through the next one without
//!   waiting a connect timeout per dead relay.

use std::time::Duration;

use chitchat_tests::cluster::Cluster;
use chitchat_tests::{DEFAULT_TIMEOUT, json_lines, seqs, texts};

/// The delivery lag a killed relay may cause: the bound for failover. (The tail
/// notices the dead relay at most 1.5 s after its last packet and then connects to the next
/// one on loopback in milliseconds.)
const FAILOVER: Duration = Duration::from_secs(2);

/// How long a `send` may take whose first relays are dead: the CLI's start, a 250 ms
/// stagger per dead relay and a send, with room for a loaded machine, yet well below the
/// 5 s connect timeout one dead relay used to cost.
const SEND_PAST_DEAD_RELAYS: Duration = Duration::from_secs(3);

/// How long a relay may take to notice that Redis went away or came back (see the cluster
/// tests).
const BROKER_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn a_tail_and_a_chat_keep_their_room_when_their_relay_and_redis_die_together() {
    let room = "outage";
    let mut cluster = Cluster::start(2);
    let mut tail = cluster.cli(&[0, 1]).tail(room);
    let mut chat = cluster
        .cli(&[0, 1])
        .nick("chatter")
        .args(["chat", room])
        .spawn();
    chat.wait_for(&format!("* joined #{room}"));

    assert_eq!(cluster.cli(&[1]).send(room, "before"), 1);
    assert_eq!(
        texts(&json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT))),
        ["before"]
    );
    chat.wait_for("<sender> before");

    // Redis first, so the survivor refuses the re-joins; then the relay both clients use.
    cluster.kill_redis();
    cluster.relay(1).wait_health(false, BROKER_CHANGE_TIMEOUT);
    cluster.relay_mut(0).kill9();
    // The survivor cannot check nick claims without Redis: it refuses the sessions rather
    // than admit a nick it could not check, and the clients keep trying.
    let refused = "nick claims cannot be checked right now";
    tail.wait_for_stderr(refused, DEFAULT_TIMEOUT);
    chat.wait_for(refused);

    cluster.restart_redis();
    cluster.relay(1).wait_health(true, BROKER_CHANGE_TIMEOUT);
    let after: Vec<String> = (1..=3).map(|i| format!("after {i}")).collect();
    for (i, text) in after.iter().enumerate() {
        assert_eq!(cluster.cli(&[1]).send(room, text), i as u64 + 2);
    }
    let got = json_lines(&tail.take_lines(after.len(), DEFAULT_TIMEOUT));
    assert_eq!(seqs(&got), [2, 3, 4], "{}", tail.transcript());
    assert_eq!(texts(&got), after);
    for text in &after {
        chat.wait_for(&format!("<sender> {text}"));
    }

    // Each exactly once: the next line of each is the next message.
    assert_eq!(cluster.cli(&[1]).send(room, "marker"), 5);
    let next = json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(texts(&next), ["marker"], "{}", tail.transcript());
    let line = chat.wait_for_line(DEFAULT_TIMEOUT, |line| line.contains("<sender>"));
    assert!(line.ends_with("<sender> marker"), "{}", chat.transcript());

    // Both still follow the room, and the chat can still talk in it.
    chat.write_line("still here");
    let mine = json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(texts(&mine), ["still here"], "{}", chat.transcript());
}

#[test]
fn a_tail_prints_the_next_message_within_2s_of_its_relay_being_killed() {
    let room = "kill9";
    let mut cluster = Cluster::start(2);
    let mut tail = cluster.cli(&[0, 1]).tail(room);
    let survivor = cluster.cli(&[1]);
    assert_eq!(survivor.send(room, "before"), 1);
    assert_eq!(
        texts(&json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT))),
        ["before"]
    );

    cluster.relay_mut(0).kill9();
    // Acknowledged, i.e. stored, when `send` returns: from here the tail has 2 s.
    assert_eq!(survivor.send(room, "after the kill"), 2);
    let next = json_lines(&tail.take_lines(1, FAILOVER));
    assert_eq!(texts(&next), ["after the kill"], "{}", tail.transcript());
    assert_eq!(seqs(&next), [2]);
}

/// Sends `text` to `room` through the cluster's relays `order` (the first ones dead);
/// asserts it succeeded within [`SEND_PAST_DEAD_RELAYS`] and returns the seq it printed.
fn send_past_dead(cluster: &Cluster, order: &[usize], room: &str, text: &str) -> u64 {
    let out = cluster
        .cli(order)
        .nick("sender")
        .args(["send", room, text])
        .run(DEFAULT_TIMEOUT);
    out.assert_success();
    assert!(
        out.elapsed < SEND_PAST_DEAD_RELAYS,
        "relays {order:?}: {out}"
    );
    out.stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("send printed no seq: {out}"))
}

#[test]
fn a_send_goes_past_dead_relays_without_waiting_a_timeout_for_each() {
    let room = "detour";
    let mut cluster = Cluster::start(3);
    cluster.relay_mut(0).kill9();
    assert_eq!(send_past_dead(&cluster, &[0, 1], room, "past one"), 1);
    cluster.relay_mut(1).kill9();
    assert_eq!(send_past_dead(&cluster, &[0, 1, 2], room, "past two"), 2);
}
