//! [`RawSession`]: a QUIC session that speaks ChitChat frames one by one, for tests of what
//! hostile or broken clients can do to a relay process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chitchat_protocol::{
    ALPN_CHITCHAT, ClientFrame, FrameBuffer, Hello, PROTOCOL_VERSION, ServerFrame, encode_frame,
};

/// How long one step (connecting, an answer) may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

/// A bare QUIC session speaking frames, for tests that behave as no real client would.
pub struct RawSession {
    _endpoint: quinn::Endpoint,
    pub conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    buf: FrameBuffer,
}

impl RawSession {
    /// Connects to the relay at `addr` (trusting the CA in `ca`) and completes Hello.
    /// `stream_window` caps what the relay may send ahead on each stream (a reader that
    /// never reads fills it quickly).
    pub async fn hello(
        addr: SocketAddr,
        ca: &Path,
        nick: &str,
        stream_window: Option<u32>,
    ) -> RawSession {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca).expect("the relay's CA file");
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.expect("a PEM certificate")).expect("a CA");
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
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address")).expect("a socket");
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        if let Some(w) = stream_window {
            transport.stream_receive_window(w.into());
        }
        config.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(config);
        let conn = tokio::time::timeout(WAIT, endpoint.connect(addr, "localhost").expect("dial"))
            .await
            .expect("connected in time")
            .expect("TLS handshake");
        let (send, recv) = conn.open_bi().await.expect("a control stream");
        let mut raw = RawSession {
            _endpoint: endpoint,
            conn,
            send,
            recv,
            buf: FrameBuffer::new(),
        };
        raw.write(&ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            nick: nick.into(),
            token: None,
        }))
        .await;
        match raw.read().await {
            ServerFrame::Welcome(_) => raw,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Writes one frame on the control stream.
    pub async fn write(&mut self, frame: &ClientFrame) {
        let bytes = encode_frame(frame).expect("an encodable frame");
        self.send
            .write_all(&bytes)
            .await
            .expect("the control stream");
    }

    /// The next control-stream frame.
    pub async fn read(&mut self) -> ServerFrame {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(f) = self.buf.next_frame::<ServerFrame>().expect("a good frame") {
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
        .expect("an answer in time")
    }

    /// Writes a request and returns the next frame.
    pub async fn request(&mut self, frame: ClientFrame) -> ServerFrame {
        self.write(&frame).await;
        self.read().await
    }
}
