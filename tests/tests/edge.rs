//! The relay's front doors under attack, against a real relay process on loopback: a flood
//! of fresh QUIC Initials from one host (Retry past the threshold, bounded memory, no
//! amplification past 3x, a legitimate client still served) and half-open HTTP connections
//! (slowloris: /healthz still answers, descriptors bounded, the attackers timed out).
//!
//! Attack traffic comes from 127.0.0.2, the legitimate clients from 127.0.0.1: per-address
//! limits are what keeps one host from hurting the others.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chitchat_protocol::ALPN_CHITCHAT;
use chitchat_tests::RelayProcess;

/// The attacker's address: another loopback address, so per-address limits apply to it and
/// not to the legitimate client on 127.0.0.1.
const ATTACKER: &str = "127.0.0.2";

/// The flood of the issue: 4 000 fresh Initials in about 5 s.
const INITIALS: usize = 4000;
const FLOOD_TIME: Duration = Duration::from_secs(5);

/// Resident memory the relay may reach under the flood (the bound); without Retry
/// it reached 187 MB.
const FLOOD_RSS_MB: u64 = 60;

/// Half-open HTTP connections of the issue.
const SLOWLORIS: usize = 1100;

/// Open descriptors the relay may hold under the slowloris attack: its own (sockets,
/// SQLite, epoll, pipes: about 30) plus the per-address cap of 32, with a generous margin.
/// Without the cap it held one per attacking connection.
const SLOWLORIS_FDS: usize = 300;

/// How long any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(30);

/// Resident memory of a process (MB), from /proc/PID/status.
fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc status");
    kb / 1024
}

/// Open descriptors of a process, from /proc/PID/fd.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count()
}

/// Real client Initials (each a new connection: its own random destination id), made by a
/// quinn client that connects to a local sink; nothing ever answers them.
async fn fresh_initials(n: usize) -> Vec<Vec<u8>> {
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_CHITCHAT.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // No retransmission while the Initials are collected.
    transport.initial_rtt(Duration::from_secs(60));
    config.transport_config(Arc::new(transport));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    let mut seen = HashSet::new();
    let mut initials = Vec::with_capacity(n);
    let mut pending = Vec::with_capacity(n);
    let mut buf = vec![0u8; 2048];
    while initials.len() < n {
        pending.push(endpoint.connect(sink_addr, "localhost").unwrap());
        loop {
            let (len, _) = tokio::time::timeout(WAIT, sink.recv_from(&mut buf))
                .await
                .expect("the client's Initial")
                .unwrap();
            // Long header: flags, version (4), DCID length, DCID.
            let dcid_len = usize::from(buf[5]);
            if seen.insert(buf[6..6 + dcid_len].to_vec()) {
                initials.push(buf[..len].to_vec());
                break;
            }
        }
    }
    drop(pending);
    endpoint.close(0u32.into(), b"");
    initials
}

/// What a flood drew back.
struct Flood {
    sent: u64,
    received: u64,
    peak_rss_mb: u64,
}

/// Sends `initials` to `relay` from the attacker's address, evenly over `over`, counting
/// the bytes that come back and sampling the relay's memory; then listens a little longer
/// for retransmissions.
async fn flood(relay: SocketAddr, pid: u32, initials: &[Vec<u8>], over: Duration) -> Flood {
    let socket = Arc::new(
        tokio::net::UdpSocket::bind(format!("{ATTACKER}:0"))
            .await
            .unwrap(),
    );
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let socket = socket.clone();
        let received = received.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(len) = socket.recv(&mut buf).await {
                received.fetch_add(len as u64, Ordering::Relaxed);
            }
        })
    };
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    let mut peak_rss_mb = 0;
    for (i, initial) in initials.iter().enumerate() {
        let due = start + over.mul_f64(i as f64 / initials.len() as f64);
        tokio::time::sleep_until(due).await;
        sent += socket.send_to(initial, relay).await.unwrap() as u64;
        if i % 200 == 0 {
            peak_rss_mb = peak_rss_mb.max(rss_mb(pid));
        }
    }
    // Answers and retransmissions of the flight come within a few PTOs.
    let settle = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < settle {
        peak_rss_mb = peak_rss_mb.max(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    reader.abort();
    Flood {
        sent,
        received: received.load(Ordering::Relaxed),
        peak_rss_mb,
    }
}

#[test]
fn a_flood_of_initials_is_answered_with_retry_and_others_still_connect() {
    let relay = RelayProcess::start(&[]);
    let pid = relay.pid().unwrap();
    let addr: SocketAddr = relay.quic_addr().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let initials = rt.block_on(fresh_initials(INITIALS));
    let before = rss_mb(pid);
    let flood = rt.block_on(flood(addr, pid, &initials, FLOOD_TIME));
    let ratio = flood.received as f64 / flood.sent as f64;
    eprintln!(
        "flood: {} Initials, {} B sent, {} B back (x{ratio:.2}), RSS {before} MB -> peak {} MB",
        initials.len(),
        flood.sent,
        flood.received,
        flood.peak_rss_mb
    );
    assert!(
        flood.peak_rss_mb < FLOOD_RSS_MB,
        "relay RSS reached {} MB under the flood",
        flood.peak_rss_mb
    );
    assert!(
        ratio < 1.0,
        "the flood drew {ratio:.2}x its bytes back: Initials were answered with the certificate flight"
    );
    let metrics = relay.http_get("/metrics").expect("/metrics").body;
    let retried: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chitchat_admission_total{verdict=\"retry\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(retried > 3000.0, "only {retried} Retry answers");
    // The victim: a legitimate client on another address connects, sends and is answered.
    let seq = relay.cli().send("after-the-flood", "still here");
    assert!(seq > 0);
}

/// One Initial and what it draws back.
fn bytes_back_for_one_initial(args: &[&str]) -> (u64, u64) {
    let relay = RelayProcess::start(args);
    let pid = relay.pid().unwrap();
    let addr: SocketAddr = relay.quic_addr().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let initials = rt.block_on(fresh_initials(1));
    let flood = rt.block_on(flood(addr, pid, &initials, Duration::ZERO));
    (flood.sent, flood.received)
}

/// Under load (here: always, `--retry-above 0`) an Initial is answered with a Retry alone.
/// Below the threshold quinn-proto 0.11 answers with the flight and then up to one full
/// datagram past RFC 9000's 3x (docs/amplification.md); that number is printed, not
/// asserted.
#[test]
fn with_retry_one_initial_draws_less_than_its_size() {
    let (sent, back) = bytes_back_for_one_initial(&[]);
    eprintln!("below the Retry threshold: one Initial of {sent} B drew {back} B back");
    let (sent, back) = bytes_back_for_one_initial(&["--retry-above", "0"]);
    eprintln!("with Retry: one Initial of {sent} B drew {back} B back");
    assert!(back > 0, "no answer at all");
    assert!(back < sent, "{back} B back for {sent} B with Retry on");
}

#[test]
fn half_open_http_connections_do_not_stop_healthz() {
    let relay = RelayProcess::start(&["--http-header-timeout-secs", "2"]);
    let pid = relay.pid().unwrap();
    let http: SocketAddr = relay.http_addr().parse().unwrap();
    let attacker: SocketAddr = format!("{ATTACKER}:0").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut held = Vec::with_capacity(SLOWLORIS);
    for _ in 0..SLOWLORIS {
        let mut s = rt
            .block_on(connect_from(attacker, http))
            .expect("connecting from the attacker's address");
        // Headers begun, never finished.
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        held.push(s);
    }
    // The victim's health check, from 127.0.0.1, answers.
    let (status, body) = relay.health().expect("/healthz answers under slowloris");
    assert_eq!(status, 200, "{body}");
    let fds = open_fds(pid);
    assert!(fds < SLOWLORIS_FDS, "relay holds {fds} descriptors");
    // The half-open requests are timed out: each attacking connection is closed.
    let deadline = Instant::now() + WAIT;
    for mut s in held {
        s.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
            .unwrap();
        let mut buf = [0u8; 512];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(
            closed,
            "a half-open connection was still open after {WAIT:?}"
        );
    }
}

/// A blocking TCP connection to `to` from the address of `from`.
async fn connect_from(from: SocketAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(from)?;
    let stream = socket.connect(to).await?.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// `GET path` with a chosen `Host` header; the response's head (lower-cased) and body.
fn get_with_host(addr: &str, path: &str, host: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connecting to the HTTP port");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn the_page_never_echoes_a_foreign_host_and_carries_its_policy() {
    let relay = RelayProcess::start(&[]);
    let quic_port = relay.quic_addr().rsplit_once(':').unwrap().1.to_string();
    let (head, body) = get_with_host(relay.http_addr(), "/", "evil.example");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        !body.contains("evil.example"),
        "the foreign host is in the page"
    );
    assert!(body.contains(&format!("https://localhost:{quic_port}/")));
    let (_, config) = get_with_host(relay.http_addr(), "/config.json", "evil.example");
    assert!(!config.contains("evil.example"), "{config}");
    // The host the certificate names is kept.
    let (_, body) = get_with_host(relay.http_addr(), "/", "127.0.0.1:1234");
    assert!(body.contains(&format!("https://127.0.0.1:{quic_port}/")));
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .expect("a Content-Security-Policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains(&format!("connect-src 'self' https://localhost:{quic_port}")),
        "{csp}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
}

#[test]
fn the_admin_listener_takes_metrics_and_relays_off_the_public_port() {
    let public = RelayProcess::start(&[]);
    assert_eq!(public.http_get("/metrics").unwrap().status, 200);
    let relay = RelayProcess::start(&["--admin-listen", "127.0.0.1:0"]);
    let admin = relay
        .ready_field("admin")
        .expect("admin= in READY")
        .to_string();
    for path in ["/metrics", "/relays"] {
        assert_eq!(relay.http_get(path).unwrap().status, 404, "{path} public");
        let (head, _) = get_with_host(&admin, path, "localhost");
        assert!(head.starts_with("http/1.1 200"), "{path} on admin: {head}");
    }
    assert_eq!(relay.health().unwrap().0, 200);
    let (head, body) = get_with_host(&admin, "/healthz", "localhost");
    assert!(head.starts_with("http/1.1 200"), "{head}{body}");
}
