//! Test support for relays forming a cluster on one real `redis-server`: relays running
//! in-process on port 0, each on a Tokio runtime of its own so that a test can crash one
//! (its runtime stops at once: no drain, no goodbye to Redis, its registry entry left to
//! expire), a protocol client over real QUIC, and a small HTTP GET.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chitchat_protocol::*;
use chitchat_relay::{Config, Relay};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// How long one wait for something that takes milliseconds may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A relay of the cluster, on its own runtime.
pub struct ClusterRelay {
    pub node: String,
    pub quic: SocketAddr,
    pub http: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

impl ClusterRelay {
    /// Starts relay `node` on `redis` with the certificates (one CA for the whole cluster) in
    /// `certs`, plus `extra` flags; returns once it is ready.
    pub async fn start(redis: &str, certs: &Path, node: &str, extra: &[&str]) -> ClusterRelay {
        let data = tempfile::tempdir().expect("a temp dir");
        let mut args: Vec<String> = [
            "chitchat-relay",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--node-id",
            node,
            "--redis",
            redis,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push("--data-dir".into());
        args.push(data.path().display().to_string());
        args.push("--certs-dir".into());
        args.push(certs.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = Config::parse_from(args);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the relay");
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel();
        runtime.spawn(async move {
            let relay = match Relay::load(config).await {
                Ok(relay) => relay,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#}")));
                    return;
                }
            };
            let addrs = (relay.local_addr().unwrap(), relay.http_addr().unwrap());
            let _ = ready_tx.send(Ok(addrs));
            let result = relay
                .run(async move {
                    let _ = stop_rx.await;
                })
                .await;
            let _ = stopped_tx.send(result);
        });
        let (quic, http) = timeout(WAIT, ready)
            .await
            .expect("the relay starts in time")
            .expect("the relay task runs")
            .unwrap_or_else(|e| panic!("relay {node} failed to start: {e}"));
        ClusterRelay {
            node: node.to_string(),
            quic,
            http,
            runtime: Some(runtime),
            stop: Some(stop),
            stopped: Some(stopped),
            _data: data,
        }
    }

    /// Stops the relay as a crash would: every task of its runtime is dropped where it
    /// stands, its sockets close, nothing is said to Redis.
    pub fn crash(&mut self) {
        self.stop.take();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Shuts the relay down gracefully (drain, leave the registry) and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            timeout(Duration::from_secs(30), stopped)
                .await
                .expect("the relay stops in time")
                .expect("the relay reports how it stopped")
                .expect("the relay stops cleanly");
        }
        self.crash();
    }

    /// `GET path` on the relay's HTTP port.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }

    /// `GET /relays`, as JSON.
    pub async fn relays(&self) -> serde_json::Value {
        let (status, body) = self.get("/relays").await;
        assert_eq!(status, 200, "GET /relays: {body}");
        serde_json::from_str(&body).expect("/relays is JSON")
    }
}

impl Drop for ClusterRelay {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The node ids `GET /relays` lists, in its order.
pub fn relay_nodes(relays: &serde_json::Value) -> Vec<String> {
    relays["relays"]
        .as_array()
        .expect("a relays array")
        .iter()
        .map(|r| r["node"].as_str().expect("a node id").to_string())
        .collect()
}

/// A minimal HTTP/1.1 GET on loopback, closing the connection; (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = timeout(WAIT, exchange)
        .await
        .expect("an HTTP answer in time")
        .expect("an HTTP exchange");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked responses are not expected here"
    );
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

/// Polls `check` until it returns `Some`, for at most `limit`; panics naming `what`.
/// For state that has no notification (HTTP endpoints).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A protocol client over real QUIC.
pub struct Client {
    pub nick: String,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    buf: FrameBuffer,
    next_id: u32,
    _endpoint: quinn::Endpoint,
}

impl Client {
    /// Connects to `relay` trusting the CA in `certs`, and completes Hello/Welcome.
    pub async fn connect(relay: &ClusterRelay, certs: &Path, nick: &str) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(certs.join("ca.pem")).expect("the cluster's CA");
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots
                .add(cert.expect("a CA certificate"))
                .expect("a usable CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN_CHITCHAT.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("a client socket");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = timeout(
            WAIT,
            endpoint.connect(relay.quic, "localhost").expect("connect"),
        )
        .await
        .expect("connected in time")
        .expect("TLS handshake");
        let (send, recv) = conn.open_bi().await.expect("a control stream");
        let mut client = Client {
            nick: nick.to_string(),
            conn,
            send,
            recv,
            buf: FrameBuffer::new(),
            next_id: 1,
            _endpoint: endpoint,
        };
        client
            .send(&ClientFrame::Hello(Hello {
                version: PROTOCOL_VERSION,
                nick: nick.into(),
                token: None,
            }))
            .await;
        match client.recv().await {
            ServerFrame::Welcome(_) => client,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    async fn send(&mut self, frame: &ClientFrame) {
        let bytes = encode_frame(frame).expect("encodable");
        self.send
            .write_all(&bytes)
            .await
            .expect("control stream writable");
    }

    async fn recv(&mut self) -> ServerFrame {
        timeout(WAIT, async {
            loop {
                if let Some(f) = self.buf.next_frame::<ServerFrame>().expect("a valid frame") {
                    return f;
                }
                let chunk = self
                    .recv
                    .read_chunk(65536, true)
                    .await
                    .expect("control stream readable")
                    .expect("control stream open");
                self.buf.extend(&chunk.bytes);
            }
        })
        .await
        .expect("a control frame in time")
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Joins `room` live; returns the Joined frame and the room stream (Open read).
    pub async fn join(&mut self, room: &str) -> (Joined, RoomStream) {
        let id = self.id();
        self.send(&ClientFrame::Join {
            id,
            room: room.into(),
            resume: None,
        })
        .await;
        let joined = match self.recv().await {
            ServerFrame::Joined(j) => j,
            other => panic!("expected Joined, got {other:?}"),
        };
        let recv = timeout(WAIT, self.conn.accept_uni())
            .await
            .expect("a room stream in time")
            .expect("a room stream");
        let mut stream = RoomStream {
            recv,
            buf: FrameBuffer::new(),
        };
        match stream.next().await {
            RoomFrame::Open { room: r, .. } => assert_eq!(r, room),
            other => panic!("expected Open, got {other:?}"),
        }
        (joined, stream)
    }

    /// `Who` for `room`: its members, sorted.
    pub async fn who(&mut self, room: &str) -> Vec<String> {
        let id = self.id();
        self.send(&ClientFrame::Who {
            id,
            room: room.into(),
        })
        .await;
        match self.recv().await {
            ServerFrame::Members { members, .. } => members,
            other => panic!("expected Members, got {other:?}"),
        }
    }

    /// Sends `text` to `room` and waits until it is stored.
    pub async fn say(&mut self, room: &str, text: &str) -> u64 {
        let id = self.id();
        self.send(&ClientFrame::Send {
            id,
            room: room.into(),
            text: text.into(),
        })
        .await;
        match self.recv().await {
            ServerFrame::Sent { seq, .. } => seq,
            other => panic!("expected Sent, got {other:?}"),
        }
    }

    /// Leaves `room`.
    pub async fn leave(&mut self, room: &str) {
        let id = self.id();
        self.send(&ClientFrame::Leave {
            id,
            room: room.into(),
        })
        .await;
        match self.recv().await {
            ServerFrame::Left { .. } => {}
            other => panic!("expected Left, got {other:?}"),
        }
    }

    /// Closes the connection (every room is left).
    pub fn close(&self) {
        self.conn.close(0u32.into(), b"bye");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

/// The frames of one joined room.
pub struct RoomStream {
    recv: quinn::RecvStream,
    buf: FrameBuffer,
}

/// A room stream frame reduced to what these tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Joined(String),
    Left(String),
    Said(String, String),
}

impl RoomStream {
    /// The next frame, within `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> RoomFrame {
        timeout(limit, async {
            loop {
                if let Some(f) = self.buf.next_frame::<RoomFrame>().expect("a valid frame") {
                    return f;
                }
                let chunk = self
                    .recv
                    .read_chunk(65536, true)
                    .await
                    .expect("room stream readable")
                    .expect("room stream open");
                self.buf.extend(&chunk.bytes);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no room frame within {limit:?}"))
    }

    pub async fn next(&mut self) -> RoomFrame {
        self.next_within(WAIT).await
    }

    /// The next presence or message, as an [`Event`], within `limit`.
    pub async fn event_within(&mut self, limit: Duration) -> Event {
        match self.next_within(limit).await {
            RoomFrame::Presence { nick, joined: true } => Event::Joined(nick),
            RoomFrame::Presence {
                nick,
                joined: false,
            } => Event::Left(nick),
            RoomFrame::Message(m) => Event::Said(m.from, m.text),
            other => panic!("unexpected room frame {other:?}"),
        }
    }

    pub async fn event(&mut self) -> Event {
        self.event_within(WAIT).await
    }
}
