//! TLS and QUIC settings of client connections: trust exactly the CA certificates of one PEM
//! file, speak ALPN `chitchat/1`, keep idle connections alive.

use std::path::Path;
use std::sync::Arc;

use chitchat_protocol::ALPN_CHITCHAT;
use quinn::crypto::rustls::QuicClientConfig;

use super::ClientConfig;
use crate::ClientError;

/// The most room streams the relay may hold open on one connection at once. Each joined room
/// takes one; this is far above any rooms-per-session limit a relay would set, and low enough
/// to bound what a misbehaving relay can make the client track.
const MAX_ROOM_STREAMS: u32 = 1024;

/// Reads every certificate of a PEM file into a root store that trusts nothing else.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, ClientError> {
    let fail = |reason: String| ClientError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| {
        fail(format!(
            "{e} (a relay writes its dev CA to certs/ca.pem on first start; or pass --ca FILE)"
        ))
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| fail(format!("not a PEM file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate in it".into()));
    }
    Ok(roots)
}

/// A TLS client configuration with the ring provider, the given roots only, `versions` and
/// `alpn`.
fn tls_config(
    cfg: &ClientConfig,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
) -> Result<rustls::ClientConfig, ClientError> {
    let roots = load_roots(&cfg.ca_file)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| ClientError::CaFile {
        path: cfg.ca_file.clone(),
        reason: format!("TLS setup failed: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(tls)
}

/// TLS for `wss://` relays: the same roots, TLS 1.3 or 1.2 (a reverse proxy may stand in
/// front), HTTP/1.1 (WebSocket upgrades are HTTP/1.1).
pub fn wss_connector(cfg: &ClientConfig) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let tls = tls_config(
        cfg,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        b"http/1.1",
    )?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

/// The QUIC client configuration: TLS 1.3 with the ring provider, the given roots only,
/// ALPN `chitchat/1`, and the keep-alive and idle timeout of `cfg`.
pub fn quic_config(cfg: &ClientConfig) -> Result<quinn::ClientConfig, ClientError> {
    let fail = |reason: String| ClientError::CaFile {
        path: cfg.ca_file.clone(),
        reason,
    };
    let tls = tls_config(cfg, &[&rustls::version::TLS13], ALPN_CHITCHAT)?;
    let quic =
        QuicClientConfig::try_from(tls).map_err(|e| fail(format!("TLS setup failed: {e}")))?;

    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(cfg.keep_alive))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(cfg.idle_timeout)
                .map_err(|_| fail("idle timeout too large".into()))?,
        ))
        // The relay never opens bidirectional streams; room streams are unidirectional.
        .max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(MAX_ROOM_STREAMS.into());
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_ca_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ca.pem");
        let e = load_roots(&missing).unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("--ca"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = load_roots(&empty).unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
    }
}
