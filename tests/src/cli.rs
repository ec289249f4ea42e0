//! [`Cli`]: a `chitchat` command line, run to its end ([`CliOutput`]) or started
//! ([`CliProcess`]), and reading its `--json` output.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::DEFAULT_TIMEOUT;
use crate::child::{LineReader, cli_bin, command, drain, signal, target_dir, wait_exit};

/// A `chitchat` command line being built.
#[derive(Debug, Clone, Default)]
pub struct Cli {
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

/// How a finished command went.
#[derive(Debug)]
pub struct CliOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
    /// From spawn to exit.
    pub elapsed: Duration,
}

impl CliOutput {
    /// Panics with the whole output unless the command exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "chitchat failed: {self}");
        self
    }

    /// Panics unless the command failed with exit code `code`.
    pub fn assert_exit_code(&self, code: i32) -> &Self {
        assert_eq!(self.status.code(), Some(code), "unexpected exit: {self}");
        self
    }

    /// stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} after {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Cli {
    /// An empty command line (no relay, no CA: the CLI's defaults).
    pub fn new() -> Self {
        Cli::default()
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the process.
    pub fn env(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.env.push((key.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs the command in `dir` instead of the test's working directory.
    pub fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// `--nick NICK`.
    pub fn nick(self, nick: &str) -> Self {
        self.arg("--nick").arg(nick)
    }

    /// Runs `send ROOM TEXT` as `sender` with this command line; panics with the output
    /// unless it succeeds, and returns the acknowledged seq it printed.
    pub fn send(&self, room: &str, text: &str) -> u64 {
        let out = self
            .clone()
            .nick("sender")
            .args(["send", room, text])
            .output();
        out.assert_success();
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("send printed no seq: {out}"))
    }

    /// Starts `tail ROOM --since 0 --json` as `reader` with this command line (and the
    /// CLI's own idle timeout, so failover tests see what users get); returns once it
    /// follows the room.
    pub fn tail(&self, room: &str) -> CliProcess {
        let mut tail = self
            .clone()
            .nick("reader")
            .args(["tail", room, "--since", "0", "--json"])
            .spawn();
        tail.wait_for_stderr(&format!("following {room}"), DEFAULT_TIMEOUT);
        tail
    }

    fn command(&self) -> Command {
        let mut command = command(cli_bin());
        // Guest secrets go under the target dir, never the user's own config (a test may
        // set another XDG_CONFIG_HOME with `env`).
        command.env("XDG_CONFIG_HOME", target_dir().join("test-config"));
        command.args(&self.args);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Starts the command with `stdin`, its stdout and stderr piped.
    fn start(&self, stdin: Stdio) -> Child {
        self.command()
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning chitchat")
    }

    /// Runs the command to its end, with stdin closed; kills it and panics if it takes
    /// longer than `timeout`.
    pub fn run(&self, timeout: Duration) -> CliOutput {
        let started = Instant::now();
        let mut child = self.start(Stdio::null());
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        // Both pipes close when the process exits; their readers then report.
        let deadline = started + timeout;
        let out = stdout.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let err = stderr.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let (Ok(out), Ok(err)) = (out, err) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chitchat {:?} did not finish within {timeout:?}", self.args);
        };
        let status = child.wait().expect("waiting for chitchat");
        CliOutput {
            status,
            stdout: out,
            stderr: err,
            elapsed: started.elapsed(),
        }
    }

    /// Runs the command with the default deadline.
    pub fn output(&self) -> CliOutput {
        self.run(DEFAULT_TIMEOUT)
    }

    /// Starts the command with piped stdin, stdout and stderr; see [`CliProcess`].
    pub fn spawn(&self) -> CliProcess {
        let mut child = self.start(Stdio::piped());
        let stdout = LineReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = LineReader::new(child.stderr.take().expect("piped stderr"));
        CliProcess {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            args: self.args.clone(),
        }
    }
}

/// A running `chitchat` (e.g. `tail` or `chat`). Killed on drop.
pub struct CliProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: LineReader,
    stderr: LineReader,
    args: Vec<String>,
}

impl CliProcess {
    /// The next stdout line, or `None` if none comes within `timeout` (or stdout ended).
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        self.stdout.next(Instant::now() + timeout)
    }

    /// Reads stdout lines until one satisfies `want`; returns it. Panics with everything
    /// seen if none does within `timeout`.
    pub fn wait_for_line(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stdout.next(deadline) {
                Some(line) if want(&line) => return line,
                Some(_) => continue,
                None => panic!(
                    "chitchat {:?}: no matching stdout line within {timeout:?}\n{}",
                    self.args,
                    self.transcript()
                ),
            }
        }
    }

    /// Reads stdout lines until one contains `needle`.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_line(DEFAULT_TIMEOUT, |line| line.contains(needle))
    }

    /// Reads exactly `n` stdout lines, panicking with the transcript if they do not all come
    /// within `timeout`.
    pub fn take_lines(&mut self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::with_capacity(n);
        while lines.len() < n {
            match self.stdout.next(deadline) {
                Some(line) => lines.push(line),
                None => panic!(
                    "chitchat {:?}: {} of {n} lines within {timeout:?}\n{}",
                    self.args,
                    lines.len(),
                    self.transcript()
                ),
            }
        }
        lines
    }

    /// Waits until stderr shows a line containing `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stderr.next(deadline) {
                Some(line) if line.contains(needle) => return line,
                Some(_) => continue,
                None => panic!(
                    "chitchat {:?}: no stderr line with {needle:?} within {timeout:?}\n{}",
                    self.args,
                    self.transcript()
                ),
            }
        }
    }

    /// Stops reading the process's stdout: once the pipe is full, its writes block, as with
    /// a reader that cannot keep up. Lines already read stay available.
    pub fn pause_stdout(&mut self) {
        self.stdout.set_paused(true);
    }

    /// Reads stdout again after [`pause_stdout`](Self::pause_stdout).
    pub fn resume_stdout(&mut self) {
        self.stdout.set_paused(false);
    }

    /// Sends SIGINT (what Ctrl-C sends).
    pub fn interrupt(&mut self) {
        signal(&self.child, "-INT");
    }

    /// Writes one line to stdin.
    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("writing to chitchat's stdin");
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit within `timeout`; kills it and panics otherwise.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_exit(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "chitchat {:?} did not exit within {timeout:?}\n{}",
                self.args,
                self.transcript()
            )
        })
    }

    /// Waits (up to [`DEFAULT_TIMEOUT`]) for the process to exit and asserts it succeeded;
    /// panics with its exit status and transcript otherwise.
    pub fn wait_success(&mut self) {
        let status = self.wait_exit(DEFAULT_TIMEOUT);
        assert!(
            status.success(),
            "chitchat {:?} exited with {status}\n{}",
            self.args,
            self.transcript()
        );
    }

    /// Everything the process printed so far, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout.transcript(),
            self.stderr.transcript()
        )
    }
}

impl Drop for CliProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `--json` output lines, panicking on anything that is not one JSON object.
pub fn json_lines<S: AsRef<str>>(lines: &[S]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|line| {
            let line = line.as_ref();
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(value.is_object(), "not a JSON object: {line}");
            value
        })
        .collect()
}

/// The `seq` of every JSON message.
pub fn seqs(messages: &[serde_json::Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {m}")))
        .collect()
}

/// The `text` of every JSON message.
pub fn texts(messages: &[serde_json::Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m["text"]
                .as_str()
                .unwrap_or_else(|| panic!("no text in {m}"))
                .to_owned()
        })
        .collect()
}
