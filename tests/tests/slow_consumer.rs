//! A reader that cannot keep up is disconnected by the relay (SLOW_CONSUMER), reconnects,
//! resumes from history, and in the end has printed every message exactly once.

use std::time::Duration;

use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess, json_lines, seqs};

#[test]
fn a_stalled_tail_is_dropped_then_catches_up_exactly_once() {
    // Far more than the stalled tail can hold: its stdout pipe (64 KiB), its event queues
    // (a few hundred messages), its QUIC receive window (~1.25 MB) and the relay's queue.
    const COUNT: usize = 1200;
    let room = "firehose";
    let relay = RelayProcess::start(&[
        "--queue-len",
        "64",
        "--msgs-per-sec",
        "100000",
        "--msgs-burst",
        "100000",
    ]);
    let mut tail = relay
        .cli()
        .nick("slow")
        .args(["tail", room, "--json", "--count", &COUNT.to_string()])
        .spawn();
    tail.wait_for_stderr(&format!("following {room}"), DEFAULT_TIMEOUT);
    // The tail's output now backs up into the tail itself.
    tail.pause_stdout();

    let text = |i: usize| format!("{i:05} {}", "x".repeat(4000));
    let mut sender = relay.cli().nick("fast").args(["chat", room]).spawn();
    sender.wait_for(&format!("* joined #{room}"));
    for i in 1..=COUNT {
        sender.write_line(&text(i));
    }
    sender.wait_for_line(Duration::from_secs(120), |line| {
        line.contains(&format!("<fast> {COUNT:05} "))
    });
    let sender_out = sender.transcript();
    assert!(!sender_out.contains("! not sent"), "every send was stored");

    tail.resume_stdout();
    let lines = tail.take_lines(COUNT, Duration::from_secs(120));
    let messages = json_lines(&lines);
    assert_eq!(
        seqs(&messages),
        (1..=COUNT as u64).collect::<Vec<_>>(),
        "every message once, in order"
    );
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["text"].as_str(), Some(text(i + 1).as_str()));
    }
    tail.wait_success();
    let transcript = tail.transcript();
    assert!(
        transcript.contains("SLOW_CONSUMER") && transcript.contains("reconnecting"),
        "the relay dropped the stalled tail and it came back:\n{}",
        transcript
            .lines()
            .filter(|l| !l.starts_with('{'))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
