//! What every child process of a test shares: where the built binaries are, an
//! environment cleared of the developer's settings, reading its output on threads, and
//! signalling it and waiting for it with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The environment variables `chitchat` and `chitchat-relay` read; cleared for every process
/// a test starts, so the developer's environment cannot change a test.
pub(crate) const CHITCHAT_ENV: &[&str] = &[
    "CHITCHAT_RELAY",
    "CHITCHAT_NICK",
    "CHITCHAT_CA",
    "CHITCHAT_CONNECT_TIMEOUT_MS",
    "CHITCHAT_IDLE_TIMEOUT_MS",
    "CHITCHAT_LOG",
    "CHITCHAT_LOG_LEVEL",
    "CHITCHAT_RELAY_CONFIG",
    "RUST_LOG",
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
    "CHITCHAT_GUEST_SECRET_FILE",
    "CHITCHAT_NICK_CLAIM_TTL",
    "CHITCHAT_TOKEN",
    "CHITCHAT_CONFIG",
    "CHITCHAT_CONTEXT",
];

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

/// A command for the workspace binary at `path`, with [`CHITCHAT_ENV`] cleared.
pub(crate) fn command(path: PathBuf) -> Command {
    let mut command = Command::new(path);
    for var in CHITCHAT_ENV {
        command.env_remove(var);
    }
    command
}

/// Sends `child` the signal `signal` (a `kill` flag such as `-TERM`).
pub(crate) fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} failed");
}

/// Waits up to `timeout` for `child` to exit; kills it and returns `None` if it does not.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        // std has no wait-with-timeout for a child; 20 ms steps bound the extra wait.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects a child's output stream on a thread: lines go to a channel (for waiting on
/// them) and into a shared transcript (for failure messages). Reading can be paused, which
/// lets the pipe fill up and blocks the child's writes: a slow reader, for real.
pub(crate) struct LineReader {
    lines: Receiver<String>,
    transcript: Arc<Mutex<String>>,
    paused: Arc<(Mutex<bool>, Condvar)>,
}

impl LineReader {
    pub(crate) fn new(stream: impl Read + Send + 'static) -> Self {
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

    pub(crate) fn set_paused(&self, pause: bool) {
        let (lock, resumed) = &*self.paused;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = pause;
        resumed.notify_all();
    }

    pub(crate) fn transcript(&self) -> String {
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next line, or `None` at the deadline or at end of stream.
    pub(crate) fn next(&self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).ok()
    }
}

/// Reads a whole stream on a thread; the channel yields it at end of stream.
pub(crate) fn drain(mut stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}
