//! The real `chitchat` binary, without a relay: usage errors, flags from the environment,
//! and the errors a user sees before any relay answers.
//!
//! Everything with a relay is in the end-to-end tests (`tests/`).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A parseable CA certificate that signed nothing: the failure must then be about the relay.
fn fixture_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unrelated-ca.pem")
}

/// `chitchat` with a clean environment (none of the developer's CHITCHAT_* variables).
fn chitchat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chitchat"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHITCHAT_") {
            command.env_remove(key);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// Runs to the end; the commands here finish in well under the connect timeouts they set,
/// which bound them.
fn run(command: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let output = command.output().expect("running chitchat");
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["tail"],
        vec!["frobnicate"],
        vec!["tail", "lobby", "--count", "0"],
        vec!["history", "lobby", "--limit", "x"],
        vec!["--relay", "no-port", "send", "lobby", "hi"],
    ] {
        let (out, _) = run(chitchat().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        // A usage error, or (no arguments) the usage itself.
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") || err.contains("Usage: chitchat"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_names_every_flag_and_its_variable() {
    let (out, _) = run(chitchat().arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--relay",
        "CHITCHAT_RELAY",
        "localhost:4433",
        "--nick",
        "CHITCHAT_NICK",
        "--ca",
        "CHITCHAT_CA",
        "./certs/ca.pem",
        "send",
        "tail",
        "history",
        "chat",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn unreachable_relay_names_the_address_and_the_ca() {
    // Bound but silent: the handshake gets no answer.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let addr = silent.local_addr().expect("its address").to_string();
    let ca = fixture_ca();
    let (out, elapsed) = run(chitchat()
        .args(["--relay", &addr, "--ca", &ca.to_string_lossy()])
        .args(["--connect-timeout-ms", "500", "send", "lobby", "hi"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: cannot reach relay {addr} (trusting the CA in {}",
            ca.display()
        )) && err.contains("no answer within 500 ms"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn flags_come_from_the_environment() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let addr = silent.local_addr().expect("its address").to_string();
    let (out, _) = run(chitchat()
        .env("CHITCHAT_RELAY", &addr)
        .env("CHITCHAT_CA", fixture_ca())
        .env("CHITCHAT_CONNECT_TIMEOUT_MS", "300")
        .args(["history", "lobby"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach relay {addr}")) && err.contains("300 ms"),
        "{err}"
    );

    let (out, _) = run(chitchat()
        .env("CHITCHAT_NICK", "not a nick")
        .env("CHITCHAT_CA", fixture_ca())
        .args(["send", "lobby", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid nick (INVALID_NICK)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn local_checks_come_before_any_connection() {
    // No relay at the default address is needed to refuse these (a CA is: without one
    // the configuration is refused first, exit 2).
    let (out, _) =
        run(chitchat()
            .env("CHITCHAT_CA", fixture_ca())
            .args(["send", "no/slashes", "hi"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: invalid room name (INVALID_ROOM)"),
        "{}",
        stderr(&out)
    );

    let (out, _) = run(chitchat().args(["--ca", "/nonexistent/ca.pem", "tail", "lobby"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: cannot use CA file /nonexistent/ca.pem"),
        "{}",
        stderr(&out)
    );
}
