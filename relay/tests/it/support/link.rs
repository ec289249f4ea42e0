//! The raw client's connection, QUIC or QMux over a WebSocket, behind one face so a check is
//! written once and run over both ([`Via`]).

use std::net::SocketAddr;

use bytes::Bytes;
use chitchat_protocol::{WS_PATH, WS_SUBPROTOCOL};
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _};

/// Which transport a raw client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Quic,
    WebSocket,
}

/// A raw client's connection.
pub enum Link {
    /// A QUIC connection and its endpoint, kept alive as long as the connection.
    Quic {
        conn: quinn::Connection,
        _endpoint: quinn::Endpoint,
    },
    WebSocket(Box<qmux::Session>),
}

/// The application protocol inside [`WS_SUBPROTOCOL`], after its QMux version prefix.
pub fn ws_app_protocol() -> &'static str {
    WS_SUBPROTOCOL
        .strip_prefix(qmux::Version::QMux02.prefix())
        .expect("the subprotocol names QMux draft-02")
}

/// A QMux client config for raw test clients: silent unless the test speaks (no keep-alive,
/// no round-trip pings), so idle checks see what a quiet QUIC client shows.
pub fn quiet_config() -> qmux::Config {
    let mut config = qmux::Config::default();
    config.max_idle_timeout = 0;
    config.rtt_interval = std::time::Duration::ZERO;
    config
}

impl Link {
    /// Connects to the WebSocket transport on the relay's HTTP port `http`.
    pub async fn websocket(http: SocketAddr) -> Link {
        Self::websocket_with(http, quiet_config()).await
    }

    /// Connects to the WebSocket transport with the QMux settings `config`.
    pub async fn websocket_with(http: SocketAddr, config: qmux::Config) -> Link {
        let url = format!("ws://{http}{WS_PATH}");
        let session = tokio::time::timeout(
            super::WAIT,
            qmux::ws::Client::new()
                .with_protocol(ws_app_protocol(), &[qmux::Version::QMux02])
                .require_protocol()
                .with_session_config(config)
                .connect(&url),
        )
        .await
        .expect("WebSocket connect in time")
        .expect("WebSocket connect");
        Link::WebSocket(Box::new(session))
    }

    /// Opens a bidirectional stream (the control stream).
    pub async fn open_bi(&self) -> (LinkSend, LinkRecv) {
        match self {
            Link::Quic { conn: c, .. } => {
                let (s, r) = c.open_bi().await.expect("open the control stream");
                (LinkSend::Quic(s), LinkRecv::Quic(r))
            }
            Link::WebSocket(c) => {
                let (s, r) = c.open_bi().await.expect("open the control stream");
                (LinkSend::WebSocket(s), LinkRecv::WebSocket(r))
            }
        }
    }

    /// Accepts the next relay-opened stream (a room stream).
    pub async fn accept_uni(&self) -> LinkRecv {
        match self {
            Link::Quic { conn: c, .. } => {
                LinkRecv::Quic(c.accept_uni().await.expect("a room stream"))
            }
            Link::WebSocket(c) => LinkRecv::WebSocket(c.accept_uni().await.expect("a room stream")),
        }
    }

    /// Sends a datagram (a QMux DATAGRAM frame over a WebSocket).
    pub fn send_datagram(&self, data: Bytes) -> Result<(), String> {
        match self {
            Link::Quic { conn: c, .. } => c.send_datagram(data).map_err(|e| e.to_string()),
            Link::WebSocket(c) => c.send_datagram(data).map_err(|e| e.to_string()),
        }
    }

    /// The next datagram from the relay.
    pub async fn read_datagram(&self) -> Result<Bytes, String> {
        match self {
            Link::Quic { conn: c, .. } => c.read_datagram().await.map_err(|e| e.to_string()),
            Link::WebSocket(c) => c.recv_datagram().await.map_err(|e| e.to_string()),
        }
    }

    /// Closes the connection with an application code.
    pub fn close(&self, code: quinn::VarInt, reason: &[u8]) {
        match self {
            Link::Quic { conn: c, .. } => c.close(code, reason),
            Link::WebSocket(c) => c.close(
                u32::try_from(code.into_inner()).unwrap_or(u32::MAX),
                &String::from_utf8_lossy(reason),
            ),
        }
    }

    /// Resolves when the connection is closed, by either side.
    pub async fn closed(&self) {
        match self {
            Link::Quic { conn: c, .. } => {
                c.closed().await;
            }
            Link::WebSocket(c) => {
                c.closed().await;
            }
        }
    }

    /// Waits for the relay to close the connection; its application close code and reason.
    pub async fn closed_by_app(&self) -> (u64, String) {
        match self {
            Link::Quic { conn: c, .. } => match c.closed().await {
                quinn::ConnectionError::ApplicationClosed(c) => (
                    c.error_code.into_inner(),
                    String::from_utf8_lossy(&c.reason).into_owned(),
                ),
                other => panic!("expected an application close, got {other}"),
            },
            Link::WebSocket(c) => match c.closed().await {
                qmux::Error::ConnectionClosed { code, reason } => (code.into_inner(), reason),
                other => panic!("expected an application close, got {other}"),
            },
        }
    }
}

/// The client's side of a stream it writes.
pub enum LinkSend {
    Quic(quinn::SendStream),
    WebSocket(qmux::SendStream),
}

impl LinkSend {
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            LinkSend::Quic(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
            LinkSend::WebSocket(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
        }
    }

    /// Ends the stream.
    pub fn finish(&mut self) -> Result<(), String> {
        match self {
            LinkSend::Quic(s) => s.finish().map_err(|e| e.to_string()),
            LinkSend::WebSocket(s) => s.finish().map_err(|e| e.to_string()),
        }
    }
}

/// The client's side of a stream it reads.
pub enum LinkRecv {
    Quic(quinn::RecvStream),
    WebSocket(qmux::RecvStream),
}

impl LinkRecv {
    /// The next bytes; `None` at the end of the stream.
    pub async fn read_chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            LinkRecv::Quic(s) => s
                .read_chunk(65536, true)
                .await
                .map(|c| c.map(|c| c.bytes))
                .map_err(|e| e.to_string()),
            LinkRecv::WebSocket(s) => s.read_chunk(65536).await.map_err(|e| e.to_string()),
        }
    }
}
