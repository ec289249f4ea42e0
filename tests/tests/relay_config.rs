//! Installing, configuring and starting a relay, with real `chitchat-relay` processes: the
//! configuration file (`--config`, `config print`, `config check`) and its precedence, the
//! log level (`--log-level`, `RUST_LOG`, the old `CHITCHAT_LOG`), fatal start-up errors
//! printed once and naming what is at fault, and the set-up script's toolchain check.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chitchat_tests::{DEFAULT_TIMEOUT, RELAY_START_TIMEOUT, relay_bin};

/// The repository's root (scripts/, Cargo.toml, relay.example.toml).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// `chitchat-relay ARGS` run in `dir`, with none of the developer's `CHITCHAT_*` or
/// `RUST_LOG` settings.
fn relay_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(relay_bin());
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("CHITCHAT_") || text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A finished process's exit status and output.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Reads a whole stream on a thread.
fn drain(mut stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` to exit within `timeout`; kills it and panics if it does not.
fn wait_exit(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {timeout:?}");
        }
        // std has no wait-with-timeout for a child; 20 ms steps bound the extra wait.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to its end (it must exit on its own).
fn finish(mut command: Command) -> Finished {
    let what = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_exit(&mut child, DEFAULT_TIMEOUT, &what);
    Finished {
        status,
        stdout: stdout.recv_timeout(DEFAULT_TIMEOUT).unwrap_or_default(),
        stderr: stderr.recv_timeout(DEFAULT_TIMEOUT).unwrap_or_default(),
    }
}

/// Starts `command` (a relay), waits for its READY line, lets `check` see it, then stops it
/// with SIGTERM and returns its whole stderr.
fn serve(mut command: Command, check: impl FnOnce(&str)) -> String {
    let mut child = command.spawn().expect("spawning chitchat-relay");
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + RELAY_START_TIMEOUT;
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with("READY ") => break line,
            Ok(_) => continue,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let logs = stderr.recv_timeout(DEFAULT_TIMEOUT).unwrap_or_default();
                panic!("no READY line within {RELAY_START_TIMEOUT:?}; stderr:\n{logs}");
            }
        }
    };
    check(&ready);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -TERM failed");
    wait_exit(&mut child, DEFAULT_TIMEOUT, "stopping the relay");
    stderr.recv_timeout(DEFAULT_TIMEOUT).unwrap_or_default()
}

/// A scratch directory with `relay.toml` holding `toml`.
fn with_file(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("chitchat-config-")
        .tempdir()
        .expect("a temporary directory");
    std::fs::write(dir.path().join("relay.toml"), toml).expect("writing relay.toml");
    dir
}

/// The `key = value` line of `config print`'s output, without its note.
fn printed<'a>(output: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    output
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.split("  #").next().unwrap_or(v))
        .unwrap_or_else(|| panic!("no {key} in:\n{output}"))
}

/// The settings every relay of these tests needs: loopback, free ports, its own directories.
const LOOPBACK: &str = "listen = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
                        data-dir = \"data\"\ncerts-dir = \"certs\"\n";

#[test]
fn a_relay_runs_from_its_configuration_file() {
    let dir = with_file(&format!("{LOOPBACK}node-id = \"from-the-file\"\n"));
    let command = relay_in(dir.path(), &["--config", "relay.toml"]);
    serve(command, |ready| {
        let http = ready
            .split_whitespace()
            .find_map(|f| f.strip_prefix("http="))
            .expect("http= in READY");
        let health =
            chitchat_tests::http::get(http, "/healthz", DEFAULT_TIMEOUT).expect("/healthz");
        assert!(
            health.body.contains("\"node\":\"from-the-file\""),
            "{}",
            health.body
        );
    });
    // CHITCHAT_RELAY_CONFIG names the file too (the CLI's own file is CHITCHAT_CONFIG).
    let mut command = relay_in(dir.path(), &["config", "print"]);
    command.env("CHITCHAT_RELAY_CONFIG", "relay.toml");
    let out = finish(command);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(printed(&out.stdout, "node-id"), "\"from-the-file\"");
    // The CLI's variable, set in the same shell, is not the relay's.
    let mut command = relay_in(dir.path(), &["config", "print"]);
    command.env("CHITCHAT_CONFIG", "relay.toml");
    let out = finish(command);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("# node-id = (not set)"),
        "{}",
        out.stdout
    );
}

#[test]
fn flags_beat_variables_beat_the_file_beats_defaults() {
    let dir = with_file(
        "listen = \"127.0.0.1:1001\"\nhttp = \"127.0.0.1:1002\"\nmax-sessions = 77\n\
         tls-name = [\"a.example\", \"b.example\"]\nauth-dev-login = true\n",
    );
    let mut command = relay_in(
        dir.path(),
        &[
            "--config",
            "relay.toml",
            "--listen",
            "127.0.0.1:3001",
            "config",
            "print",
        ],
    );
    command.env("CHITCHAT_HTTP", "127.0.0.1:2002");
    command.env("CHITCHAT_LISTEN", "127.0.0.1:2001");
    let out = finish(command);
    assert!(out.status.success(), "{}", out.stderr);
    let text = &out.stdout;
    assert_eq!(
        printed(text, "listen"),
        "\"127.0.0.1:3001\"",
        "flag over variable and file"
    );
    assert_eq!(
        printed(text, "http"),
        "\"127.0.0.1:2002\"",
        "variable over file"
    );
    assert_eq!(printed(text, "max-sessions"), "77", "file over default");
    assert_eq!(printed(text, "tls-name"), "[\"a.example\", \"b.example\"]");
    assert_eq!(printed(text, "auth-dev-login"), "true");
    assert_eq!(printed(text, "history-limit"), "10000", "the default");
    assert!(text.contains("# redis = (not set)"), "{text}");
    assert!(
        text.contains("max-sessions = 77  # from relay.toml"),
        "{text}"
    );
    assert!(text.contains("# from CHITCHAT_HTTP"), "{text}");
    // Every key, so the output is a complete file `config check` accepts.
    std::fs::write(dir.path().join("printed.toml"), text).expect("writing printed.toml");
    let out = finish(relay_in(dir.path(), &["config", "check", "printed.toml"]));
    assert!(out.status.success(), "{}\n{text}", out.stderr);
}

#[test]
fn config_print_hides_the_password_of_the_redis_url() {
    let dir = with_file("redis = \"redis://app:hunter2@127.0.0.1:6379/0\"\n");
    let out = finish(relay_in(
        dir.path(),
        &["--config", "relay.toml", "config", "print"],
    ));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("redis = \"redis://app:***@127.0.0.1:6379/0\""),
        "{}",
        out.stdout
    );
}

#[test]
fn config_check_names_the_file_the_line_and_the_key() {
    let dir = with_file(
        "listen = \"127.0.0.1:4433\"\nmax-sesions = 5\n# a comment\nmax-sessions = \"many\"\n\
         log-format = \"xml\"\n",
    );
    let out = finish(relay_in(dir.path(), &["config", "check", "relay.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(!out.stdout.contains("ok"), "{}", out.stdout);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(
        lines[0].starts_with("relay.toml:2: max-sesions: unknown key"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("relay.toml:4: max-sessions: invalid value \"many\""),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("relay.toml:5: log-format: invalid value \"xml\""),
        "{lines:?}"
    );

    // Flags that need each other, as on the command line.
    std::fs::write(dir.path().join("half.toml"), "tls-cert = \"cert.pem\"\n").expect("write");
    let out = finish(relay_in(dir.path(), &["config", "check", "half.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("half.toml: ") && out.stderr.contains("--tls-key"),
        "{}",
        out.stderr
    );

    // Running with the bad file: the same errors, once each, and exit 2.
    let out = finish(relay_in(dir.path(), &["--config", "relay.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("max-sesions").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("READY"), "{}", out.stdout);

    let out = finish(relay_in(dir.path(), &["--config", "missing.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("missing.toml").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn the_example_configuration_checks_ok() {
    let out = finish(relay_in(
        &root(),
        &["config", "check", "relay.example.toml"],
    ));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "ok");
}

/// Runs a relay on loopback with `args` and `env`, stops it, returns its log lines.
fn logs_of(args: &[&str], env: &[(&str, &str)], file: &str) -> String {
    let dir = with_file(&format!("{LOOPBACK}{file}"));
    let mut all = vec!["--config", "relay.toml"];
    all.extend_from_slice(args);
    let mut command = relay_in(dir.path(), &all);
    command.envs(env.iter().copied());
    serve(command, |_| {})
}

fn has_info(logs: &str) -> bool {
    logs.lines().any(|l| l.contains(" INFO "))
}

#[test]
fn the_log_level_comes_from_the_flag_rust_log_the_file_then_chitchat_log() {
    let logs = logs_of(&[], &[("RUST_LOG", "warn")], "");
    assert!(!has_info(&logs), "RUST_LOG=warn still logged info:\n{logs}");
    let logs = logs_of(&["--log-level", "info"], &[("RUST_LOG", "warn")], "");
    assert!(
        has_info(&logs),
        "--log-level info did not win over RUST_LOG:\n{logs}"
    );
    let logs = logs_of(
        &[],
        &[("CHITCHAT_LOG_LEVEL", "warn"), ("RUST_LOG", "info")],
        "",
    );
    assert!(
        !has_info(&logs),
        "CHITCHAT_LOG_LEVEL did not win over RUST_LOG:\n{logs}"
    );
    let logs = logs_of(&[], &[("RUST_LOG", "info")], "log-level = \"warn\"\n");
    assert!(
        has_info(&logs),
        "the file's log-level won over RUST_LOG:\n{logs}"
    );
    let logs = logs_of(&[], &[], "log-level = \"warn\"\n");
    assert!(
        !has_info(&logs),
        "the file's log-level was ignored:\n{logs}"
    );
    let logs = logs_of(&[], &[("CHITCHAT_LOG", "warn")], "");
    assert!(
        !has_info(&logs),
        "CHITCHAT_LOG=warn still logged info:\n{logs}"
    );
    assert!(logs.contains("CHITCHAT_LOG is deprecated"), "{logs}");
}

/// Runs a relay in `dir` with `args`, which must stop it at start: exit 1, and `culprit` (an
/// address or a path) named exactly once on stderr, which is returned.
fn fails_naming_once(dir: &Path, args: &[&str], culprit: &str) -> String {
    let out = finish(relay_in(dir, args));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let times = out.stderr.matches(culprit).count();
    assert_eq!(times, 1, "{culprit} named {times} times:\n{}", out.stderr);
    out.stderr
}

#[test]
fn a_taken_port_is_named_once() {
    let dir = with_file("");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let taken = udp.local_addr().expect("its address").to_string();
    let rest = ["--data-dir", "data", "--certs-dir", "certs"];
    let args = [&["--listen", &taken, "--http", "127.0.0.1:0"][..], &rest].concat();
    let stderr = fails_naming_once(dir.path(), &args, &taken);
    assert!(
        stderr.contains("UDP") && stderr.contains("address already in use"),
        "{stderr}"
    );

    let tcp = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
    let taken = tcp.local_addr().expect("its address").to_string();
    let args = [&["--listen", "127.0.0.1:0", "--http", &taken][..], &rest].concat();
    let stderr = fails_naming_once(dir.path(), &args, &taken);
    assert!(
        stderr.contains("TCP") && stderr.contains("address already in use"),
        "{stderr}"
    );
}

#[test]
fn a_missing_certificate_file_is_named_once() {
    let dir = with_file("");
    let cert = dir.path().join("no-such-cert.pem");
    let cert = cert.to_str().expect("a UTF-8 path");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        "data",
        "--tls-cert",
        cert,
        "--tls-key",
        "no-such-key.pem",
    ];
    let stderr = fails_naming_once(dir.path(), &args, cert);
    assert!(stderr.contains("no such file or directory"), "{stderr}");
}

#[test]
fn a_bad_log_level_is_refused_and_a_bad_rust_log_ignored() {
    let dir = with_file(LOOPBACK);
    let out = finish(relay_in(
        dir.path(),
        &["--log-level", "loud", "config", "print"],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--log-level"), "{}", out.stderr);
    let logs = logs_of(&[], &[("RUST_LOG", "info,=[")], "");
    assert!(logs.contains("ignoring the log filter"), "{logs}");
    assert!(has_info(&logs), "{logs}");
}

/// `source scripts/common.sh; check_cargo` with only `bin` and the system's directories on
/// the PATH and `home` as HOME.
fn check_cargo(bin: &Path, home: &Path) -> Finished {
    let mut command = Command::new("bash");
    command
        .args([
            "-c",
            "source scripts/common.sh; check_cargo && command -v cargo",
        ])
        .current_dir(root())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(command)
}

/// An executable `cargo` in `dir` that reports `version`.
fn fake_cargo(dir: &Path, version: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("creating the fake cargo's directory");
    let path = dir.join("cargo");
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho 'cargo {version} (4a9b2c1d 2022-10-20)'\n"),
    )
    .expect("writing the fake cargo");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn the_setup_script_refuses_a_too_old_cargo() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let bin = scratch.path().join("bin");
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).expect("an empty HOME");
    fake_cargo(&bin, "1.65.0");
    let out = check_cargo(&bin, &home);
    assert!(
        !out.status.success(),
        "accepted cargo 1.65:\n{}{}",
        out.stdout,
        out.stderr
    );
    let needed = std::fs::read_to_string(root().join("Cargo.toml"))
        .expect("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("rust-version = \"")
                .map(|v| v.trim_end_matches('"').to_string())
        })
        .expect("rust-version in Cargo.toml");
    assert!(out.stderr.contains("cargo 1.65.0"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("needs Rust {needed} or newer")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("https://sh.rustup.rs"),
        "{}",
        out.stderr
    );

    // rustup's cargo in ~/.cargo/bin, new enough: used instead.
    fake_cargo(&home.join(".cargo/bin"), "1.95.0");
    let out = check_cargo(&bin, &home);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().last().map(PathBuf::from),
        Some(home.join(".cargo/bin/cargo")),
        "{}",
        out.stdout
    );
}

/// The claims (the middle part) of a JWT, as text.
fn claims_of(token: &str) -> String {
    use base64::Engine;
    let payload = token
        .trim()
        .split('.')
        .nth(1)
        .expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    String::from_utf8(bytes).expect("UTF-8 claims")
}

#[test]
fn the_token_command_reads_the_relays_file_too() {
    let dir = with_file(
        "auth = \"jwt\"\nauth-hmac-secret-file = \"hmac.secret\"\nauth-issuer = \"from-file\"\n",
    );
    std::fs::write(
        dir.path().join("hmac.secret"),
        "0123456789abcdef0123456789abcdef01",
    )
    .expect("writing the secret");
    let out = finish(relay_in(
        dir.path(),
        &["--config", "relay.toml", "token", "--sub", "ann"],
    ));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        claims_of(&out.stdout).contains("\"iss\":\"from-file\""),
        "{}",
        out.stdout
    );
    let args = [
        "token",
        "--config",
        "relay.toml",
        "--sub",
        "bo",
        "--auth-issuer",
        "flag",
    ];
    let out = finish(relay_in(dir.path(), &args));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        claims_of(&out.stdout).contains("\"iss\":\"flag\""),
        "{}",
        out.stdout
    );
}
