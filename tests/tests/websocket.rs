//! The CLI over the relay's WebSocket transport (QMux on the HTTP port): `send` and `tail`
//! over `ws://` and, with a real certificate, `wss://`; falling back by itself to the
//! WebSocket relay when UDP gets no answer; and the words it finds for WebSocket addresses
//! that do not lead to a relay.

use std::net::UdpSocket;
use std::time::Duration;

use chitchat_tests::certs::TestCerts;
use chitchat_tests::{Cli, DEFAULT_TIMEOUT, RelayProcess, http, json_lines, texts};

/// The `/metrics` sample of open WebSocket sessions.
const WS_SESSIONS: &str = "chitchat_sessions{transport=\"websocket\"}";

/// A `chitchat` command line for `relays`, trusting `ca`.
fn cli(relays: &[&str], ca: &std::path::Path) -> Cli {
    let mut cli = Cli::new();
    for relay in relays {
        cli = cli.arg("--relay").arg(relay);
    }
    cli.arg("--ca").arg(ca.to_string_lossy())
}

#[test]
fn send_and_tail_over_ws() {
    let relay = RelayProcess::start(&[]);
    let ws = format!("ws://{}", relay.http_addr());
    let mut tail = cli(&[&ws], &relay.ca_file()).tail("lobby");
    // The tail's session is a WebSocket one.
    relay.wait_metric(WS_SESSIONS, DEFAULT_TIMEOUT, |v| v == 1.0);

    let seq = cli(&[&ws], &relay.ca_file()).send("lobby", "over a websocket");
    let quic_seq = relay.cli().send("lobby", "over quic");
    assert_eq!((seq, quic_seq), (1, 2));
    let lines = tail.take_lines(2, DEFAULT_TIMEOUT);
    assert_eq!(
        texts(&json_lines(&lines)),
        vec!["over a websocket", "over quic"]
    );
    // The page's path is written out in full too.
    let history = cli(&[&format!("{ws}/ws")], &relay.ca_file())
        .args(["history", "lobby"])
        .output();
    history.assert_success();
    assert!(history.stdout.contains("over quic"), "{history}");
}

#[test]
fn send_and_tail_over_wss_with_a_real_certificate() {
    let certs = TestCerts::new();
    let mut args = certs.relay_args();
    args.extend(["--admin-listen".into(), "127.0.0.1:0".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = RelayProcess::start(&args);
    let http_port = relay.http_addr().rsplit_once(':').expect("a port").1;
    let wss = format!("wss://localhost:{http_port}");

    let mut tail = cli(&[&wss], &certs.ca()).tail("lobby");
    let seq = cli(&[&wss], &certs.ca()).send("lobby", "over tls");
    // QUIC serves the same certificate.
    let quic_seq = cli(&[relay.quic_addr()], &certs.ca()).send("lobby", "over quic");
    assert_eq!((seq, quic_seq), (1, 2));
    let lines = tail.take_lines(2, DEFAULT_TIMEOUT);
    assert_eq!(texts(&json_lines(&lines)), vec!["over tls", "over quic"]);

    // The HTTP port speaks TLS only: a plain request gets no HTTP answer.
    assert!(
        relay.http_get("/healthz").is_err(),
        "plain HTTP on the TLS port"
    );
    let admin = relay.ready_field("admin").expect("admin= in READY");
    let metrics = http::get(admin, "/metrics", DEFAULT_TIMEOUT).expect("/metrics");
    assert!(
        metrics.body.contains(&format!("{WS_SESSIONS} 1")),
        "{}",
        metrics.body
    );

    // A client that trusts another CA is told so.
    let other = TestCerts::new();
    let out = cli(&[&wss], &other.ca())
        .args(["send", "lobby", "hi"])
        .output();
    out.assert_exit_code(2);
    assert!(out.stderr.contains("is not signed by the CA in"), "{out}");
}

#[test]
fn the_cli_falls_back_to_websocket_when_udp_gets_no_answer() {
    let relay = RelayProcess::start(&[]);
    // A UDP port that is bound and never read: QUIC Initials vanish without an ICMP error,
    // as behind a firewall that drops UDP.
    let dropped = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let dropped = dropped.local_addr().expect("its address").to_string();
    let ws = format!("ws://{}", relay.http_addr());
    // The WebSocket relay listed first is still tried after the QUIC one.
    let relays = [ws.as_str(), dropped.as_str()];

    let mut tail = cli(&relays, &relay.ca_file()).tail("lobby");
    relay.wait_metric(WS_SESSIONS, DEFAULT_TIMEOUT, |v| v == 1.0);
    let seq = cli(&relays, &relay.ca_file()).send("lobby", "through the fallback");
    assert_eq!(seq, 1);
    relay.cli().send("lobby", "from quic");
    let lines = tail.take_lines(2, DEFAULT_TIMEOUT);
    assert_eq!(
        texts(&json_lines(&lines)),
        vec!["through the fallback", "from quic"]
    );
}

#[test]
fn websocket_addresses_that_lead_nowhere_are_explained() {
    let relay = RelayProcess::start(&["--admin-listen", "127.0.0.1:0"]);
    let ca = relay.ca_file();
    let send = |relay_arg: &str| {
        cli(&[relay_arg], &ca)
            .args(["send", "lobby", "hi"])
            .run(Duration::from_secs(20))
    };

    // Nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a TCP port");
    let closed_addr = closed.local_addr().expect("its address");
    drop(closed);
    let out = send(&format!("ws://{closed_addr}"));
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains(&format!(
            "no relay answering at ws://{closed_addr} (connection refused)"
        )),
        "{out}"
    );

    // An HTTP server without the WebSocket transport (the admin port has no /ws).
    let admin = relay.ready_field("admin").expect("admin= in READY");
    let out = send(&format!("ws://{admin}"));
    out.assert_exit_code(1);
    assert!(
        out.stderr.contains("WebSocket upgrade refused") && out.stderr.contains("404"),
        "{out}"
    );

    // TLS asked of a plain HTTP port.
    let out = send(&format!("wss://{}", relay.http_addr()));
    out.assert_exit_code(1);
    assert!(out.stderr.contains("cannot reach relay wss://"), "{out}");

    // Schemes and paths that name no relay are refused before any connection.
    for bad in ["http://localhost:8080", "ws://localhost:8080/chat"] {
        let out = send(bad);
        assert!(!out.status.success(), "{out}");
        assert!(out.stderr.contains("invalid relay address"), "{bad}: {out}");
    }
}
