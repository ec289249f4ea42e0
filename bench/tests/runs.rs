//! `chitchat-bench` end to end: the real binary against a real relay process.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chitchat_tests::{CliOutput, RelayProcess};

/// A short run (warm-up 2 s, 1 s measured, drain) plus connection setup fits well in this.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a running `chitchat-bench` is checked for having exited.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs `chitchat-bench --relay RELAY --ca CA ARGS...` to its end with stdin closed and none
/// of the developer's `CHITCHAT_*` variables; kills it and panics past `timeout`.
fn bench(relay: &RelayProcess, args: &[&str], timeout: Duration) -> CliOutput {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chitchat-bench"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHITCHAT_") {
            command.env_remove(key);
        }
    }
    command.arg("--relay").arg(relay.quic_addr());
    command.arg("--ca").arg(relay.ca_file()).args(args);
    command.stdin(Stdio::null());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawning chitchat-bench");
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chitchat-bench") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chitchat-bench {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    CliOutput {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    }
}

/// Reads a stream to its end on a thread: a pipe nobody reads would fill up and block the
/// process.
fn read_all(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

fn json_line(out: &CliOutput) -> serde_json::Value {
    let line = out
        .lines()
        .into_iter()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line: {out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn small_fanout(relay: &RelayProcess, transport: &str) -> serde_json::Value {
    // The WebSocket transport is on the relay's HTTP port.
    let ws = format!("ws://{}", relay.http_addr());
    let relays: &[&str] = if transport == "ws" {
        &["--relays", &ws]
    } else {
        &[]
    };
    let out = bench(
        relay,
        &[
            relays,
            &[
                "fanout-small",
                "--transport",
                transport,
                "-S",
                "6",
                "-P",
                "2",
                "-R",
                "40",
                "-T",
                "1",
                "-B",
                "64",
                "--json",
            ],
        ]
        .concat(),
        RUN_TIMEOUT,
    );
    out.assert_success();
    assert_eq!(
        out.lines().len(),
        1,
        "--json prints only the JSON line: {out}"
    );
    json_line(&out)
}

#[test]
fn every_measured_message_reaches_every_subscriber_over_every_transport() {
    let relay = RelayProcess::start(&["--msgs-per-sec", "1000", "--msgs-burst", "1000"]);
    for transport in ["quic", "webtransport", "ws"] {
        let r = small_fanout(&relay, transport);
        assert_eq!(r["transport"], transport, "{r}");
        assert_eq!(r["scenario"], "fanout-small", "{r}");
        // round(T*R) = 40 measured messages, each to the one room's 6 members.
        assert_eq!(r["sent"], 40, "{r}");
        assert_eq!(r["expected_deliveries"], 240, "{r}");
        assert_eq!(r["delivered"], 240, "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(r["send_errors"], 0, "{r}");
        let p50 = r["lat_p50_ms"].as_f64().unwrap();
        let p99 = r["lat_p99_ms"].as_f64().unwrap();
        let max = r["lat_max_ms"].as_f64().unwrap();
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{r}");
        // Every measured send was acknowledged, so both acknowledgement figures are set.
        let ack50 = r["ack_p50_ms"].as_f64().unwrap();
        let ack99 = r["ack_p99_ms"].as_f64().unwrap();
        assert!(0.0 < ack50 && ack50 <= ack99, "{r}");
        for field in [
            "server_cpu_s",
            "server_cpu_us_per_delivery",
            "server_cpu_us_per_msg",
            "redis_cpu_s",
            "load_cpu_s",
            "machine_cpu_busy_pct",
            "server_rss_mb",
            "deliveries_per_sec",
            "udp_send_floor_us",
        ] {
            assert!(r[field].is_number(), "{field} missing: {r}");
        }
    }
}

#[test]
fn the_relays_default_rate_limit_shows_as_refused_sends() {
    // Default limits: 30 messages/s per session, burst 60; one publisher at 100/s.
    let relay = RelayProcess::start(&[]);
    let out = bench(
        &relay,
        &[
            "fanout-small",
            "-S",
            "2",
            "-P",
            "1",
            "-R",
            "100",
            "-T",
            "1",
            "--json",
        ],
        RUN_TIMEOUT,
    );
    out.assert_success();
    let r = json_line(&out);
    assert!(r["send_errors"].as_u64().unwrap() > 0, "{r}");
    assert!(r["lost"].as_u64().unwrap() > 0, "{r}");
    assert!(out.stderr.contains("refused"), "{out}");
}
