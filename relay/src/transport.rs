//! One face for both kinds of session: a native QUIC connection (ALPN `chitchat/1`) or a
//! WebTransport session (ALPN `h3`), so the session logic is written once. [`establish`]
//! tells them apart after the TLS handshake.
//!
//! Streams are handed out as plain quinn streams: a WebTransport stream is a QUIC stream
//! behind a short header that wtransport writes or reads when the stream opens, after which
//! its bytes are ours.

use std::time::Duration;

use bytes::Bytes;
use chitchat_protocol::{ALPN_CHITCHAT, ALPN_H3, ErrorCode};
use tokio::time::timeout;

/// Which kind of client a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Quic,
    WebTransport,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Quic => "quic",
            Kind::WebTransport => "webtransport",
        }
    }
}

/// An established session's connection.
#[derive(Clone)]
pub enum Conn {
    Quic(quinn::Connection),
    WebTransport(wtransport::Connection),
}

/// Why a transport operation failed: the connection is gone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Closed(pub String);

/// A stream the relay writes to (wtransport's wrapper kept alive alongside).
pub enum SendStream {
    Quic(quinn::SendStream),
    WebTransport(wtransport::SendStream),
}

impl SendStream {
    pub fn quic(&mut self) -> &mut quinn::SendStream {
        match self {
            SendStream::Quic(s) => s,
            SendStream::WebTransport(s) => s.quic_stream_mut(),
        }
    }
}

/// A stream the relay reads from.
pub enum RecvStream {
    Quic(quinn::RecvStream),
    WebTransport(wtransport::RecvStream),
}

impl RecvStream {
    pub fn quic(&mut self) -> &mut quinn::RecvStream {
        match self {
            RecvStream::Quic(s) => s,
            RecvStream::WebTransport(s) => s.quic_stream_mut(),
        }
    }
}

impl Conn {
    pub fn kind(&self) -> Kind {
        match self {
            Conn::Quic(_) => Kind::Quic,
            Conn::WebTransport(_) => Kind::WebTransport,
        }
    }

    /// The underlying QUIC connection.
    pub fn quic(&self) -> &quinn::Connection {
        match self {
            Conn::Quic(c) => c,
            Conn::WebTransport(c) => c.quic_connection(),
        }
    }

    /// Waits for the client's control stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), Closed> {
        match self {
            Conn::Quic(c) => {
                let (s, r) = c.accept_bi().await.map_err(|e| Closed(e.to_string()))?;
                Ok((SendStream::Quic(s), RecvStream::Quic(r)))
            }
            Conn::WebTransport(c) => {
                let (s, r) = c.accept_bi().await.map_err(|e| Closed(e.to_string()))?;
                Ok((SendStream::WebTransport(s), RecvStream::WebTransport(r)))
            }
        }
    }

    /// Opens a server-to-client stream (one per joined room).
    pub async fn open_uni(&self) -> Result<SendStream, Closed> {
        match self {
            Conn::Quic(c) => Ok(SendStream::Quic(
                c.open_uni().await.map_err(|e| Closed(e.to_string()))?,
            )),
            Conn::WebTransport(c) => {
                let opening = c.open_uni().await.map_err(|e| Closed(e.to_string()))?;
                Ok(SendStream::WebTransport(
                    opening.await.map_err(|e| Closed(e.to_string()))?,
                ))
            }
        }
    }

    /// Sends a datagram; dropped silently if it cannot go (datagrams may be lost anyway).
    pub fn send_datagram(&self, data: Bytes) {
        let _ = match self {
            Conn::Quic(c) => c.send_datagram(data).map_err(|e| e.to_string()),
            Conn::WebTransport(c) => c.send_datagram(data).map_err(|e| e.to_string()),
        };
    }

    /// The next datagram from the client.
    pub async fn read_datagram(&self) -> Result<Bytes, Closed> {
        match self {
            Conn::Quic(c) => c.read_datagram().await.map_err(|e| Closed(e.to_string())),
            Conn::WebTransport(c) => c
                .receive_datagram()
                .await
                .map(|d| d.payload())
                .map_err(|e| Closed(e.to_string())),
        }
    }

    /// Closes the session with an error code and a reason people can read.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        let code = u32::from(code.0);
        match self {
            Conn::Quic(c) => c.close(quinn::VarInt::from_u32(code), reason.as_bytes()),
            Conn::WebTransport(c) => c.close(wtransport::VarInt::from_u32(code), reason.as_bytes()),
        }
    }

    /// Resolves once the connection is closed, by either side.
    pub async fn closed(&self) {
        match self {
            Conn::Quic(c) => {
                c.closed().await;
            }
            Conn::WebTransport(c) => {
                c.closed().await;
            }
        }
    }

    pub fn remote_address(&self) -> std::net::SocketAddr {
        self.quic().remote_address()
    }
}

/// Why an incoming connection did not become a session's [`Conn`].
#[derive(Debug, thiserror::Error)]
pub enum EstablishError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] quinn::ConnectionError),
    #[error("handshake timed out")]
    Timeout,
    /// rustls refuses any ALPN outside the configured two during the handshake, so this
    /// means a TLS stack that ignored that.
    #[error("unexpected ALPN {0:?}")]
    Alpn(Option<Vec<u8>>),
    #[error("WebTransport session setup failed: {0}")]
    WebTransport(#[from] wtransport::error::ConnectionError),
}

/// The TLS handshake, then the QUIC connection or the WebTransport session its ALPN asks
/// for, each step within `handshake_timeout`.
pub async fn establish(
    mut connecting: quinn::Connecting,
    handshake_timeout: Duration,
) -> Result<Conn, EstablishError> {
    let data = timeout(handshake_timeout, connecting.handshake_data())
        .await
        .map_err(|_| EstablishError::Timeout)??;
    let alpn = data
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()
        .and_then(|d| d.protocol);
    match alpn.as_deref() {
        Some(p) if p == ALPN_CHITCHAT => {
            let conn = timeout(handshake_timeout, connecting)
                .await
                .map_err(|_| EstablishError::Timeout)??;
            Ok(Conn::Quic(conn))
        }
        Some(p) if p == ALPN_H3 => accept_webtransport(connecting, handshake_timeout).await,
        _ => Err(EstablishError::Alpn(alpn)),
    }
}

/// Completes a WebTransport session's HTTP/3 setup (the CONNECT request) and accepts it.
async fn accept_webtransport(
    connecting: quinn::Connecting,
    handshake_timeout: Duration,
) -> Result<Conn, EstablishError> {
    let request = timeout(
        handshake_timeout,
        wtransport::endpoint::IncomingSessionFuture::with_quic_connecting(connecting),
    )
    .await
    .map_err(|_| EstablishError::Timeout)??;
    Ok(Conn::WebTransport(request.accept().await?))
}
