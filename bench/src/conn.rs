//! The load generator's connections: native QUIC (ALPN `chitchat/1`), WebTransport (the
//! browser's path: HTTP/3 CONNECT, then the same frames on WebTransport streams), spread
//! over a few client UDP sockets, or the WebSocket transport (QMux on the relay's HTTP port,
//! `ws://` or `wss://` relays; the CLI's [`chitchat_cli::client::link`]).
//!
//! A [`BenchSession`] speaks the protocol directly: Hello, Join and Send on the control
//! stream, room messages read raw from the room stream. It does the little a load generator
//! needs and nothing else, so its own CPU stays small next to the relays' on shared cores
//! (the [`chitchat_cli::client`] library, made for people, decodes every message into owned
//! strings and passes it through two tasks).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chitchat_protocol::{
    ALPN_CHITCHAT, ALPN_H3, ClientFrame, FrameBuffer, FrameError, Hello, Joined,
    MIN_PROTOCOL_VERSION, ServerFrame, Welcome,
};
use quinn::crypto::rustls::QuicClientConfig;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use chitchat_cli::client::link::{self, Link, LinkRecv, LinkSend};
use chitchat_cli::client::{ClientConfig, load_roots, wss_connector};
use chitchat_cli::{RelayAddr, addr::Via};

/// Kernel buffer asked for each client socket: a fan-out burst to hundreds of connections
/// sharing a socket must not overflow it (the kernel caps it at net.core.rmem_max).
const SOCKET_BUFFER: usize = 4 << 20;

/// How often an idle bench connection pings the relay. The relay drops a session after 30 s
/// of silence by default; 10 s leaves two pings to spare, and at 50 000 idle sessions costs
/// 5 000 small packets a second, which the connections scenario's idle CPU includes.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A connection that hears nothing for this long is dead (the relay's default idle timeout).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Room streams the relay may open per connection; bench sessions join one room, the slack
/// covers a relay that opens the next before the last one is gone.
const MAX_ROOM_STREAMS: u32 = 16;

/// Bytes asked for per read: large reads save wake-ups when a room is busy.
pub const READ_CHUNK: usize = 64 * 1024;

/// Which kind of session the load generator opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Native QUIC, as the CLI speaks it.
    Quic,
    /// WebTransport over HTTP/3, as browsers speak it.
    Webtransport,
    /// QMux over a WebSocket to the relay's HTTP port (`ws://` or `wss://` relays), the
    /// fallback of browsers and networks without UDP.
    Ws,
}

/// Why a bench connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot open a UDP socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connecting to {relay}: {reason}")]
    Connect { relay: String, reason: String },
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("bad frame from the relay: {0}")]
    Frame(#[from] FrameError),
    #[error("the relay refused: {0}")]
    Refused(String),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Opens bench sessions to relays.
pub struct Dialer {
    transport: Transport,
    quic: Vec<quinn::Endpoint>,
    quic_config: quinn::ClientConfig,
    wt: Vec<wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>>,
    /// TLS for `wss://` relays.
    wss: tokio_rustls::TlsConnector,
    next: AtomicUsize,
    timeout: Duration,
}

impl Dialer {
    /// Prepares `sockets` client sockets trusting the CA in `ca_file`; every step of a
    /// connection (handshake, Hello, each request) must finish within `timeout`.
    pub fn new(
        transport: Transport,
        ca_file: &Path,
        sockets: usize,
        timeout: Duration,
    ) -> Result<Dialer, ConnError> {
        let sockets = sockets.max(1);
        let alpn = match transport {
            Transport::Quic | Transport::Ws => ALPN_CHITCHAT,
            Transport::Webtransport => ALPN_H3,
        };
        let wss = wss_connector(&ClientConfig::new(ca_file))
            .map_err(|e| ConnError::Tls(e.to_string()))?;
        let tls = tls_config(ca_file, alpn)?;
        let mut quic = Vec::new();
        let mut wt = Vec::new();
        let quic_config = {
            let crypto = QuicClientConfig::try_from(tls.clone())
                .map_err(|e| ConnError::Tls(e.to_string()))?;
            let mut config = quinn::ClientConfig::new(Arc::new(crypto));
            config.transport_config(Arc::new(transport_config()?));
            config
        };
        // WebSocket sessions each have their own TCP connection.
        let sockets = if transport == Transport::Ws {
            0
        } else {
            sockets
        };
        for _ in 0..sockets {
            let socket = udp_socket()?;
            match transport {
                Transport::Quic => quic.push(quinn::Endpoint::new(
                    quinn::EndpointConfig::default(),
                    None,
                    socket,
                    Arc::new(quinn::TokioRuntime),
                )?),
                Transport::Webtransport => {
                    let config = wtransport::ClientConfig::builder()
                        .with_bind_socket(socket)
                        .with_custom_tls_and_transport(tls.clone(), transport_config()?)
                        .build();
                    wt.push(wtransport::Endpoint::client(config)?);
                }
                Transport::Ws => {}
            }
        }
        Ok(Dialer {
            transport,
            quic,
            quic_config,
            wt,
            wss,
            next: AtomicUsize::new(0),
            timeout,
        })
    }

    /// Opens a session to `relay` as `nick`: connection, control stream, Hello, Welcome.
    pub async fn connect(&self, relay: &RelayAddr, nick: &str) -> Result<BenchSession, ConnError> {
        self.connect_as(relay, nick, None).await
    }

    /// [`Dialer::connect`] with a sign-in token in `Hello.token` (token mode).
    pub async fn connect_as(
        &self,
        relay: &RelayAddr,
        nick: &str,
        token: Option<String>,
    ) -> Result<BenchSession, ConnError> {
        match tokio::time::timeout(self.timeout, self.connect_inner(relay, nick, token)).await {
            Ok(result) => result,
            Err(_) => Err(ConnError::Timeout(self.timeout)),
        }
    }

    async fn connect_inner(
        &self,
        relay: &RelayAddr,
        nick: &str,
        token: Option<String>,
    ) -> Result<BenchSession, ConnError> {
        let failed = |reason: String| ConnError::Connect {
            relay: relay.to_string(),
            reason,
        };
        let which = self.next.fetch_add(1, Ordering::Relaxed);
        let (conn, send, recv) = match self.transport {
            Transport::Quic => {
                let addr = resolve(relay).await?;
                let endpoint = &self.quic[which % self.quic.len()];
                let conn = endpoint
                    .connect_with(self.quic_config.clone(), addr, relay.host())
                    .map_err(|e| failed(e.to_string()))?
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                let (send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| ConnError::Lost(e.to_string()))?;
                (
                    Connection::Quic(conn),
                    SendStream::Quic(Box::new(send)),
                    RecvStream::Quic(recv),
                )
            }
            Transport::Webtransport => {
                let endpoint = &self.wt[which % self.wt.len()];
                let url = format!("https://{relay}/");
                let conn = endpoint
                    .connect(url)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                let (send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| ConnError::Lost(e.to_string()))?
                    .await
                    .map_err(|e| ConnError::Lost(e.to_string()))?;
                (
                    Connection::from(conn),
                    SendStream::Quic(Box::new(send)),
                    RecvStream::Wt(recv),
                )
            }
            Transport::Ws => {
                let Via::WebSocket { tls } = relay.via() else {
                    return Err(failed(
                        "--transport ws needs ws:// or wss:// relays (their HTTP ports)".into(),
                    ));
                };
                let conn = link::dial(relay, tls.then_some(&self.wss), IDLE_TIMEOUT)
                    .await
                    .map_err(|e| failed(e.0))?;
                let (send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| ConnError::Lost(e.to_string()))?;
                (
                    Connection::Ws(conn),
                    SendStream::Ws(send),
                    RecvStream::Ws(recv),
                )
            }
        };
        let mut session = BenchSession {
            conn,
            control: Control {
                writer: ControlWriter { send, next_id: 1 },
                reader: ControlReader {
                    recv,
                    buf: FrameBuffer::new(),
                },
                out: Vec::with_capacity(256),
            },
            welcome: None,
        };
        let hello = ClientFrame::Hello(Hello {
            // Version 1: the load generator reads room streams raw, and measures message
            // fan-out, which version 1's Message frames carry.
            version: MIN_PROTOCOL_VERSION,
            nick: nick.to_owned(),
            token,
        });
        session.control.write(&hello).await?;
        match session.control.read().await? {
            ServerFrame::Welcome(w) => session.welcome = Some(w),
            ServerFrame::Error(e) => return Err(ConnError::Refused(e.message)),
            other => return Err(ConnError::Unexpected(format!("{other:?}"))),
        }
        Ok(session)
    }

    /// Closes every socket's connections and waits briefly for the relays to hear it.
    pub async fn shutdown(&self) {
        for e in &self.quic {
            e.close(0u32.into(), b"bench done");
        }
        for e in &self.wt {
            e.close(0u32.into(), b"bench done");
        }
        let idle = async {
            for e in &self.quic {
                e.wait_idle().await;
            }
            for e in &self.wt {
                e.wait_idle().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), idle).await;
    }
}

/// TLS 1.3 with the ring provider, trusting only the CA file, speaking `alpn`.
fn tls_config(ca_file: &Path, alpn: &[u8]) -> Result<rustls::ClientConfig, ConnError> {
    let roots = load_roots(ca_file).map_err(|e| ConnError::Tls(e.to_string()))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| ConnError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(tls)
}

fn transport_config() -> Result<quinn::TransportConfig, ConnError> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(IDLE_TIMEOUT)
                .map_err(|e| ConnError::Tls(e.to_string()))?,
        ))
        .max_concurrent_uni_streams(MAX_ROOM_STREAMS.into());
    Ok(t)
}

/// A client UDP socket on an ephemeral IPv4 loopback-or-any port, with large buffers.
fn udp_socket() -> Result<std::net::UdpSocket, ConnError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    let any: SocketAddr = ([0, 0, 0, 0], 0).into();
    socket.bind(&any.into())?;
    Ok(socket.into())
}

async fn resolve(relay: &RelayAddr) -> Result<SocketAddr, ConnError> {
    tokio::net::lookup_host((relay.host(), relay.port()))
        .await
        .map_err(|e| ConnError::Resolve(format!("{relay}: {e}")))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| ConnError::Resolve(format!("{relay}: no IPv4 address")))
}

/// A session's connection, over either transport.
#[derive(Clone)]
pub enum Connection {
    Quic(quinn::Connection),
    Wt(Arc<wtransport::Connection>),
    Ws(Link),
}

impl Connection {
    /// Closes the connection.
    pub fn close(&self) {
        match self {
            Connection::Quic(c) => c.close(0u32.into(), b"bench done"),
            Connection::Wt(c) => c.close(0u32.into(), b"bench done"),
            Connection::Ws(c) => c.close(chitchat_protocol::ErrorCode::NO_ERROR, "bench done"),
        }
    }

    /// Waits for the relay to open a room stream.
    pub async fn accept_room(&self) -> Result<RecvStream, ConnError> {
        match self {
            Connection::Quic(c) => c
                .accept_uni()
                .await
                .map(RecvStream::Quic)
                .map_err(|e| ConnError::Lost(e.to_string())),
            Connection::Wt(c) => c
                .accept_uni()
                .await
                .map(RecvStream::Wt)
                .map_err(|e| ConnError::Lost(e.to_string())),
            Connection::Ws(c) => c
                .accept_uni()
                .await
                .map(RecvStream::Ws)
                .ok_or_else(|| ConnError::Lost("the WebSocket closed".into())),
        }
    }
}

impl From<wtransport::Connection> for Connection {
    fn from(c: wtransport::Connection) -> Connection {
        Connection::Wt(Arc::new(c))
    }
}

/// The writing side of a control stream: a QUIC or WebTransport stream (both write
/// through tokio's `AsyncWrite`), or a QMux one.
enum SendStream {
    Quic(Box<dyn AsyncWrite + Unpin + Send>),
    Ws(LinkSend),
}

impl SendStream {
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            SendStream::Quic(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
            SendStream::Ws(s) => s.write_all(bytes).await,
        }
    }
}

/// A stream the relay writes: the control stream's reading side or a room stream. Read
/// through the QUIC stream underneath (wtransport's wrapper owns it), in large chunks.
pub enum RecvStream {
    Quic(quinn::RecvStream),
    Wt(wtransport::RecvStream),
    Ws(LinkRecv),
}

impl RecvStream {
    /// The next bytes; `Ok(None)` at the end of the stream.
    pub async fn read(&mut self) -> Result<Option<bytes::Bytes>, ConnError> {
        let s = match self {
            RecvStream::Quic(s) => s,
            RecvStream::Wt(s) => s.quic_stream_mut(),
            RecvStream::Ws(s) => return s.read_chunk(READ_CHUNK).await.map_err(ConnError::Lost),
        };
        match s.read_chunk(READ_CHUNK, true).await {
            Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
            Ok(None) => Ok(None),
            Err(e) => Err(ConnError::Lost(e.to_string())),
        }
    }
}

/// One session's control stream: its writing half, its reading half, and a reused buffer
/// for the frames it encodes.
pub struct Control {
    writer: ControlWriter,
    reader: ControlReader,
    out: Vec<u8>,
}

impl Control {
    /// Writes one frame.
    async fn write(&mut self, frame: &ClientFrame) -> Result<(), ConnError> {
        self.out.clear();
        chitchat_protocol::encode_frame_into(frame, &mut self.out)?;
        self.writer.write_raw(&self.out).await
    }

    /// Reads the next frame.
    pub async fn read(&mut self) -> Result<ServerFrame, ConnError> {
        self.reader.read().await
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> u32 {
        self.writer.next_id()
    }

    /// Splits the stream into its writing half and a reader of answers.
    pub fn split(self) -> (ControlWriter, ControlReader) {
        (self.writer, self.reader)
    }
}

/// The writing half of a control stream.
pub struct ControlWriter {
    send: SendStream,
    next_id: u32,
}

impl ControlWriter {
    /// Writes bytes already framed.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.send.write_all(bytes).await.map_err(ConnError::Lost)
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }
}

/// The reading half of a control stream.
pub struct ControlReader {
    recv: RecvStream,
    buf: FrameBuffer,
}

impl ControlReader {
    /// Reads the next frame.
    pub async fn read(&mut self) -> Result<ServerFrame, ConnError> {
        loop {
            if let Some(frame) = self.buf.next_frame::<ServerFrame>()? {
                return Ok(frame);
            }
            match self.recv.read().await? {
                Some(bytes) => self.buf.extend(&bytes),
                None => return Err(ConnError::Lost("control stream ended".into())),
            }
        }
    }
}

/// A session after Welcome.
pub struct BenchSession {
    pub conn: Connection,
    pub control: Control,
    welcome: Option<Welcome>,
}

impl BenchSession {
    /// The relay's Welcome.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// Joins `room` (live messages only) and waits for Joined.
    pub async fn join(&mut self, room: &str) -> Result<Joined, ConnError> {
        let id = self.control.next_id();
        let frame = ClientFrame::Join {
            id,
            room: room.to_owned(),
            resume: None,
        };
        self.control.write(&frame).await?;
        match self.control.read().await? {
            ServerFrame::Joined(j) if j.id == id => Ok(j),
            ServerFrame::Error(e) => Err(ConnError::Refused(e.message)),
            other => Err(ConnError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends one text and waits for it to be stored (for setup and checks, not the load).
    pub async fn send_and_wait(&mut self, room: &str, text: &str) -> Result<u64, ConnError> {
        let id = self.control.next_id();
        let frame = ClientFrame::Send {
            id,
            room: room.to_owned(),
            text: text.to_owned(),
        };
        self.control.write(&frame).await?;
        match self.control.read().await? {
            ServerFrame::Sent { id: got, seq, .. } if got == id => Ok(seq),
            ServerFrame::Error(e) => Err(ConnError::Refused(e.message)),
            other => Err(ConnError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Splits the session into its connection and control stream.
    pub fn split(self) -> (Connection, Control) {
        (self.conn, self.control)
    }
}

/// Encodes a Send frame for `room` with `text` into `out` (cleared first), reusing the
/// frame's buffers: the sender's loop allocates nothing per message.
pub fn encode_send(
    frame: &mut ClientFrame,
    id: u32,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    if let ClientFrame::Send {
        id: frame_id,
        text: frame_text,
        ..
    } = frame
    {
        *frame_id = id;
        frame_text.clear();
        frame_text.push_str(text);
    }
    out.clear();
    chitchat_protocol::encode_frame_into(frame, out)
}
