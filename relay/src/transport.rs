//! One face for the three kinds of session: a native QUIC connection (ALPN `chitchat/1`), a
//! WebTransport session (ALPN `h3`), or QMux over a WebSocket on the HTTP port (see
//! `crate::ws`), so the session logic is written once. [`establish`] tells the first two
//! apart after the TLS handshake.
//!
//! Streams are QUIC streams or QMux streams, behind [`SendStream`] and [`RecvStream`]: a
//! WebTransport stream is a QUIC stream behind a short header that wtransport writes or
//! reads when the stream opens, after which its bytes are ours.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chitchat_protocol::{ALPN_CHITCHAT, ALPN_H3, ErrorCode};
use tokio::time::timeout;
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _};

/// Which kind of client a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Quic,
    WebTransport,
    WebSocket,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Quic => "quic",
            Kind::WebTransport => "webtransport",
            Kind::WebSocket => "websocket",
        }
    }
}

/// An established session's connection.
#[derive(Clone)]
pub enum Conn {
    Quic(quinn::Connection),
    WebTransport(wtransport::Connection),
    WebSocket(Arc<WsConn>),
}

/// A QMux session over a WebSocket, with what QMux does not know of its socket.
pub struct WsConn {
    pub session: qmux::Session,
    pub remote: SocketAddr,
    /// WebSocket messages received so far (data, pings, pongs): the idle watch's evidence
    /// that the client is there, as received UDP datagrams are for QUIC.
    pub received: Arc<AtomicU64>,
}

fn closed(e: impl std::fmt::Display) -> Closed {
    Closed(e.to_string())
}

/// Why a transport operation failed: the connection is gone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Closed(pub String);

/// A stream the relay writes to (wtransport's wrapper kept alive alongside).
pub enum SendStream {
    Quic(quinn::SendStream),
    WebTransport(wtransport::SendStream),
    WebSocket(qmux::SendStream),
}

impl SendStream {
    /// Writes all of `buf`, waiting for the peer's flow control as needed.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), Closed> {
        match self {
            SendStream::Quic(s) => s.write_all(buf).await.map_err(closed),
            SendStream::WebTransport(s) => s.quic_stream_mut().write_all(buf).await.map_err(closed),
            SendStream::WebSocket(s) => s.write_all(buf).await.map_err(closed),
        }
    }

    /// Writes every chunk, in order, without copying them together; leaves `chunks` empty
    /// or partly taken.
    pub async fn write_all_chunks(&mut self, chunks: &mut [Bytes]) -> Result<(), Closed> {
        let s = match self {
            SendStream::Quic(s) => return s.write_all_chunks(chunks).await.map_err(closed),
            SendStream::WebTransport(s) => {
                return s
                    .quic_stream_mut()
                    .write_all_chunks(chunks)
                    .await
                    .map_err(closed);
            }
            SendStream::WebSocket(s) => s,
        };
        // One write for the whole batch: each write on a QMux stream becomes a QMux frame, a
        // WebSocket message and a TLS record of its own.
        let mut batch = match chunks {
            [] => return Ok(()),
            [one] => std::mem::take(one),
            many => {
                let mut joined = bytes::BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
                for chunk in many.iter_mut() {
                    joined.extend_from_slice(&std::mem::take(chunk));
                }
                joined.freeze()
            }
        };
        s.write_all_buf(&mut batch).await.map_err(closed)
    }

    /// Ends the stream after what was written.
    pub fn finish(&mut self) -> Result<(), Closed> {
        match self {
            SendStream::Quic(s) => s.finish().map_err(closed),
            SendStream::WebTransport(s) => s.quic_stream_mut().finish().map_err(closed),
            SendStream::WebSocket(s) => s.finish().map_err(closed),
        }
    }

    /// Resolves once a finished stream has gone out to the peer (QUIC: acknowledged), or the
    /// peer stopped it, or the connection is gone.
    pub async fn stopped(&mut self) {
        match self {
            SendStream::Quic(s) => {
                let _ = s.stopped().await;
            }
            SendStream::WebTransport(s) => {
                let _ = s.quic_stream_mut().stopped().await;
            }
            SendStream::WebSocket(s) => {
                let _ = s.closed().await;
            }
        }
    }
}

/// A stream the relay reads from.
pub enum RecvStream {
    Quic(quinn::RecvStream),
    WebTransport(wtransport::RecvStream),
    WebSocket(qmux::RecvStream),
}

impl RecvStream {
    /// The next bytes, at most `max` of them; `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, Closed> {
        let s = match self {
            RecvStream::Quic(s) => s,
            RecvStream::WebTransport(s) => s.quic_stream_mut(),
            RecvStream::WebSocket(s) => return s.read_chunk(max).await.map_err(closed),
        };
        match s.read_chunk(max, true).await {
            Ok(chunk) => Ok(chunk.map(|c| c.bytes)),
            Err(e) => Err(closed(e)),
        }
    }
}

impl Conn {
    pub fn kind(&self) -> Kind {
        match self {
            Conn::Quic(_) => Kind::Quic,
            Conn::WebTransport(_) => Kind::WebTransport,
            Conn::WebSocket(_) => Kind::WebSocket,
        }
    }

    /// A count that moves whenever the client sends anything (a frame, a datagram, a
    /// keep-alive or acknowledgement): UDP datagrams for QUIC, WebSocket messages here.
    pub fn received(&self) -> u64 {
        match self {
            Conn::Quic(c) => c.stats().udp_rx.datagrams,
            Conn::WebTransport(c) => c.quic_connection().stats().udp_rx.datagrams,
            Conn::WebSocket(c) => c.received.load(Ordering::Relaxed),
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
            Conn::WebSocket(c) => {
                let (s, r) = c.session.accept_bi().await.map_err(closed)?;
                Ok((SendStream::WebSocket(s), RecvStream::WebSocket(r)))
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
            Conn::WebSocket(c) => Ok(SendStream::WebSocket(
                c.session.open_uni().await.map_err(closed)?,
            )),
        }
    }

    /// Sends a datagram; dropped silently if it cannot go (datagrams may be lost anyway).
    /// Over a WebSocket it is a QMux DATAGRAM frame, dropped too when the socket is backed
    /// up (qmux sheds it rather than queue it).
    pub fn send_datagram(&self, data: Bytes) {
        let _ = match self {
            Conn::Quic(c) => c.send_datagram(data).map_err(|e| e.to_string()),
            Conn::WebTransport(c) => c.send_datagram(data).map_err(|e| e.to_string()),
            Conn::WebSocket(c) => c.session.send_datagram(data).map_err(|e| e.to_string()),
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
            Conn::WebSocket(c) => c.session.recv_datagram().await.map_err(closed),
        }
    }

    /// Closes the session with an error code and a reason people can read.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        let code = u32::from(code.0);
        match self {
            Conn::Quic(c) => c.close(quinn::VarInt::from_u32(code), reason.as_bytes()),
            Conn::WebTransport(c) => c.close(wtransport::VarInt::from_u32(code), reason.as_bytes()),
            Conn::WebSocket(c) => c.session.close(code, reason),
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
            Conn::WebSocket(c) => {
                c.session.closed().await;
            }
        }
    }

    /// The client's address.
    pub fn remote_address(&self) -> SocketAddr {
        match self {
            Conn::Quic(c) => c.remote_address(),
            Conn::WebTransport(c) => c.remote_address(),
            Conn::WebSocket(c) => c.remote,
        }
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
