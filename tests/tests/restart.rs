//! Relays go away; readers do not notice beyond a pause. A `chitchat tail` resumes after the
//! relay is killed (`kill -9`) or shut down (SIGTERM, GoAway) and restarted on the same port
//! and data directory, and prints every message exactly once.

use std::time::Duration;

use chitchat_tests::{CliProcess, DEFAULT_TIMEOUT, RelayProcess, json_lines, seqs, texts};

/// Sends `texts`, checks the seqs are the next ones after `after`, and that the tail prints
/// exactly those messages next.
fn send_and_expect(
    relay: &RelayProcess,
    tail: &mut CliProcess,
    room: &str,
    after: u64,
    sent: &[String],
) {
    let seqs_sent: Vec<u64> = sent.iter().map(|t| relay.cli().send(room, t)).collect();
    let expected: Vec<u64> = (after + 1..=after + sent.len() as u64).collect();
    assert_eq!(seqs_sent, expected, "seqs continue across the restart");
    let lines = tail.take_lines(sent.len(), DEFAULT_TIMEOUT);
    let messages = json_lines(&lines);
    assert_eq!(seqs(&messages), expected, "{}", tail.transcript());
    assert_eq!(texts(&messages), sent);
}

fn batch(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i}")).collect()
}

#[test]
fn tail_resumes_after_kill_9_exactly_once() {
    let room = "restarts";
    let mut relay = RelayProcess::start(&[]);
    let mut tail = relay.cli().tail(room);

    let before = batch("before", 5);
    send_and_expect(&relay, &mut tail, room, 0, &before);

    relay.kill9();
    relay.restart();

    // Stored while the tail is still on its dead connection: it must fetch them on resume.
    let after = batch("after", 5);
    send_and_expect(&relay, &mut tail, room, 5, &after);
    tail.wait_for_stderr(
        &format!("connected to {}", relay.quic_addr()),
        DEFAULT_TIMEOUT,
    );

    // Nothing twice: the next line the tail prints is the next message, not a repeat.
    let marker = relay.cli().send(room, "marker");
    assert_eq!(marker, 11);
    let next = json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(seqs(&next), vec![11], "{}", tail.transcript());

    // History on the restarted relay holds everything, including what came before the kill.
    let history = relay
        .cli()
        .args(["history", room, "--json", "--limit", "100"])
        .output();
    history.assert_success();
    let stored = json_lines(&history.lines());
    assert_eq!(seqs(&stored), (1..=11).collect::<Vec<_>>());
    let mut all = before.clone();
    all.extend(after.iter().cloned());
    all.push("marker".into());
    assert_eq!(texts(&stored), all);
    // One epoch throughout: the store kept its history.
    assert!(
        stored.iter().all(|m| m["epoch"] == stored[0]["epoch"]),
        "{history}"
    );
}

#[test]
fn tail_follows_a_graceful_shutdown_and_restart() {
    let room = "goaway";
    let mut relay = RelayProcess::start(&[]);
    let mut tail = relay.cli().tail(room);

    send_and_expect(&relay, &mut tail, room, 0, &batch("first", 3));

    let status = relay.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "SIGTERM is a clean exit: {status}\n{}",
        relay.logs()
    );
    // The relay said GoAway before closing; the tail says what it does about it.
    tail.wait_for_stderr("is going away", DEFAULT_TIMEOUT);

    relay.restart();
    tail.wait_for_stderr(
        &format!("connected to {}", relay.quic_addr()),
        DEFAULT_TIMEOUT,
    );
    send_and_expect(&relay, &mut tail, room, 3, &batch("second", 3));
    let marker = relay.cli().send(room, "marker");
    let next = json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(seqs(&next), vec![marker], "{}", tail.transcript());
}
