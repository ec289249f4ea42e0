//! Harness for the end-to-end tests: real `chitchat-relay` and `chitchat` processes talking
//! real QUIC on localhost.
//!
//! - [`RelayProcess`] starts a relay on a free port with its own temporary data and certs
//!   directories, waits for its `READY` line, and can be killed (`kill -9`), stopped
//!   (SIGTERM) and restarted on the same port and directories.
//! - [`Cli`] builds a `chitchat` command line aimed at a relay; [`Cli::run`] runs it to the
//!   end with a deadline, [`Cli::spawn`] starts a long-running one ([`CliProcess`]) whose
//!   output lines are read with deadlines and whose stdin can be written.
//!
//! - [`cluster::Cluster`] is a redis-server and several relays sharing it and one CA.
//! - [`http::get`] reads a relay's `/healthz` and `/metrics`.
//! - [`redis::RedisServer`] runs a real `redis-server` for the relays of a cluster (and for
//!   the relay crate's own broker tests).
//!
//! Every wait has a deadline and fails with the output seen so far. Every process a test
//! starts is killed when its handle is dropped, so a failing test leaves nothing running.

pub mod cluster;
pub mod http;
pub mod redis;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a relay may take to print its READY line. A debug build starts in well under a
/// second; the margin is for a loaded machine running tests in parallel.
pub const RELAY_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The default deadline of one CLI command or one awaited output line: far above what any
/// of them takes (milliseconds), so only a real hang fails a test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a tail started by [`Cli::tail`] goes without an answer before it takes its relay
/// for dead (`CHITCHAT_IDLE_TIMEOUT_MS`, instead of the CLI's default 6 s): short, so tests
/// of failover and resume stay short; the logic they test is the same.
const TAIL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The environment variables `chitchat` and `chitchat-relay` read; cleared for every process
/// a test starts, so the developer's environment cannot change a test.
const CHITCHAT_ENV: &[&str] = &[
    "CHITCHAT_RELAY",
    "CHITCHAT_NICK",
    "CHITCHAT_CA",
    "CHITCHAT_CONNECT_TIMEOUT_MS",
    "CHITCHAT_IDLE_TIMEOUT_MS",
    "CHITCHAT_LOG",
    "CHITCHAT_LISTEN",
    "CHITCHAT_HTTP",
    "CHITCHAT_DATA_DIR",
    "CHITCHAT_CERTS_DIR",
    "CHITCHAT_NODE_ID",
    "CHITCHAT_LOG_FORMAT",
    "CHITCHAT_WORKER_THREADS",
    "CHITCHAT_REDIS",
    "CHITCHAT_HISTORY_LIMIT",
    "CHITCHAT_TLS_NAMES",
    "CHITCHAT_TLS_CERT",
    "CHITCHAT_TLS_KEY",
];

/// How long one request to a relay's HTTP port may take: it answers locally in
/// milliseconds.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`RelayProcess::wait_health`] and [`RelayProcess::wait_metric`] ask again: fast
/// enough that a test waits little past the change, slow enough not to load the relay.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The cargo target directory the binaries were built into: `CARGO_TARGET_DIR` if set,
/// else the ancestor of this test executable that holds `debug/` (tests run from
/// `target/debug/deps/`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .find(|dir| dir.join("debug").is_dir() && dir.file_name().is_some())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Path of a workspace binary in `target/debug/`; panics with what to do if it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir()
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run cargo build --workspace first",
        path.display()
    );
    path
}

/// The relay binary.
pub fn relay_bin() -> PathBuf {
    binary("chitchat-relay")
}

/// The CLI binary.
pub fn cli_bin() -> PathBuf {
    binary("chitchat")
}

/// Collects a child's output stream on a thread: lines go to a channel (for waiting on
/// them) and into a shared transcript (for failure messages). Reading can be paused, which
/// lets the pipe fill up and blocks the child's writes: a slow reader, for real.
struct LineReader {
    lines: Receiver<String>,
    transcript: Arc<Mutex<String>>,
    paused: Arc<(Mutex<bool>, Condvar)>,
}

impl LineReader {
    fn new(stream: impl Read + Send + 'static) -> Self {
        let (tx, lines) = mpsc::channel();
        let transcript = Arc::new(Mutex::new(String::new()));
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let all = transcript.clone();
        let gate = paused.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            loop {
                {
                    let (lock, resumed) = &*gate;
                    let mut paused = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while *paused {
                        paused = resumed.wait(paused).unwrap_or_else(PoisonError::into_inner);
                    }
                }
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                {
                    let mut all = all.lock().unwrap_or_else(PoisonError::into_inner);
                    all.push_str(&line);
                    all.push('\n');
                }
                // Nobody may wait for lines any more; keep draining anyway so the child
                // never blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        LineReader {
            lines,
            transcript,
            paused,
        }
    }

    fn set_paused(&self, pause: bool) {
        let (lock, resumed) = &*self.paused;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = pause;
        resumed.notify_all();
    }

    fn transcript(&self) -> String {
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next line, or `None` at the deadline or at end of stream.
    fn next(&self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).ok()
    }
}

/// A running `chitchat-relay` with its own temporary directories. Killed on drop.
pub struct RelayProcess {
    child: Option<Child>,
    stdout: Option<LineReader>,
    stderr: Option<LineReader>,
    quic: String,
    ready_line: String,
    dir: tempfile::TempDir,
    /// Another relay's certs directory, when this one shares its CA.
    shared_certs: Option<PathBuf>,
    args: Vec<String>,
}

impl RelayProcess {
    /// Starts a relay on `127.0.0.1` (a free UDP port, HTTP on a free TCP port) with fresh
    /// data and certs directories, plus `args`; returns once it printed READY.
    pub fn start(args: &[&str]) -> Self {
        Self::start_in(None, args)
    }

    /// Starts a relay like [`start`](Self::start), but with `other`'s certs directory: both
    /// relays' certificates are signed by the same CA, so one client trusts both (a
    /// deployment of several relays).
    pub fn start_sharing_ca(other: &RelayProcess, args: &[&str]) -> Self {
        Self::start_in(Some(other.certs_dir()), args)
    }

    fn start_in(shared_certs: Option<PathBuf>, args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chitchat-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let mut relay = RelayProcess {
            child: None,
            stdout: None,
            stderr: None,
            quic: String::new(),
            ready_line: String::new(),
            dir,
            shared_certs,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        relay.launch("127.0.0.1:0");
        relay
    }

    fn launch(&mut self, listen: &str) {
        let mut command = Command::new(relay_bin());
        for var in CHITCHAT_ENV {
            command.env_remove(var);
        }
        command
            .arg("--listen")
            .arg(listen)
            .arg("--http")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--certs-dir")
            .arg(self.certs_dir())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawning chitchat-relay");
        let stdout = LineReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = LineReader::new(child.stderr.take().expect("piped stderr"));
        self.child = Some(child);
        let deadline = Instant::now() + RELAY_START_TIMEOUT;
        let ready = loop {
            match stdout.next(deadline) {
                Some(line) if line.starts_with("READY ") => break line,
                Some(_) => continue,
                None => {
                    let status = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    panic!(
                        "chitchat-relay printed no READY line within {:?} (exit: {status:?})\n\
                         --- stdout ---\n{}--- stderr ---\n{}",
                        RELAY_START_TIMEOUT,
                        stdout.transcript(),
                        stderr.transcript()
                    );
                }
            }
        };
        self.quic = ready_field(&ready, "quic")
            .unwrap_or_else(|| panic!("READY line without quic=: {ready}"))
            .to_owned();
        self.ready_line = ready;
        self.stdout = Some(stdout);
        self.stderr = Some(stderr);
    }

    /// The QUIC address clients connect to, e.g. `127.0.0.1:40123`.
    pub fn quic_addr(&self) -> &str {
        &self.quic
    }

    /// A field of the READY line (`quic`, `http`, ...).
    pub fn ready_field(&self, key: &str) -> Option<&str> {
        ready_field(&self.ready_line, key)
    }

    /// The relay's HTTP address (web app, `/healthz`, `/metrics`), from its READY line.
    pub fn http_addr(&self) -> &str {
        self.ready_field("http")
            .unwrap_or_else(|| panic!("READY line without http=: {}", self.ready_line))
    }

    /// `GET path` on the relay's HTTP port.
    pub fn http_get(&self, path: &str) -> std::io::Result<http::Response> {
        http::get(self.http_addr(), path, HTTP_TIMEOUT)
    }

    /// `/healthz` now: its status code and JSON body.
    pub fn health(&self) -> std::io::Result<(u16, serde_json::Value)> {
        let response = self.http_get("/healthz")?;
        let body = serde_json::from_str(&response.body).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("/healthz is not JSON ({e}): {}", response.body),
            )
        })?;
        Ok((response.status, body))
    }

    /// Polls `/healthz` until it says the relay can store messages (`200`, `broker_ready`
    /// true) or cannot (`503`, `broker_ready` false), as `ready` asks; returns that body.
    /// Panics with the last answer and the relay's logs if that does not happen within
    /// `timeout`.
    pub fn wait_health(&self, ready: bool, timeout: Duration) -> serde_json::Value {
        let want_status = if ready { 200 } else { 503 };
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.health();
            if let Ok((status, body)) = &last
                && *status == want_status
                && body["broker_ready"] == serde_json::Value::Bool(ready)
            {
                return body.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: /healthz did not say broker_ready={ready} within {timeout:?}; last: \
                     {last:?}\n--- relay stderr ---\n{}",
                    self.http_addr(),
                    self.logs()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The value of an unlabelled metric on `/metrics`, `None` if the relay does not list
    /// it.
    pub fn metric(&self, name: &str) -> std::io::Result<Option<f64>> {
        let response = self.http_get("/metrics")?;
        if response.status != 200 {
            return Err(std::io::Error::other(format!(
                "/metrics answered {}: {}",
                response.status, response.body
            )));
        }
        Ok(metric_value(&response.body, name))
    }

    /// Polls `/metrics` until `want` holds for the value of `name` (0 while it is not
    /// listed); returns the value. Panics with the last value if `want` does not hold
    /// within `timeout`.
    pub fn wait_metric(&self, name: &str, timeout: Duration, want: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.metric(name).map(|v| v.unwrap_or(0.0));
            if let Ok(value) = last
                && want(value)
            {
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: {name} did not reach the wanted value within {timeout:?}; last: {last:?}",
                    self.http_addr()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The relay's data directory (kept across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The relay's certs directory (kept across restarts).
    pub fn certs_dir(&self) -> PathBuf {
        self.shared_certs
            .clone()
            .unwrap_or_else(|| self.dir.path().join("certs"))
    }

    /// The dev CA certificate clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.certs_dir().join("ca.pem")
    }

    /// What the relay wrote to stderr so far (its logs).
    pub fn logs(&self) -> String {
        self.stderr
            .as_ref()
            .map(LineReader::transcript)
            .unwrap_or_default()
    }

    /// Kills the relay with SIGKILL: no GoAway, no goodbye to anyone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the relay with SIGTERM (it tells clients GoAway and drains) and waits for it to
    /// exit within `timeout`; returns its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the relay is running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the relay") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chitchat-relay did not exit within {timeout:?} of SIGTERM\n--- stderr ---\n{}",
                    self.logs()
                );
            }
            // Polling a child's exit has no blocking-with-timeout form in std; 20 ms steps
            // bound the extra wait.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the relay again (after [`kill9`](Self::kill9) or [`terminate`](Self::terminate))
    /// on the same port, data and certs directories.
    pub fn restart(&mut self) {
        self.kill9();
        let listen = self.quic.clone();
        self.launch(&listen);
        assert_eq!(
            self.quic, listen,
            "the restarted relay must listen where the first one did"
        );
    }

    /// A `chitchat` command line aimed at this relay (its address and CA).
    pub fn cli(&self) -> Cli {
        Cli::new()
            .arg("--relay")
            .arg(&self.quic)
            .arg("--ca")
            .arg(self.ca_file().to_string_lossy())
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
pub fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.trim().parse().ok())
}

fn ready_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A `chitchat` command line being built.
#[derive(Debug, Clone, Default)]
pub struct Cli {
    args: Vec<String>,
    env: Vec<(String, String)>,
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

    /// Starts `tail ROOM --since 0 --json` as `reader` with this command line, taking its
    /// relay for dead after [`TAIL_IDLE_TIMEOUT`] without an answer; returns once it
    /// follows the room.
    pub fn tail(&self, room: &str) -> CliProcess {
        let mut tail = self
            .clone()
            .nick("reader")
            .env(
                "CHITCHAT_IDLE_TIMEOUT_MS",
                TAIL_IDLE_TIMEOUT.as_millis().to_string(),
            )
            .args(["tail", room, "--since", "0", "--json"])
            .spawn();
        tail.wait_for_stderr(&format!("following {room}"), DEFAULT_TIMEOUT);
        tail
    }

    fn command(&self) -> Command {
        let mut command = Command::new(cli_bin());
        for var in CHITCHAT_ENV {
            command.env_remove(var);
        }
        command.args(&self.args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs the command to its end, with stdin closed; kills it and panics if it takes
    /// longer than `timeout`.
    pub fn run(&self, timeout: Duration) -> CliOutput {
        let started = Instant::now();
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning chitchat");
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
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning chitchat");
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

/// Reads a whole stream on a thread; the channel yields it at end of stream.
fn drain(mut stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
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
        let status = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -INT failed");
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
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for chitchat") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "chitchat {:?} did not exit within {timeout:?}\n{}",
                    self.args,
                    self.transcript()
                );
            }
            // std has no wait-with-timeout for a child; 20 ms steps bound the extra wait.
            std::thread::sleep(Duration::from_millis(20));
        }
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
