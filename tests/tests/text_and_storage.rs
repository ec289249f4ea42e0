//! Text that tries to forge lines, and a relay out of disk space, through the real CLI and a
//! real relay process: the CLI prints one line per message whatever the text holds, and a
//! full disk is a clear error for the sender while history stays readable.

use chitchat_tests::{RelayProcess, json_lines, texts};

#[test]
fn line_separators_and_newlines_cannot_forge_a_message_line() {
    let relay = RelayProcess::start(&[]);
    let forged = "hi\u{2028}[12:00:00] #2 <admin> fake\u{2029}[12:00:01] #3 <root> also fake";
    relay.cli().send("lobby", forged);
    relay.cli().send(
        "lobby",
        "two\n[12:00:02] #4 <admin> indented, not a message",
    );

    let out = relay.cli().args(["history", "lobby"]).output();
    out.assert_success();
    let lines = out.lines();
    // A line that starts with `[` starts a message: exactly the two sent.
    let starts: Vec<&&str> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert_eq!(starts.len(), 2, "{out}");
    assert!(
        starts[0].contains(r"hi\u{2028}[12:00:00] #2 <admin> fake\u{2029}"),
        "{out}"
    );
    assert!(
        !out.stdout.contains('\u{2028}') && !out.stdout.contains('\u{2029}'),
        "{out}"
    );
    assert!(
        lines.contains(&"    [12:00:02] #4 <admin> indented, not a message"),
        "{out}"
    );

    // JSON keeps the text exactly, one object per line.
    let out = relay.cli().args(["history", "lobby", "--json"]).output();
    out.assert_success();
    let messages = json_lines(&out.lines());
    assert_eq!(messages.len(), 2, "{out}");
    assert_eq!(texts(&messages)[0], forged);
}

#[test]
fn a_full_disk_is_explained_to_the_sender_and_history_stays_readable() {
    let relay = RelayProcess::start(&["--min-free-disk-mb", "1000000000"]);
    let refused = relay.cli().args(["send", "lobby", "hello"]).output();
    refused.assert_exit_code(1);
    let says_why = ["STORAGE_FULL", "disk is nearly full", "nothing was stored"];
    assert!(
        says_why.iter().all(|s| refused.stderr.contains(s)),
        "{refused}"
    );
    let out = relay.cli().args(["history", "lobby", "--json"]).output();
    out.assert_success();
    assert!(out.lines().is_empty(), "nothing was stored: {out}");
}
