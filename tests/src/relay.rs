//! [`RelayProcess`]: a real `chitchat-relay` on a free port, its `READY` line, its HTTP
//! side, and killing, stopping and restarting it.

use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::child::{LineReader, command, relay_bin, signal, wait_exit};
use crate::{Cli, RELAY_START_TIMEOUT, http};

/// How long one request to a relay's HTTP port may take: it answers locally in
/// milliseconds.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`RelayProcess::wait_health`] and [`RelayProcess::wait_metric`] ask again: fast
/// enough that a test waits little past the change, slow enough not to load the relay.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

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
        let mut command = command(relay_bin());
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

    /// The relay's process id while it runs (for its /proc/PID/status and /proc/PID/fd).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        signal(&child, "-TERM");
        wait_exit(&mut child, timeout).unwrap_or_else(|| {
            panic!(
                "chitchat-relay did not exit within {timeout:?} of SIGTERM\n--- stderr ---\n{}",
                self.logs()
            )
        })
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
