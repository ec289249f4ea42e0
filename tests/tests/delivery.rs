//! Messages reach every reader: what one `chitchat send` stores, `chitchat tail` prints, in
//! seq order, each once.

use std::time::Duration;

use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess, json_lines, seqs, texts};

/// The first acceptance check: send, then `tail --since 0 --count 1 --json` prints it.
#[test]
fn sent_message_is_tailed_as_json() {
    let relay = RelayProcess::start(&[]);
    let sent = relay
        .cli()
        .nick("ada")
        .args(["send", "lobby", "hello", "world"])
        .output();
    sent.assert_success();
    assert_eq!(sent.stdout.trim(), "1", "send prints the seq: {sent}");

    let tail = relay
        .cli()
        .nick("bob")
        .args(["tail", "lobby", "--since", "0", "--count", "1", "--json"])
        .output();
    tail.assert_success();
    let lines = tail.lines();
    assert_eq!(lines.len(), 1, "{tail}");
    let msg = &json_lines(&lines)[0];
    assert_eq!(msg["room"], "lobby");
    assert_eq!(msg["seq"], 1);
    assert_eq!(msg["from"], "ada");
    assert_eq!(msg["text"], "hello world");
    assert!(msg["epoch"].as_u64().is_some(), "{msg}");
    // RFC 3339, UTC, millisecond precision: 2025-03-01T12:34:56.789Z
    let ts = msg["ts"].as_str().expect("ts is a string");
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(
        ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.',
        "{ts}"
    );
    // Exactly these fields, in this order.
    assert_eq!(msg.as_object().map(|o| o.len()), Some(6), "{msg}");
    let at: Vec<usize> = ["room", "seq", "epoch", "from", "text", "ts"]
        .iter()
        .map(|key| {
            lines[0]
                .find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("no {key}: {}", lines[0]))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "field order: {}",
        lines[0]
    );

    // The plain format, from history.
    let history = relay.cli().args(["history", "lobby"]).output();
    history.assert_success();
    let line = history.stdout.trim();
    let (clock, rest) = line.split_at(10.min(line.len()));
    assert_eq!(rest, " #1 <ada> hello world", "{history}");
    let clock = clock.as_bytes();
    assert!(
        clock[0] == b'[' && clock[9] == b']' && clock[3] == b':' && clock[6] == b':',
        "[HH:MM:SS] expected: {history}"
    );
}

/// Two live tails and one sender, 50 messages: both tails print all 50 in seq order.
#[test]
fn two_tails_see_every_message_in_order() {
    const COUNT: usize = 50;
    let relay = RelayProcess::start(&[]);
    let mut tails: Vec<_> = ["t1", "t2"]
        .iter()
        .map(|nick| {
            relay
                .cli()
                .nick(nick)
                .args(["tail", "fanout", "--json", "--count", &COUNT.to_string()])
                .spawn()
        })
        .collect();
    // Live tails: start sending only once both are in the room.
    for tail in &mut tails {
        tail.wait_for_stderr("following fanout", DEFAULT_TIMEOUT);
    }

    let mut sent_seqs = Vec::new();
    let mut sent_texts = Vec::new();
    for i in 0..COUNT {
        let text = format!("message {i} of {COUNT}");
        let out = relay
            .cli()
            .nick("sender")
            .args(["send", "fanout", &text])
            .output();
        out.assert_success();
        let seq: u64 = out
            .stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("send printed no seq: {out}"));
        sent_seqs.push(seq);
        sent_texts.push(text);
    }
    assert_eq!(sent_seqs, (1..=COUNT as u64).collect::<Vec<_>>());

    for tail in &mut tails {
        let lines = tail.take_lines(COUNT, DEFAULT_TIMEOUT);
        let messages = json_lines(&lines);
        assert_eq!(seqs(&messages), sent_seqs, "{}", tail.transcript());
        assert_eq!(texts(&messages), sent_texts);
        assert!(messages.iter().all(|m| m["from"] == "sender"));
        let status = tail.wait_exit(Duration::from_secs(10));
        assert!(
            status.success(),
            "tail --count exits 0: {}",
            tail.transcript()
        );
        assert_eq!(
            tail.next_line(Duration::from_millis(0)),
            None,
            "nothing after the count"
        );
    }
}

/// `history --limit N` pages back with `before` when N is over one page (the relay's pages
/// hold at most 100), and prints the newest N oldest first.
#[test]
fn history_pages_back() {
    const COUNT: u64 = 250;
    // Lift the per-session rate limit: one chat sends all the messages as fast as it can.
    let relay = RelayProcess::start(&["--msgs-per-sec", "100000", "--msgs-burst", "100000"]);
    let mut chat = relay.cli().nick("writer").args(["chat", "pages"]).spawn();
    chat.wait_for("* joined #pages");
    for i in 1..=COUNT {
        chat.write_line(&format!("line {i}"));
    }
    chat.wait_for(&format!("<writer> line {COUNT}"));
    chat.close_stdin();
    chat.wait_success();

    for limit in [1u64, 7, 100, 101, 230, 250, 400] {
        let out = relay
            .cli()
            .args(["history", "pages", "--json", "--limit", &limit.to_string()])
            .output();
        out.assert_success();
        let messages = json_lines(&out.lines());
        let newest = limit.min(COUNT);
        assert_eq!(
            seqs(&messages),
            ((COUNT - newest + 1)..=COUNT).collect::<Vec<_>>(),
            "--limit {limit}"
        );
        let expected: Vec<String> = ((COUNT - newest + 1)..=COUNT)
            .map(|i| format!("line {i}"))
            .collect();
        assert_eq!(texts(&messages), expected);
    }
}

/// Ctrl-C ends a tail with exit code 0 (after telling the relay), not by the signal.
#[test]
fn interrupted_tail_exits_cleanly() {
    let relay = RelayProcess::start(&[]);
    let mut tail = relay.cli().args(["tail", "quiet"]).spawn();
    tail.wait_for_stderr("following quiet", DEFAULT_TIMEOUT);
    tail.interrupt();
    tail.wait_success();
}

/// Without --nick: $USER if it is a valid nick, else "guest".
#[test]
fn default_nick_comes_from_user() {
    let relay = RelayProcess::start(&[]);
    for (user, expected) in [("zed", "zed"), ("not valid!", "guest")] {
        relay
            .cli()
            .env("USER", user)
            .args(["send", "nicks", "hi"])
            .output()
            .assert_success();
        let out = relay
            .cli()
            .args(["history", "nicks", "--json", "--limit", "1"])
            .output();
        out.assert_success();
        assert_eq!(
            json_lines(&out.lines())[0]["from"],
            expected,
            "USER={user:?}"
        );
    }
}

/// `--worker-threads` sets how many threads serve sessions (several relays sharing a
/// machine each take their share of the cores); the default is one per core.
#[test]
fn worker_threads_flag_sets_the_relays_threads() {
    let workers = |relay: &RelayProcess| {
        relay
            .metric("chitchat_worker_threads")
            .expect("reading /metrics")
            .expect("chitchat_worker_threads is listed")
    };
    let one = RelayProcess::start(&["--worker-threads", "1"]);
    assert_eq!(one.cli().send("lobby", "served by one thread"), 1);
    assert_eq!(workers(&one), 1.0);

    let three = RelayProcess::start(&["--worker-threads", "3"]);
    assert_eq!(three.cli().send("lobby", "served by three"), 1);
    assert_eq!(workers(&three), 3.0);

    let default = RelayProcess::start(&[]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(workers(&default), cores as f64);

    let refused = std::process::Command::new(chitchat_tests::relay_bin())
        .args(["--worker-threads", "0"])
        .env_remove("CHITCHAT_WORKER_THREADS")
        .output()
        .expect("running chitchat-relay");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}
