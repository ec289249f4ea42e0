//! The full-screen `chitchat chat` in a real terminal: tmux runs it, `send-keys` types and
//! `capture-pane` reads the screen, polled until the expected text shows or a deadline
//! passes. Screens are saved under test-artifacts/tui/. Line mode's piped sends too, and read
//! markers shared by two terminals of one nick.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chitchat_tests::{DEFAULT_TIMEOUT, RelayProcess, cli_bin, target_dir};

/// A tmux server of its own (a unique socket), killed on drop, also when a test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `chitchat chat` as `nick` in `room` in a 120x40 terminal.
    fn chat(relay: &RelayProcess, nick: &str, room: &str) -> Tmux {
        Tmux::chat_in(relay, nick, nick, room)
    }

    /// [`Tmux::chat`] in a terminal named `label`, so one nick can have two terminals (both
    /// read the same guest secret from the test config).
    fn chat_in(relay: &RelayProcess, label: &str, nick: &str, room: &str) -> Tmux {
        let socket = format!("chitchat-tui-{}-{label}", std::process::id());
        // The pane stays after the chat exits (with its exit status), so a failure shows.
        let line = format!(
            "XDG_CONFIG_HOME={} CHITCHAT_LOG=info {} --relay {} --ca {} --nick {nick} chat '{room}'; \
             echo EXITED $?; sleep 600",
            target_dir().join("test-config").display(),
            cli_bin().display(),
            relay.quic_addr(),
            relay.ca_file().display(),
        );
        let tmux = Tmux { socket };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            "120",
            "-y",
            "40",
            &line,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend(keys);
        self.run(&args);
    }

    fn typed(&self, text: &str) {
        self.run(&["send-keys", "-t", "chat", "-l", text]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "chat"])
    }

    /// Polls the screen until `want` holds; saves it as `name`; panics with it at the deadline.
    fn wait(&self, name: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        loop {
            let screen = self.screen();
            if want(&screen) {
                save(name, &screen);
                return screen;
            }
            if Instant::now() > deadline {
                save(&format!("{name}-FAILED"), &screen);
                panic!("screen {name} never matched:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn save(name: &str, screen: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts/tui");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.txt")), screen);
}

/// The input line: the last line of the screen.
fn input_line(screen: &str) -> &str {
    screen.lines().last().unwrap_or("")
}

#[test]
fn full_screen_chat_in_a_real_terminal() {
    let mut relay = RelayProcess::start(&[]);
    for i in 0..60 {
        relay.cli().send("lobby", &format!("old message {i}"));
    }
    let tmux = Tmux::chat(&relay, "ada", "#lobby");
    tmux.wait("01-joined", |s| {
        s.contains("old message 59") && s.contains("#lobby") && s.contains("connected")
    });

    // A second room; the first keeps counting what arrives.
    tmux.typed("/join #side");
    tmux.keys(&["Enter"]);
    tmux.wait("02-two-rooms", |s| {
        s.contains("joined #side") && s.contains("#side>")
    });
    // The directory, in the room shown.
    tmux.typed("/rooms");
    tmux.keys(&["Enter"]);
    tmux.wait("02b-directory", |s| {
        s.contains("the directory's rooms:")
            && s.contains(&format!("#{:<20} {:>11}", "lobby", "1 member"))
            && s.contains(&format!("#{:<20} {:>11}", "side", "1 member"))
    });
    relay.cli().send("lobby", "news for ada");
    relay.cli().send("lobby", "and more");
    tmux.wait("03-unread", |s| s.contains("#lobby 2 @1"));

    // A message arrives while a line is half typed: the line stays as it was.
    tmux.typed("half typed");
    relay.cli().send("side", "interrupting");
    let screen = tmux.wait("04-receive-while-typing", |s| s.contains("interrupting"));
    assert!(
        input_line(&screen).ends_with("#side> half typed"),
        "{screen}"
    );
    tmux.keys(&["C-u"]);
    tmux.typed("hello side");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("05-sent", |s| s.contains("hello side"));
    assert_eq!(screen.matches("hello side").count(), 1, "{screen}");

    // Up brings back the sent line.
    tmux.keys(&["Up"]);
    tmux.wait("06-history", |s| {
        input_line(s).ends_with("#side> hello side")
    });
    tmux.keys(&["C-u"]);

    // Back to the lobby: counts cleared; PgUp scrolls back to older messages.
    tmux.keys(&["M-1"]);
    tmux.wait("07-lobby", |s| {
        s.contains("#lobby>") && !s.contains("#lobby 2")
    });
    tmux.keys(&["PPage"]);
    tmux.wait("08-scrolled", |s| s.contains("more lines below"));
    tmux.keys(&["NPage", "NPage", "NPage"]);
    tmux.wait("09-bottom", |s| !s.contains("more lines below"));

    // The relay restarts: the status line says so and the typed line survives.
    tmux.typed("still here");
    relay.kill9();
    tmux.wait("10-reconnecting", |s| s.contains("reconnecting"));
    relay.restart();
    let screen = tmux.wait("11-reconnected", |s| {
        s.contains("connected") && !s.contains("reconnecting")
    });
    assert!(
        input_line(&screen).ends_with("#lobby> still here"),
        "{screen}"
    );
    // The reconnect's log line (CHITCHAT_LOG=info) is shown in the status line only, never
    // written over the screen.
    let logged: Vec<&str> = screen.lines().filter(|l| l.contains("INFO")).collect();
    assert!(
        logged.iter().all(|l| l.contains("· INFO connected")),
        "{screen}"
    );
    tmux.keys(&["Enter"]);
    tmux.wait("12-after-restart", |s| {
        s.matches("still here").count() == 1 && !input_line(s).contains("still here")
    });

    tmux.keys(&["C-c"]);
    // Once the terminal is back, the held log lines are printed: the reconnect's.
    tmux.wait("13-exited", |s| {
        s.contains("EXITED 0") && s.contains("INFO session{nick=ada}: chitchat_cli")
    });
}

#[test]
fn a_rename_in_one_terminal_is_a_rename_in_the_other() {
    // The new nick's secret must come from the rename, not from an earlier run.
    let _ = std::fs::remove_file(target_dir().join("test-config/chitchat/guest/tuigrace.secret"));
    let mut relay = RelayProcess::start(&[]);
    let ada = Tmux::chat(&relay, "tuiada", "#names");
    ada.wait("20-ada-joined", |s| {
        s.contains("#names>") && s.contains("connected")
    });
    let bob = Tmux::chat(&relay, "tuibob", "#names");
    bob.wait("21-bob-joined", |s| {
        s.contains("#names>") && s.contains("connected")
    });
    ada.wait("22-ada-sees-bob", |s| s.contains("tuibob joined #names"));

    bob.typed("/nick tuigrace");
    bob.keys(&["Enter"]);
    // The renamed side: its own line, and the status line, which starts with the nick.
    bob.wait("23-renamed", |s| {
        s.contains("you are now tuigrace") && s.contains("│ tuigrace relay ")
    });
    let screen = ada.wait("24-rename-seen", |s| {
        s.contains("tuibob is now known as tuigrace")
    });
    assert!(
        !screen.contains("tuibob left"),
        "a rename, not a leave:\n{screen}"
    );
    assert!(!screen.contains("tuigrace joined"), "nor a join:\n{screen}");
    bob.typed("hello under the new nick");
    bob.keys(&["Enter"]);
    ada.wait("25-message-from-new-nick", |s| {
        s.contains("tuigrace") && s.contains("hello under the new nick")
    });

    // After a relay restart bob comes back as tuigrace, with the secret that holds it now.
    relay.kill9();
    bob.wait("26-reconnecting", |s| s.contains("reconnecting"));
    relay.restart();
    let screen = bob.wait("27-back-as-new-nick", |s| {
        s.contains("│ tuigrace relay") && s.contains("connected") && !s.contains("reconnecting")
    });
    assert!(!screen.contains("taken"), "{screen}");
    bob.typed("back after the restart");
    bob.keys(&["Enter"]);
    ada.wait("28-message-after-restart", |s| {
        s.contains("back after the restart")
    });

    ada.keys(&["C-c"]);
    bob.keys(&["C-c"]);
    ada.wait("29-ada-exited", |s| s.contains("EXITED 0"));
    bob.wait("30-bob-exited", |s| s.contains("EXITED 0"));
}

#[test]
fn a_room_read_in_one_terminal_stops_counting_in_the_other() {
    let relay = RelayProcess::start(&[]);
    let one = Tmux::chat_in(&relay, "mark-one", "tuimark", "#marked");
    one.wait("40-one-joined", |s| {
        s.contains("#marked>") && s.contains("connected")
    });
    let two = Tmux::chat_in(&relay, "mark-two", "tuimark", "#marked");
    two.wait("41-two-joined", |s| {
        s.contains("#marked>") && s.contains("connected")
    });
    for tmux in [&one, &two] {
        tmux.typed("/join #away");
        tmux.keys(&["Enter"]);
        tmux.wait("42-away", |s| s.contains("#away>"));
    }
    relay.cli().send("marked", "first news");
    relay.cli().send("marked", "second news");
    for tmux in [&one, &two] {
        tmux.wait("43-unread", |s| s.contains("#marked 2"));
    }

    // One terminal shows the room: the other's count goes, without showing it there.
    one.keys(&["M-1"]);
    one.wait("44-one-reads", |s| {
        s.contains("#marked>") && s.contains("second news")
    });
    let screen = two.wait("45-two-cleared", |s| !s.contains("#marked 2"));
    assert!(screen.contains("#away>"), "still showing #away:\n{screen}");
    assert!(!screen.contains("#marked 1"), "{screen}");

    // A later message counts again in the other terminal.
    one.keys(&["M-2"]);
    one.wait("46-one-away", |s| s.contains("#away>"));
    relay.cli().send("marked", "third news");
    two.wait("47-two-counts-again", |s| s.contains("#marked 1"));
    one.wait("48-one-counts-again", |s| s.contains("#marked 1"));

    one.keys(&["C-c"]);
    two.keys(&["C-c"]);
    one.wait("49-one-exited", |s| s.contains("EXITED 0"));
    two.wait("50-two-exited", |s| s.contains("EXITED 0"));
}

#[test]
fn piped_chat_waits_out_the_rate_limit_and_fails_on_refused_lines() {
    let relay = RelayProcess::start(&["--msgs-per-sec", "5", "--msgs-burst", "2"]);
    let lines: Vec<String> = (0..15).map(|i| format!("line {i}")).collect();
    let mut chat = relay.cli().nick("piper").args(["chat", "#pipes"]).spawn();
    chat.wait_for("* joined #pipes");
    for line in &lines {
        chat.write_line(line);
    }
    chat.close_stdin();
    chat.wait_success();
    let out = relay
        .cli()
        .args(["history", "pipes", "--limit", "100"])
        .output();
    out.assert_success();
    for line in &lines {
        assert!(out.stdout.contains(&format!("<piper> {line}\n")), "{out}");
    }
    // Printed once, when it came back from the room.
    assert_eq!(chat.transcript().matches("<piper> line 3").count(), 1);

    // A line the relay refuses (too long): the rest still go, and the exit says so.
    let mut chat = relay.cli().nick("piper").args(["chat", "pipes"]).spawn();
    chat.wait_for("* joined #pipes");
    chat.write_line("before");
    chat.write_line(&"x".repeat(5000));
    chat.write_line("after");
    chat.close_stdin();
    assert_eq!(chat.wait_exit(DEFAULT_TIMEOUT).code(), Some(1));
    // Stored (the chat may exit before its own line comes back from the room to be printed).
    let history = relay
        .cli()
        .nick("reader")
        .args(["history", "pipes"])
        .output();
    history.assert_success();
    assert!(
        history.stdout.contains("<piper> after"),
        "{}",
        history.stdout
    );

    // send from stdin: every line, in order, over the rate limit.
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("lines.txt");
    std::fs::write(&input, lines.join("\n")).expect("writing lines");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "XDG_CONFIG_HOME={} {} --relay {} --ca {} --nick sender send '#fromstdin' < {}",
            target_dir().join("test-config").display(),
            cli_bin().display(),
            relay.quic_addr(),
            relay.ca_file().display(),
            input.display()
        ))
        .output()
        .expect("running send");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        15,
        "{out:?}"
    );
}
