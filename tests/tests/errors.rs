//! The CLI's failures: each exits non-zero with a sentence on stderr saying what went wrong,
//! in bounded time.

use std::net::UdpSocket;
use std::time::Duration;

use chitchat_tests::{Cli, RelayProcess};

#[test]
fn overlong_text_is_refused_by_the_relay() {
    let relay = RelayProcess::start(&[]);
    let out = relay
        .cli()
        .args(["send", "lobby", &"x".repeat(5000)])
        .output();
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains(
            "error: message too long (TEXT_TOO_LONG): message is 5000 bytes; the most is 4096"
        ),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");

    // A relay with a lower limit says so in its own numbers.
    let strict = RelayProcess::start(&["--max-text-bytes", "10"]);
    let out = strict.cli().args(["send", "lobby", "eleven byte"]).output();
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains("TEXT_TOO_LONG") && out.stderr.contains("the most is 10"),
        "{out}"
    );
}

#[test]
fn bad_room_names_are_explained() {
    let relay = RelayProcess::start(&[]);
    for (room, why) in [
        ("has space", "may not contain ' '"),
        ("_under", "must start with a letter or digit"),
        (&*"r".repeat(65), "the most is 64"),
    ] {
        for command in [
            vec!["send", room, "hi"],
            vec!["tail", room, "--count", "1"],
            vec!["history", room],
            vec!["chat", room],
        ] {
            let out = relay.cli().args(&command).output();
            out.assert_exit_code(1);
            assert!(
                out.stderr.contains("invalid room name (INVALID_ROOM)") && out.stderr.contains(why),
                "{command:?}: {out}"
            );
        }
    }
}

#[test]
fn invalid_nick_is_explained() {
    let relay = RelayProcess::start(&[]);
    let out = relay
        .cli()
        .nick("no spaces")
        .args(["send", "lobby", "hi"])
        .output();
    out.assert_exit_code(1);
    assert!(out.stderr.contains("invalid nick (INVALID_NICK)"), "{out}");
}

#[test]
fn unreachable_relay_is_named_with_the_ca_in_bounded_time() {
    // A bound UDP socket that never answers: packets to it vanish, as to a firewalled relay.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let addr = silent.local_addr().expect("its address").to_string();
    // A CA file that parses: the failure must be about reaching the relay, not the file.
    let relay = RelayProcess::start(&[]);
    let ca = relay.ca_file();
    // The CLI aimed at the silent relay, giving up on connecting after `timeout_ms`.
    let silent_cli = |timeout_ms: &str| {
        Cli::new().args([
            "--relay",
            &addr,
            "--ca",
            &ca.to_string_lossy(),
            "--connect-timeout-ms",
            timeout_ms,
        ])
    };

    let out = silent_cli("1500")
        .args(["send", "lobby", "hi"])
        .run(Duration::from_secs(20));
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains(&format!("cannot reach relay {addr}"))
            && out.stderr.contains(&*ca.to_string_lossy())
            && out.stderr.contains("no answer within 1500 ms"),
        "{out}"
    );
    assert!(out.elapsed < Duration::from_secs(10), "{out}");

    // tail waits for a relay instead, saying why and counting down (tests/cli_config.rs).
    let mut tail = silent_cli("1000").args(["tail", "lobby"]).spawn();
    let waiting = tail.wait_for_stderr("retrying in", Duration::from_secs(20));
    assert!(
        waiting.contains(&format!("cannot reach relay {addr}")),
        "{waiting}"
    );
    tail.interrupt();
    tail.wait_success();

    // A missing CA file is named, with what to do about it.
    let out = Cli::new()
        .args(["--relay", relay.quic_addr(), "--ca", "/nonexistent/ca.pem"])
        .args(["send", "lobby", "hi"])
        .output();
    out.assert_exit_code(1);
    assert!(
        out.stderr
            .contains("cannot use CA file /nonexistent/ca.pem")
            && out.stderr.contains("--ca"),
        "{out}"
    );
}

#[test]
fn every_relay_is_tried_in_turn() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let dead = silent.local_addr().expect("its address").to_string();
    let relay = RelayProcess::start(&[]);
    // The first relay never answers; the second takes the message. It is named by host
    // name: the certificate is checked against "localhost".
    let by_name = relay.quic_addr().replace("127.0.0.1", "localhost");
    let out = Cli::new()
        .args(["--relay", &dead, "--relay", &by_name])
        .args([
            "--ca",
            &relay.ca_file().to_string_lossy(),
            "--connect-timeout-ms",
            "1000",
        ])
        .args(["send", "lobby", "via the second relay"])
        .output();
    out.assert_success();
    assert_eq!(out.stdout.trim(), "1", "{out}");

    // Both unreachable: one error naming each.
    let silent2 = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let dead2 = silent2.local_addr().expect("its address").to_string();
    let out = Cli::new()
        .env("CHITCHAT_RELAY", format!("{dead},{dead2}"))
        .args([
            "--ca",
            &relay.ca_file().to_string_lossy(),
            "--connect-timeout-ms",
            "500",
        ])
        .args(["history", "lobby"])
        .output();
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains("cannot reach any relay")
            && out.stderr.contains(&dead)
            && out.stderr.contains(&dead2),
        "{out}"
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let relay = RelayProcess::start(&[]);
    let other = RelayProcess::start(&[]);
    let with_other_ca = |command: &[&str]| {
        Cli::new()
            .args([
                "--relay",
                relay.quic_addr(),
                "--ca",
                &other.ca_file().to_string_lossy(),
            ])
            .args(command)
            .output()
    };
    let out = with_other_ca(&["send", "lobby", "hi"]);
    // A configuration problem (exit 2), said as one, naming the CA file and what to do.
    out.assert_exit_code(2);
    let said = format!(
        "the certificate of relay {} is not signed by the CA in {}",
        relay.quic_addr(),
        other.ca_file().display()
    );
    assert!(
        out.stderr.contains(&said) && out.stderr.contains("--ca"),
        "{out}"
    );
    // `tail` waits for a relay that is down, but not for a CA that cannot match: it stops
    // at once with the same words instead of retrying.
    let out = with_other_ca(&["tail", "lobby"]);
    out.assert_exit_code(2);
    assert!(
        out.stderr.contains(&said) && !out.stderr.contains("retrying"),
        "{out}"
    );
}
