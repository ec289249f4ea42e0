//! Edits, deletes, replies and reactions end to end, with real relay processes, a real
//! redis-server and the `chitchat` CLI: a change made through one relay reaches a tail on
//! another, a delete made while a reader was away is a tombstone when it comes back, only
//! the author changes a message, and edits survive a relay restart (SQLite).

use chitchat_tests::cluster::Cluster;
use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess, json_lines};

/// Runs `chitchat ARGS` as `nick` on the relays `order` of `cluster`; the seq it printed.
fn stored(cluster: &Cluster, order: &[usize], nick: &str, args: &[&str]) -> u64 {
    let out = cluster.cli(order).nick(nick).args(args).output();
    out.assert_success();
    out.stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no seq printed: {out}"))
}

#[test]
fn an_edit_through_one_relay_reaches_a_tail_on_the_other() {
    let room = "edits";
    let cluster = Cluster::start(2);
    let mut tail = cluster.cli(&[1]).tail(room);

    let first = stored(&cluster, &[0], "ann", &["send", room, "helo"]);
    let reply = stored(
        &cluster,
        &[1],
        "bob",
        &["send", room, "--reply-to", "1", "hi"],
    );
    let edit = stored(&cluster, &[0], "ann", &["edit", room, "1", "hello"]);
    let react = stored(&cluster, &[1], "bob", &["react", room, "1", "👍"]);
    let off = stored(&cluster, &[1], "bob", &["react", room, "1", "👍", "--off"]);
    assert_eq!([first, reply, edit, react, off], [1, 2, 3, 4, 5]);

    let lines = tail.take_lines(5, DEFAULT_TIMEOUT);
    let entries = json_lines(&lines);
    let kinds: Vec<Option<&str>> = entries.iter().map(|e| e["kind"].as_str()).collect();
    let expected = [
        None,
        Some("text"),
        Some("edit"),
        Some("react"),
        Some("react"),
    ];
    assert_eq!(
        kinds,
        expected,
        "a plain message as before; {}",
        tail.transcript()
    );
    assert_eq!(entries[1]["reply_to"], 1);
    assert_eq!(
        (entries[2]["target"].as_u64(), entries[2]["text"].as_str()),
        (Some(1), Some("hello"))
    );
    assert_eq!(
        (entries[3]["on"].as_bool(), entries[4]["on"].as_bool()),
        (Some(true), Some(false))
    );

    // A non-author can neither edit nor delete, through either relay; nothing is stored.
    let attempts: [(usize, &[&str]); 2] = [
        (0, &["edit", room, "1", "mine now"]),
        (1, &["delete", room, "1"]),
    ];
    for (relay, args) in attempts {
        let out = cluster.cli(&[relay]).nick("mallory").args(args).output();
        out.assert_exit_code(1);
        assert!(
            out.stderr.contains("only its author may change it"),
            "{out}"
        );
    }
    let history = cluster.cli(&[1]).args(["history", room, "--json"]).output();
    history.assert_success();
    let states = json_lines(&history.lines());
    assert_eq!(states.len(), 2, "texts only: {history}");
    assert_eq!(states[0]["text"], "hello");
    assert!(states[0]["edited"].is_string());
    assert_eq!(states[0]["reactions"], serde_json::json!({}));
    let next = stored(&cluster, &[0], "ann", &["send", room, "after the refusals"]);
    assert_eq!(next, 6, "the refused changes took no seq");
    tail.interrupt();
    tail.wait_success();
}

#[test]
fn a_message_deleted_while_a_reader_is_away_is_a_tombstone_when_it_resumes() {
    let room = "gone";
    let cluster = Cluster::start(2);
    let mut tail = cluster.cli(&[1]).tail(room);
    stored(&cluster, &[0], "ann", &["send", room, "oops"]);
    stored(&cluster, &[0], "ann", &["send", room, "fine"]);
    assert_eq!(json_lines(&tail.take_lines(2, DEFAULT_TIMEOUT)).len(), 2);
    tail.interrupt();
    tail.wait_success();

    let deleted = stored(&cluster, &[0], "ann", &["delete", room, "1"]);
    assert_eq!(deleted, 3);

    // Back from seq 2: the delete arrives, once, then live entries.
    let mut back = cluster
        .cli(&[1])
        .nick("reader")
        .args(["tail", room, "--since", "2", "--json"])
        .spawn();
    let resumed = json_lines(&back.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(
        (resumed[0]["kind"].as_str(), resumed[0]["target"].as_u64()),
        (Some("delete"), Some(1)),
        "{}",
        back.transcript()
    );
    stored(&cluster, &[0], "ann", &["send", room, "later"]);
    let next = json_lines(&back.take_lines(1, DEFAULT_TIMEOUT));
    assert_eq!(next[0]["seq"], 4, "nothing twice: {}", back.transcript());
    back.interrupt();
    back.wait_success();

    let history = cluster.cli(&[1]).args(["history", room]).output();
    history.assert_success();
    let lines = history.lines();
    assert!(lines[0].ends_with("#1 <ann> (deleted)"), "{history}");
    assert!(lines[1].ends_with("#2 <ann> fine"), "{history}");
}

#[test]
fn edits_survive_a_relay_restart() {
    let room = "durable";
    let mut relay = RelayProcess::start(&[]);
    let cli = || relay.cli().nick("ann");
    let run = |args: &[&str]| {
        let out = cli().args(args).output();
        out.assert_success();
        out
    };
    run(&["send", room, "draft"]);
    run(&["edit", room, "1", "final"]);
    run(&["react", room, "1", "🎉"]);
    relay.kill9();
    relay.restart();
    let out = relay.cli().args(["history", room, "--json"]).output();
    out.assert_success();
    let states = json_lines(&out.lines());
    assert_eq!(states.len(), 1, "{out}");
    assert_eq!(states[0]["text"], "final");
    assert!(states[0]["edited"].is_string());
    assert_eq!(states[0]["reactions"], serde_json::json!({"🎉": ["ann"]}));
    // The edit limit and the numbering went on from the store.
    assert_eq!(relay.cli().send(room, "next"), 4);
}

#[test]
fn bad_changes_are_refused_with_a_clear_error() {
    let relay = RelayProcess::start(&[]);
    let out = relay
        .cli()
        .nick("ann")
        .args(["send", "bad", "mine"])
        .output();
    out.assert_success();
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["react", "bad", "1", "🦀"],
            2,
            "is not a reaction; use one of 👍",
        ),
        (&["edit", "bad", "1"], 2, "required"),
        (&["edit", "bad", "one", "x"], 2, "invalid value"),
        (&["edit", "bad", "9", "x"], 1, "no message 9"),
        (&["delete", "bad", "1", "extra"], 2, "unexpected argument"),
        (&["send", "bad", "--reply-to", "9", "x"], 1, "no message 9"),
    ];
    for (args, code, says) in cases {
        let out = relay.cli().nick("ann").args(args).output();
        out.assert_exit_code(code);
        assert!(out.stderr.contains(says), "{args:?}: {out}");
    }
    // Nothing was stored.
    assert_eq!(relay.cli().send("bad", "next"), 2);
}
