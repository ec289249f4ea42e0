//! The CLI run as a user would from any directory: saved contexts in the configuration
//! file, which setting wins, the CA search, bad configuration files; and what it does when
//! no relay listens (a fast refusal for `send`, waiting with a countdown for `tail`).

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chitchat_tests::{Cli, DEFAULT_TIMEOUT, RelayProcess, json_lines, texts};

/// The CLI's connect timeout when none is given: what a refusal must beat by far.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The bound on a refused `send`: well under [`CONNECT_TIMEOUT`], far above the
/// milliseconds a refusal takes, so only waiting for the timeout fails it.
const REFUSAL_BOUND: Duration = Duration::from_secs(3);

/// A user with no configuration yet: an empty working directory and a config directory of
/// its own (XDG_CONFIG_HOME and HOME both point into a temporary directory).
struct User {
    dir: tempfile::TempDir,
}

impl User {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chitchat-user-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::create_dir(dir.path().join("work")).expect("the working directory");
        User { dir }
    }

    fn config_file(&self) -> PathBuf {
        self.dir
            .path()
            .join("config")
            .join("chitchat")
            .join("config.toml")
    }

    /// `chitchat` run from the empty working directory, with this user's config directory.
    fn cli(&self) -> Cli {
        Cli::new()
            .current_dir(self.dir.path().join("work"))
            .env(
                "XDG_CONFIG_HOME",
                self.dir.path().join("config").to_string_lossy(),
            )
            .env("HOME", self.dir.path().to_string_lossy())
    }

    /// `chitchat context add NAME --relay RELAY --ca CA --nick NICK [extra]`, which must
    /// succeed.
    fn add(&self, name: &str, relay: &RelayProcess, nick: &str, extra: &[&str]) {
        self.cli()
            .args([
                "context",
                "add",
                name,
                "--relay",
                relay.quic_addr(),
                "--nick",
                nick,
            ])
            .arg("--ca")
            .arg(relay.ca_file().to_string_lossy())
            .args(extra)
            .output()
            .assert_success();
    }
}

/// The texts of `room`'s history on `relay`, read with the relay's own flags.
fn history_on(relay: &RelayProcess, room: &str) -> Vec<String> {
    let out = relay.cli().args(["history", room, "--json"]).output();
    out.assert_success();
    texts(&json_lines(&out.lines()))
}

#[test]
fn a_saved_context_works_from_an_empty_directory() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    user.add("local", &relay, "ada", &["--use"]);

    let out = user.cli().args(["send", "lobby", "from anywhere"]).output();
    out.assert_success();
    let out = user.cli().args(["history", "lobby", "--json"]).output();
    out.assert_success();
    let messages = json_lines(&out.lines());
    assert_eq!(texts(&messages), ["from anywhere"], "{out}");
    assert_eq!(messages[0]["from"], "ada", "the context's nick: {out}");

    // The file names a token command: only its owner may read it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(user.config_file())
            .expect("the configuration file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_rename_in_chat_leaves_the_saved_context_alone() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    user.add("local", &relay, "ada", &["--use"]);
    let saved = std::fs::read_to_string(user.config_file()).expect("the configuration file");

    let mut chat = user.cli().args(["chat", "lobby"]).spawn();
    chat.wait_for("* joined #lobby");
    chat.write_line("/nick ada2");
    chat.wait_for("* you are now ada2");
    chat.write_line("/quit");
    chat.wait_success();

    let now = std::fs::read_to_string(user.config_file()).expect("the configuration file");
    assert_eq!(now, saved, "the context is not changed by /nick");
    user.cli()
        .args(["send", "lobby", "as the context says"])
        .output()
        .assert_success();
    let out = user.cli().args(["history", "lobby", "--json"]).output();
    out.assert_success();
    let messages = json_lines(&out.lines());
    assert_eq!(messages[0]["from"], "ada", "the context's nick: {out}");
}

#[test]
fn a_flag_beats_the_context_and_another_context_can_be_picked() {
    let first = RelayProcess::start(&[]);
    let second = RelayProcess::start(&[]);
    let user = User::new();
    user.add("first", &first, "ada", &["--use"]);
    user.add("second", &second, "bob", &[]);

    user.cli()
        .args(["send", "r", "current"])
        .output()
        .assert_success();
    user.cli()
        .args(["--context", "second", "send", "r", "by flag"])
        .output()
        .assert_success();
    user.cli()
        .env("CHITCHAT_CONTEXT", "second")
        .args(["send", "r", "by variable"])
        .output()
        .assert_success();
    // The current context is `first`; flags aim at the second relay and its CA.
    user.cli()
        .args(["--relay", second.quic_addr(), "--ca"])
        .arg(second.ca_file().to_string_lossy())
        .args(["send", "r", "flags win"])
        .output()
        .assert_success();
    // A variable beats the context too.
    user.cli()
        .env("CHITCHAT_RELAY", second.quic_addr())
        .env("CHITCHAT_CA", second.ca_file().to_string_lossy())
        .args(["send", "r", "variables win"])
        .output()
        .assert_success();

    assert_eq!(history_on(&first, "r"), ["current"]);
    assert_eq!(
        history_on(&second, "r"),
        ["by flag", "by variable", "flags win", "variables win"]
    );

    // `use` switches the current context.
    user.cli()
        .args(["context", "use", "second"])
        .output()
        .assert_success();
    user.cli()
        .args(["send", "r", "now second"])
        .output()
        .assert_success();
    assert_eq!(
        history_on(&second, "r").last().map(String::as_str),
        Some("now second")
    );
}

#[test]
fn contexts_are_listed_shown_and_removed() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    user.add("one", &relay, "ada", &[]);
    user.add(
        "two",
        &relay,
        "bob",
        &["--use", "--token-command", "print-token"],
    );

    let out = user.cli().args(["context", "ls", "--json"]).output();
    out.assert_success();
    let listed = json_lines(&out.lines());
    assert_eq!(listed.len(), 2, "{out}");
    assert_eq!(listed[0]["name"], "one");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[1]["name"], "two");
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[1]["relays"][0], relay.quic_addr());
    assert_eq!(listed[1]["token_command"], "print-token");
    assert_eq!(listed[1]["ca"], relay.ca_file().to_string_lossy().as_ref());

    let out = user.cli().args(["context", "ls"]).output();
    out.assert_success();
    assert!(out.stdout.contains("* two"), "{out}");
    let out = user.cli().args(["context", "show", "one"]).output();
    out.assert_success();
    assert!(out.stdout.contains("nick = \"ada\""), "{out}");

    user.cli()
        .args(["context", "rm", "two"])
        .output()
        .assert_success();
    let out = user.cli().args(["context", "ls", "--json"]).output();
    let listed = json_lines(&out.lines());
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(
        listed[0]["current"], false,
        "the removed one was current: {out}"
    );
}

#[test]
fn bad_context_input_is_refused_with_the_reason() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    for (args, why) in [
        (
            vec!["context", "add", "a b", "--relay", "h:1"],
            "invalid context name",
        ),
        (vec!["context", "add", "a"], "at least one --relay"),
        (
            vec!["context", "add", "a", "--relay", "h:1", "--token", "t.t.t"],
            "literal --token",
        ),
        (
            vec![
                "context",
                "add",
                "a",
                "--relay",
                "h:1",
                "--ca",
                "nowhere.pem",
            ],
            "does not exist",
        ),
        (
            vec!["context", "use", "missing"],
            "no context named \"missing\"",
        ),
        (
            vec!["context", "rm", "missing"],
            "no context named \"missing\"",
        ),
    ] {
        let out = user.cli().args(&args).output();
        assert!(!out.status.success(), "{args:?}: {out}");
        assert!(out.stderr.contains(why), "{args:?}: {out}");
    }
    assert!(!user.config_file().exists(), "nothing was saved");

    // A context named on the command line must exist: a usage error, naming those known.
    user.add("known", &relay, "ada", &[]);
    let out = user
        .cli()
        .args(["--context", "nope", "send", "r", "x"])
        .output();
    out.assert_exit_code(2);
    assert!(
        out.stderr.contains("no context named \"nope\"") && out.stderr.contains("known"),
        "{out}"
    );
}

#[test]
fn a_malformed_configuration_file_is_named_with_its_line() {
    let user = User::new();
    let file = user.config_file();
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("the config directory");
    std::fs::write(
        &file,
        "current = \"a\"\n\n[contexts.a]\nrelays = [\"no-port\"]\n",
    )
    .expect("writing the file");
    let out = user.cli().args(["send", "r", "x"]).output();
    out.assert_exit_code(2);
    let at = format!("{}:4:", file.display());
    assert!(
        out.stderr.contains(&at) && out.stderr.contains("no-port"),
        "{out}"
    );

    std::fs::write(&file, "[contexts.a\n").expect("writing the file");
    let out = user.cli().args(["context", "ls"]).output();
    out.assert_exit_code(2);
    assert!(
        out.stderr.contains(&format!("{}:1:", file.display())),
        "{out}"
    );
}

#[test]
fn no_ca_anywhere_names_every_place_looked_at() {
    let user = User::new();
    let certs = user.dir.path().join("no-certs-here");
    let out = user
        .cli()
        .env("CHITCHAT_CERTS_DIR", certs.to_string_lossy())
        .args(["send", "r", "x"])
        .output();
    out.assert_exit_code(2);
    let in_certs_dir = certs.join("ca.pem");
    for place in [
        "./certs/ca.pem",
        &*in_certs_dir.to_string_lossy(),
        "/certs/ca.pem",
        "--ca FILE",
        "chitchat context add",
    ] {
        assert!(out.stderr.contains(place), "{place} not named: {out}");
    }
}

#[test]
fn the_ca_in_the_working_directory_is_found() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    let certs = user.dir.path().join("work").join("certs");
    std::fs::create_dir(&certs).expect("certs/");
    std::fs::copy(relay.ca_file(), certs.join("ca.pem")).expect("copying the CA");
    user.cli()
        .args([
            "--relay",
            relay.quic_addr(),
            "--nick",
            "ada",
            "send",
            "r",
            "local ca",
        ])
        .output()
        .assert_success();
    assert_eq!(history_on(&relay, "r"), ["local ca"]);
}

/// A UDP port nothing listens on (bound once to find it, then released).
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    socket.local_addr().expect("its address").port()
}

/// A TCP port nothing listens on.
fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a TCP listener");
    listener.local_addr().expect("its address").port()
}

fn assert_refused_fast(user: &User, ca: &Path, relay: &str) {
    let out = user
        .cli()
        .args(["--relay", relay, "--ca"])
        .arg(ca.to_string_lossy())
        .args(["send", "r", "x"])
        .output();
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains(&format!(
            "no relay answering at {relay} (connection refused)"
        )),
        "{out}"
    );
    assert!(
        out.elapsed < REFUSAL_BOUND,
        "a refused connection waited for the {CONNECT_TIMEOUT:?} timeout: {out}"
    );
}

#[test]
fn send_to_a_port_where_nothing_listens_fails_at_once() {
    // A CA is needed to get as far as connecting; any relay's will do.
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    assert_refused_fast(
        &user,
        &relay.ca_file(),
        &format!("127.0.0.1:{}", free_udp_port()),
    );
    assert_refused_fast(
        &user,
        &relay.ca_file(),
        &format!("ws://127.0.0.1:{}", free_tcp_port()),
    );

    // history says the same.
    let relay_addr = format!("127.0.0.1:{}", free_udp_port());
    let out = user
        .cli()
        .args(["--relay", &relay_addr, "--ca"])
        .arg(relay.ca_file().to_string_lossy())
        .args(["history", "r"])
        .output();
    out.assert_exit_code(1);
    assert!(out.stderr.contains("no relay answering"), "{out}");
    assert!(out.elapsed < REFUSAL_BOUND, "{out}");
}

#[test]
fn tail_waits_for_a_relay_that_is_not_up_yet() {
    let mut relay = RelayProcess::start(&[]);
    let addr = relay.quic_addr().to_owned();
    relay.kill9();
    let user = User::new();
    let mut tail = user
        .cli()
        .args(["--relay", &addr, "--nick", "reader", "--ca"])
        .arg(relay.ca_file().to_string_lossy())
        .args(["tail", "lobby", "--since", "0", "--json"])
        .spawn();
    let countdown = tail.wait_for_stderr("retrying in", DEFAULT_TIMEOUT);
    assert!(
        countdown.contains(&format!("no relay answering at {addr}"))
            && countdown.contains("(Ctrl-C to stop)"),
        "{countdown}"
    );

    relay.restart();
    tail.wait_for_stderr("following lobby", DEFAULT_TIMEOUT);
    relay.cli().send("lobby", "worth the wait");
    let line = tail.wait_for("worth the wait");
    assert_eq!(texts(&json_lines(&[line])), ["worth the wait"]);
    tail.interrupt();
    tail.wait_success();
}

#[test]
fn tail_does_not_wait_when_the_relay_refuses() {
    let relay = RelayProcess::start(&[]);
    let user = User::new();
    // A live session holds the nick with another secret: the relay refuses NICK_TAKEN.
    let _holder = relay.cli().tail("r");
    let out = user
        .cli()
        .args(["--relay", relay.quic_addr(), "--nick", "reader", "--ca"])
        .arg(relay.ca_file().to_string_lossy())
        .args(["tail", "r"])
        .output();
    assert!(!out.status.success(), "{out}");
    assert!(
        out.stderr.contains("NICK_TAKEN") && !out.stderr.contains("retrying in"),
        "{out}"
    );
}
