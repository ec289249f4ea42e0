//! The `chitchat` CLI against a relay in token mode (`--auth jwt`), with tokens minted by
//! `chitchat-relay token`: the three ways to give a token, a live `tail` refreshed by
//! `--token-command` (no gap, no duplicate, no reconnection), a session that outlived its
//! token resuming with a fresh one, a refresh withdrawing the room, and every refusal in words that say what to do, with
//! exit code 77.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chitchat_tests::tokens::{TokenRelay, token_expiry_ms};
use chitchat_tests::{CliProcess, DEFAULT_TIMEOUT, json_lines, seqs, texts};

/// The CLI's exit code for a refused, expired or missing token, or a room not granted.
const EXIT_AUTH: i32 = 77;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Waits until the wall clock is past `at_ms` (a token's expiry).
fn wait_until_past(at_ms: u64) {
    let left = at_ms.saturating_sub(now_ms()) + 1000;
    std::thread::sleep(Duration::from_millis(left));
    assert!(now_ms() > at_ms);
}

/// Reads `n` messages from a `tail --json`, as (from, text) in order, checking their seqs.
fn messages(tail: &mut CliProcess, n: usize) -> Vec<(String, String)> {
    let lines = tail.take_lines(n, DEFAULT_TIMEOUT);
    let messages = json_lines(&lines);
    messages
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap_or_default().to_owned(),
                m["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn tokens_from_the_flag_a_file_and_the_environment() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, auth.mint("bob", &["lobby=rw"], "1h") + "\n").unwrap();

    let alice = auth.mint("alice", &["lobby=r"], "1h");
    let mut tail = relay.cli().args(["--token", &alice]).tail("lobby");

    relay
        .cli()
        .args(["--token-file", &file.to_string_lossy()])
        .send("lobby", "from a file");
    relay
        .cli()
        .env("CHITCHAT_TOKEN", auth.mint("carol", &["*=rw"], "1h"))
        .send("lobby", "from the environment");
    // The nick is the token's, whatever --nick says (Cli::send passes --nick sender).
    assert_eq!(
        messages(&mut tail, 2),
        [
            ("bob".to_owned(), "from a file".to_owned()),
            ("carol".to_owned(), "from the environment".to_owned())
        ]
    );
    // A token given with the flag wins over CHITCHAT_TOKEN.
    let out = relay
        .cli()
        .env("CHITCHAT_TOKEN", "not-a-token")
        .args(["--token", &auth.mint("dave", &["lobby=w"], "1h")])
        .args(["send", "lobby", "flag wins"])
        .output();
    out.assert_success();
    assert_eq!(messages(&mut tail, 1)[0].0, "dave");
}

#[test]
fn a_token_command_refreshes_a_live_tail_without_a_gap() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    // Each run prints a fresh 4 s token: the relay warns at once, the CLI refreshes half
    // way through each, and the first token's expiry passes while the tail streams.
    let command = auth.mint_command("reader", &["live=r"], "4s");
    let first_expiry = now_ms() + 4_000;
    let mut tail = relay.cli().args(["--token-command", &command]).tail("live");
    let sender = relay
        .cli()
        .args(["--token", &auth.mint("writer", &["live=w"], "1h")]);
    let mut sent = Vec::new();
    for round in 0..3 {
        let text = format!("before refresh {round}");
        sender.send("live", &text);
        sent.push(text);
        tail.wait_for_stderr("token refreshed", DEFAULT_TIMEOUT);
    }
    wait_until_past(first_expiry);
    sender.send("live", "after the first token expired");
    sent.push("after the first token expired".into());

    let lines = tail.take_lines(sent.len(), DEFAULT_TIMEOUT);
    let got = json_lines(&lines);
    assert_eq!(texts(&got), sent, "every message once, in order");
    assert_eq!(seqs(&got), (1..=sent.len() as u64).collect::<Vec<_>>());
    tail.interrupt();
    tail.wait_success();
    let transcript = tail.transcript();
    assert!(
        !transcript.contains("reconnecting") && !transcript.contains("TOKEN_EXPIRED"),
        "the refreshed session never dropped:\n{transcript}"
    );
}

#[test]
fn a_session_whose_token_expired_resumes_with_a_fresh_one() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let short = auth.mint("reader", &["room=r"], "3s");
    let expiry = token_expiry_ms(&short);
    std::fs::write(&file, &short).unwrap();
    let mut tail = relay
        .cli()
        .args(["--token-file", &file.to_string_lossy()])
        .tail("room");
    let sender = relay
        .cli()
        .args(["--token", &auth.mint("writer", &["room=w"], "1h")]);
    sender.send("room", "one");
    // The first refresh re-reads the same token; then the file is emptied, the next
    // refresh fails, and the relay closes the session at the token's expiry. Reconnecting
    // fails on the empty file until a fresh token is put there.
    tail.wait_for_stderr("token refreshed", DEFAULT_TIMEOUT);
    std::fs::write(&file, "").unwrap();
    tail.wait_for_stderr("cannot refresh the token", DEFAULT_TIMEOUT);
    sender.send("room", "two");
    tail.wait_for_stderr("TOKEN_EXPIRED", DEFAULT_TIMEOUT);
    tail.wait_for_stderr("is empty; retrying", DEFAULT_TIMEOUT);
    assert!(now_ms() >= expiry);
    std::fs::write(&file, auth.mint("reader", &["room=r"], "1h")).unwrap();
    tail.wait_for_stderr("connected to", DEFAULT_TIMEOUT);
    sender.send("room", "three");
    let got = json_lines(&tail.take_lines(3, DEFAULT_TIMEOUT));
    assert_eq!(texts(&got), ["one", "two", "three"]);
    assert_eq!(seqs(&got), [1, 2, 3]);
}

#[test]
fn a_refresh_that_withdraws_the_room_ends_the_tail_saying_so() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, auth.mint("reader", &["room=r"], "3s")).unwrap();
    let mut tail = relay
        .cli()
        .args(["--token-file", &file.to_string_lossy()])
        .tail("room");
    relay
        .cli()
        .args(["--token", &auth.mint("writer", &["room=w"], "1h")])
        .send("room", "one");
    assert_eq!(
        texts(&json_lines(&tail.take_lines(1, DEFAULT_TIMEOUT))),
        ["one"]
    );
    // The next refresh reads a token for the same user that no longer grants the room:
    // the relay leaves it (Left with id 0) and the tail, with nothing left to follow, ends.
    std::fs::write(&file, auth.mint("reader", &["elsewhere=r"], "1h")).unwrap();
    let said = tail.wait_for_stderr("no longer in room", DEFAULT_TIMEOUT);
    assert!(said.contains("no longer grants room"), "{said}");
    assert!(!tail.wait_exit(DEFAULT_TIMEOUT).success());
}

#[test]
fn refused_tokens_say_what_to_do_and_exit_77() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    let run = |cli: chitchat_tests::Cli| {
        let out = cli.args(["send", "team-a", "hello"]).output();
        out.assert_exit_code(EXIT_AUTH);
        out.stderr
    };

    // No token at all.
    let err = run(relay.cli());
    assert!(err.contains("UNAUTHORIZED"), "{err}");

    // Signed with another secret: the relay's reason is shown.
    let other = TokenRelay::start(&[]);
    let forged = other.mint("mallory", &["*=rw"], "1h");
    drop(other);
    let err = run(relay.cli().args(["--token", &forged]));
    assert!(
        err.contains("not signed in (UNAUTHORIZED)") && err.contains("signature"),
        "{err}"
    );

    // A room the token does not grant: named.
    let token = auth.mint("alice", &["team-b=rw"], "1h");
    let err = run(relay.cli().args(["--token", &token]));
    assert!(
        err.contains("cannot send to team-a") && err.contains("FORBIDDEN"),
        "{err}"
    );

    // An expired token: when, and what to do.
    let short = auth.mint("alice", &["team-a=rw"], "1s");
    wait_until_past(token_expiry_ms(&short));
    let err = run(relay.cli().args(["--token", &short]));
    assert!(
        err.contains("token expired at ") && err.contains("UTC; run with a fresh --token"),
        "{err}"
    );
    let err = run(relay.cli().env("CHITCHAT_TOKEN", &short));
    assert!(err.contains("run with a fresh CHITCHAT_TOKEN"), "{err}");

    // The relay is unharmed: a good token still sends.
    let good = auth.mint("alice", &["team-a=rw"], "1h");
    relay
        .cli()
        .args(["--token", &good])
        .send("team-a", "still fine");
}

#[test]
fn bad_token_sources_are_refused_before_connecting() {
    let auth = TokenRelay::start(&[]);
    let relay = &auth.relay;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing");
    let huge = dir.path().join("huge");
    std::fs::write(&huge, "x".repeat(1 << 20)).unwrap();
    let oversized = "x".repeat(4097);
    let slow = format!("sleep {}", DEFAULT_TIMEOUT.as_secs());

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--token-file", empty.to_str().unwrap()],
            "the token from the file",
        ),
        (
            vec!["--token-file", missing.to_str().unwrap()],
            "cannot read the token file",
        ),
        (vec!["--token-file", huge.to_str().unwrap()], "is over"),
        (
            vec!["--token-command", "echo no credentials >&2; exit 3"],
            "failed (exit status: 3): no credentials",
        ),
        (vec!["--token-command", "true"], "is empty"),
        (vec!["--token-command", &slow], "did not finish within 10 s"),
        (
            vec!["--token", &oversized],
            "the most a relay takes is 4096",
        ),
        (vec!["--token", "two words"], "characters no token has"),
    ];
    for (args, wording) in cases {
        let started = Instant::now();
        let out = relay
            .cli()
            .args(&args)
            .args(["send", "lobby", "hi"])
            .output();
        out.assert_exit_code(EXIT_AUTH);
        assert!(out.stderr.contains(wording), "{}: {}", args[0], out.stderr);
        assert!(started.elapsed() < DEFAULT_TIMEOUT);
    }
    // The checks are the client's: no token too long or malformed reached the relay.
    for reason in ["too_long", "malformed"] {
        let metric = format!("chitchat_auth_refusals_total{{reason=\"{reason}\"}}");
        let refused = relay.metric(&metric).ok().flatten().unwrap_or(0.0);
        assert_eq!(refused, 0.0, "{metric}");
    }
    let good = auth.mint("alice", &["lobby=rw"], "1h");
    relay.cli().args(["--token", &good]).send("lobby", "fine");
}
