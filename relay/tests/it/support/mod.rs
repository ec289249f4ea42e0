//! Test support: a relay running in-process on a real UDP port (port 0) with real SQLite
//! files in a temp dir, and a raw client that can send any bytes, over QUIC or over the
//! WebSocket transport ([`Via`]), with helpers for the requests tests make (join, send,
//! history, who, leave) and for reading room streams. The cluster tests use the same client
//! against their own relays ([`cluster`]).

pub mod cluster;
mod link;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chitchat_protocol::*;
use chitchat_relay::{Config, Relay};
use clap::Parser;
use tokio::sync::oneshot;
use tokio::time::timeout;

pub use link::{Link, LinkRecv, LinkSend, Via, quiet_config};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A relay on 127.0.0.1:<free port>, stopped when dropped.
pub struct TestRelay {
    pub addr: SocketAddr,
    /// The HTTP port (the page, /metrics, the WebSocket transport).
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestRelay {
    /// Starts a relay with extra command-line flags.
    pub async fn start(extra: &[&str]) -> TestRelay {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra).await
    }

    /// Starts a relay whose data and certs live in `dir` (reused across restarts).
    pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestRelay {
        let data = dir.path().join("data");
        let certs = dir.path().join("certs");
        let mut args = vec![
            "chitchat-relay".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--certs-dir".into(),
            certs.display().to_string(),
            "--node-id".into(),
            "test".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let relay = Relay::load(Config::parse_from(args)).await.unwrap();
        let addr = relay.local_addr().unwrap();
        let http = relay.http_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(relay.run(async move {
            let _ = stopped.await;
        }));
        TestRelay {
            addr,
            http,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/ca.pem")
    }

    /// Starts the graceful shutdown and returns its task.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap()
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client that speaks the protocol frame by frame, or sends raw bytes, over QUIC or a
/// WebSocket.
pub struct RawClient {
    pub conn: Link,
    pub send: LinkSend,
    recv: LinkRecv,
    buf: FrameBuffer,
}

pub fn client_endpoint(ca: &std::path::Path, stream_window: Option<u32>) -> quinn::Endpoint {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_CHITCHAT.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    if let Some(w) = stream_window {
        transport.stream_receive_window(w.into());
    }
    config.transport_config(Arc::new(transport));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
}

impl RawClient {
    /// Connects and opens the control stream, without saying Hello.
    pub async fn connect(relay: &TestRelay) -> RawClient {
        Self::connect_with(relay, None).await
    }

    pub async fn connect_with(relay: &TestRelay, stream_window: Option<u32>) -> RawClient {
        Self::connect_to(relay.addr, &relay.ca(), stream_window).await
    }

    /// Connects over `via` and opens the control stream, without saying Hello.
    pub async fn connect_via(relay: &TestRelay, via: Via) -> RawClient {
        match via {
            Via::Quic => Self::connect(relay).await,
            Via::WebSocket => Self::from_link(Link::websocket(relay.http).await).await,
        }
    }

    /// Like [`connect_via`](Self::connect_via), with a receive window of `stream_window`
    /// bytes per room stream.
    pub async fn connect_via_with(relay: &TestRelay, via: Via, stream_window: u32) -> RawClient {
        match via {
            Via::Quic => Self::connect_with(relay, Some(stream_window)).await,
            Via::WebSocket => {
                let mut config = link::quiet_config();
                config.max_stream_data_uni = u64::from(stream_window);
                Self::from_link(Link::websocket_with(relay.http, config).await).await
            }
        }
    }

    /// Connects over `via` and completes Hello/Welcome.
    pub async fn hello_via(relay: &TestRelay, via: Via, nick: &str) -> (RawClient, Welcome) {
        let mut c = Self::connect_via(relay, via).await;
        let welcome = c.say_hello(nick).await;
        (c, welcome)
    }

    /// Opens the control stream on an established link.
    pub async fn from_link(conn: Link) -> RawClient {
        let (send, recv) = conn.open_bi().await;
        RawClient {
            conn,
            send,
            recv,
            buf: FrameBuffer::new(),
        }
    }

    /// Connects to the relay at `addr`, trusting the CA certificate in the file `ca`, and
    /// opens the control stream, without saying Hello.
    pub async fn connect_to(addr: SocketAddr, ca: &Path, stream_window: Option<u32>) -> RawClient {
        let endpoint = client_endpoint(ca, stream_window);
        let conn = timeout(WAIT, endpoint.connect(addr, "localhost").unwrap())
            .await
            .expect("connect in time")
            .expect("TLS handshake");
        Self::from_link(Link::Quic {
            conn,
            _endpoint: endpoint,
        })
        .await
    }

    /// Connects and completes Hello/Welcome.
    pub async fn hello(relay: &TestRelay, nick: &str) -> (RawClient, Welcome) {
        Self::hello_to(relay.addr, &relay.ca(), nick).await
    }

    /// Connects to the relay at `addr` (trusting the CA in the file `ca`) and completes
    /// Hello/Welcome.
    pub async fn hello_to(addr: SocketAddr, ca: &Path, nick: &str) -> (RawClient, Welcome) {
        let mut c = Self::connect_to(addr, ca, None).await;
        let welcome = c.say_hello(nick).await;
        (c, welcome)
    }

    /// Hello as a version-1 client (what most tests check: version 1's frames), Welcome.
    pub async fn say_hello(&mut self, nick: &str) -> Welcome {
        self.say_hello_as(nick, MIN_PROTOCOL_VERSION).await
    }

    /// Hello announcing `version`, then Welcome.
    pub async fn say_hello_as(&mut self, nick: &str, version: u16) -> Welcome {
        self.send(&ClientFrame::Hello(Hello {
            version,
            nick: nick.into(),
            token: None,
        }))
        .await;
        match self.recv().await {
            ServerFrame::Welcome(w) => w,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(&encode_frame(frame).unwrap()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.send.write_all(bytes).await.unwrap();
    }

    /// The next control-stream frame.
    pub async fn recv(&mut self) -> ServerFrame {
        timeout(WAIT, async {
            loop {
                if let Some(f) = self.buf.next_frame::<ServerFrame>().unwrap() {
                    return f;
                }
                let chunk = self
                    .recv
                    .read_chunk()
                    .await
                    .expect("control stream readable")
                    .expect("control stream open");
                self.buf.extend(&chunk);
            }
        })
        .await
        .expect("a frame in time")
    }

    /// Sends a request and returns the first reply.
    pub async fn request(&mut self, frame: ClientFrame) -> ServerFrame {
        self.send(&frame).await;
        self.recv().await
    }

    /// Waits for the relay to close the connection; returns its application close code
    /// and reason.
    pub async fn closed(&self) -> (u64, String) {
        timeout(WAIT, self.conn.closed_by_app())
            .await
            .expect("closed in time")
    }

    /// Accepts the next room stream and returns a reader for it.
    pub async fn room_stream(&self) -> RoomReader {
        let recv = timeout(WAIT, self.conn.accept_uni())
            .await
            .expect("room stream in time");
        RoomReader {
            recv,
            buf: FrameBuffer::new(),
            topics: false,
        }
    }

    /// Closes the connection (every room is left).
    pub fn close(&self) {
        self.conn.close(0u32.into(), b"bye");
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads room frames from one room stream.
pub struct RoomReader {
    recv: LinkRecv,
    buf: FrameBuffer,
    /// Whether topic frames are returned; most tests pass over them (version 3 sessions get
    /// one after every `Open`), the topic tests ask for them ([`RoomReader::keep_topics`]).
    topics: bool,
}

impl RoomReader {
    /// Returns topic frames from now on instead of passing over them.
    pub fn keep_topics(&mut self) {
        self.topics = true;
    }

    /// The next room frame, `None` when the stream ends.
    pub async fn next(&mut self) -> Option<RoomFrame> {
        self.next_within(WAIT).await
    }

    /// The next room frame within `limit`, `None` when the stream ends.
    pub async fn next_within(&mut self, limit: Duration) -> Option<RoomFrame> {
        timeout(limit, async {
            loop {
                match self.buf.next_frame::<RoomFrame>().unwrap() {
                    Some(RoomFrame::Topic { .. }) if !self.topics => continue,
                    Some(f) => return Some(f),
                    None => {}
                }
                match self.recv.read_chunk().await.expect("room stream readable") {
                    Some(chunk) => self.buf.extend(&chunk),
                    None => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no room frame within {limit:?}"))
    }

    /// The next message, skipping presence frames.
    pub async fn message(&mut self) -> Message {
        loop {
            match self.next().await.expect("stream open") {
                RoomFrame::Message(m) => return m,
                RoomFrame::Open { .. } | RoomFrame::Presence { .. } => {}
                RoomFrame::Entry(e) => panic!("a version-1 session got an entry: {e:?}"),
                RoomFrame::Renamed { .. } => panic!("a version-1 session got a rename"),
                RoomFrame::Topic { .. } => panic!("a version-1 session got a topic"),
            }
        }
    }

    /// The next log entry (a version-2 session), skipping presence frames.
    pub async fn entry(&mut self) -> Entry {
        loop {
            match self.next().await.expect("stream open") {
                RoomFrame::Entry(e) => return e,
                RoomFrame::Open { .. } | RoomFrame::Presence { .. } | RoomFrame::Topic { .. } => {}
                RoomFrame::Message(m) => panic!("a version-2 session got a Message: {m:?}"),
                RoomFrame::Renamed { from, to } => panic!("unexpected rename {from} -> {to}"),
            }
        }
    }

    /// The next presence or message, as an [`Event`], within `limit`.
    pub async fn event_within(&mut self, limit: Duration) -> Event {
        match self.next_within(limit).await.expect("room stream open") {
            RoomFrame::Presence { nick, joined: true } => Event::Joined(nick),
            RoomFrame::Presence {
                nick,
                joined: false,
            } => Event::Left(nick),
            RoomFrame::Message(m) => Event::Said(m.from, m.text),
            other => panic!("unexpected room frame {other:?}"),
        }
    }

    /// The next presence or message, as an [`Event`].
    pub async fn event(&mut self) -> Event {
        self.event_within(WAIT).await
    }
}

/// A room stream frame reduced to what presence tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Joined(String),
    Left(String),
    Said(String, String),
}

/// Asks to join `room` and returns the reply, whatever it is.
pub async fn request_join(
    c: &mut RawClient,
    id: u32,
    room: &str,
    resume: Option<ResumePoint>,
) -> ServerFrame {
    c.request(ClientFrame::Join {
        id,
        room: room.into(),
        resume,
    })
    .await
}

/// Joins `room` live and returns the Joined frame and the room stream (Open read).
pub async fn join(
    c: &mut RawClient,
    id: u32,
    room: &str,
    resume: Option<ResumePoint>,
) -> (Joined, RoomReader) {
    let joined = match request_join(c, id, room, resume).await {
        ServerFrame::Joined(j) => j,
        other => panic!("expected Joined, got {other:?}"),
    };
    let mut stream = c.room_stream().await;
    match stream.next().await {
        Some(RoomFrame::Open { room: r, epoch }) => {
            assert_eq!(r, room);
            assert_eq!(epoch, joined.epoch);
        }
        other => panic!("expected Open, got {other:?}"),
    }
    (joined, stream)
}

/// Asks to send `text` to `room` and returns the reply, whatever it is.
pub async fn request_send(c: &mut RawClient, id: u32, room: &str, text: &str) -> ServerFrame {
    c.request(ClientFrame::Send {
        id,
        room: room.into(),
        text: text.into(),
    })
    .await
}

/// Sends a text and returns its seq.
pub async fn send_text(c: &mut RawClient, id: u32, room: &str, text: &str) -> u64 {
    match request_send(c, id, room, text).await {
        ServerFrame::Sent { id: got, seq, .. } => {
            assert_eq!(got, id);
            seq
        }
        other => panic!("expected Sent, got {other:?}"),
    }
}

/// Sends requests 1 to `n`, request `id` a `Send` of text `{prefix}{id}` to `room`, without
/// waiting for the replies.
pub async fn send_burst(c: &mut RawClient, room: &str, n: u32, prefix: &str) {
    for id in 1..=n {
        c.send(&ClientFrame::Send {
            id,
            room: room.into(),
            text: format!("{prefix}{id}"),
        })
        .await;
    }
}

/// Asks for up to `limit` messages of `room` before seq `before` (the newest without one);
/// returns the reply, whatever it is.
pub async fn request_history(
    c: &mut RawClient,
    id: u32,
    room: &str,
    before: Option<u64>,
    limit: u16,
) -> ServerFrame {
    c.request(ClientFrame::History {
        id,
        room: room.into(),
        before,
        limit,
    })
    .await
}

/// A page of `room`'s history, as [`request_history`] asks for it.
pub async fn history(
    c: &mut RawClient,
    id: u32,
    room: &str,
    before: Option<u64>,
    limit: u16,
) -> HistoryPage {
    match request_history(c, id, room, before, limit).await {
        ServerFrame::History(page) => page,
        other => panic!("expected History, got {other:?}"),
    }
}

/// `Who` for `room`: its members, sorted.
pub async fn who(c: &mut RawClient, id: u32, room: &str) -> Vec<String> {
    match c
        .request(ClientFrame::Who {
            id,
            room: room.into(),
        })
        .await
    {
        ServerFrame::Members { members, .. } => members,
        other => panic!("expected Members, got {other:?}"),
    }
}

/// Leaves `room`.
pub async fn leave(c: &mut RawClient, id: u32, room: &str) {
    match c
        .request(ClientFrame::Leave {
            id,
            room: room.into(),
        })
        .await
    {
        ServerFrame::Left { .. } => {}
        other => panic!("expected Left, got {other:?}"),
    }
}

/// Expects an Error frame for request `id` with `code`.
pub fn expect_error(frame: ServerFrame, id: u32, code: ErrorCode) -> String {
    match frame {
        ServerFrame::Error(e) => {
            assert_eq!((e.id, e.code), (id, code), "{}", e.message);
            e.message
        }
        other => panic!("expected Error {code}, got {other:?}"),
    }
}
