//! TLS for the relay's one QUIC endpoint: the dev CA, the short-lived leaf it signs, its
//! rotation ([`CertRotation`]), and the rustls/quinn server configuration (ALPN `h3` and `chitchat/1`).
//!
//! Browsers accept a self-signed certificate through `serverCertificateHashes` only if it is
//! ECDSA P-256 and valid for at most 14 days, so the relay signs a fresh leaf at start and
//! rotates it well before it expires. With `--tls-cert/--tls-key` real certificates are used
//! instead and nothing rotates.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use chitchat_protocol::{ALPN_CHITCHAT, ALPN_H3};

/// How long the dev CA lives: long, it only signs local leaves.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Total validity of a leaf: under the browsers' 14-day ceiling for hashed certificates,
/// including the back-dating below.
const LEAF_VALIDITY: Duration = Duration::from_secs(13 * 24 * 3600);

/// Leaves start a little in the past so a client clock slightly behind still accepts them.
const LEAF_BACKDATE: Duration = Duration::from_secs(3600);

/// How long a relay waits for another relay, starting at the same time on the same certs
/// dir, to finish writing the CA it is creating.
const CA_WAIT: Duration = Duration::from_secs(10);

/// A leaf is replaced once this much of its life is left: pages loaded just before the
/// rotation still have days to reconnect with the hash they know.
pub const ROTATE_WHEN_LEFT: Duration = Duration::from_secs(6 * 24 * 3600);

/// How long a failed rotation waits to try again: the leaf still has days left.
const RETRY_ROTATION: Duration = Duration::from_secs(3600);

/// The ring crypto provider: the only one compiled in, chosen explicitly so no default is
/// ever consulted.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    // Cheapest first (see `ServedCert::tls_config`); the list itself is ring's.
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// Where the relay's certificate comes from, as configured.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsConfig {
    /// Directory of the development CA (ca.pem, ca.key), created if missing. The relay
    /// signs a short-lived leaf with it at start and rotates it.
    #[arg(long, env = "CHITCHAT_CERTS_DIR", default_value = "certs")]
    pub certs_dir: PathBuf,

    /// Extra names (DNS or IP) for the dev leaf, besides localhost, 127.0.0.1 and ::1.
    #[arg(long = "tls-name", env = "CHITCHAT_TLS_NAMES", value_delimiter = ',')]
    pub names: Vec<String>,

    /// A real certificate chain (PEM) instead of the dev CA; needs --tls-key.
    #[arg(long, env = "CHITCHAT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CHITCHAT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsConfig {
    /// The certificate source these flags describe.
    pub fn source(&self) -> CertSource {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => {
                let mut names = vec![
                    "localhost".to_string(),
                    "127.0.0.1".to_string(),
                    "::1".to_string(),
                ];
                for n in &self.names {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
                CertSource::DevCa {
                    dir: self.certs_dir.clone(),
                    names,
                }
            }
        }
    }
}

/// The certificate in service, shared by the endpoint's rotation, the web page (its hash)
/// and the relay registry.
#[derive(Default)]
pub struct CertState {
    /// SHA-256 (hex) of the dev leaf in service; `None` with real certificates.
    pub sha256_hex: Option<String>,
}

/// The certificate the endpoint serves and its rotation: when the leaf is due, a fresh one
/// is signed and served to new connections, and [`CertState`] follows.
pub struct CertRotation {
    source: CertSource,
    transport: Arc<quinn::TransportConfig>,
    /// When the leaf in service is to be replaced; `None` when it never is.
    rotate_at: Option<OffsetDateTime>,
    state: Arc<RwLock<CertState>>,
}

impl CertRotation {
    /// Loads or makes the first certificate; returns the rotation and the endpoint's
    /// server config (with `transport`).
    pub fn load(
        source: CertSource,
        transport: Arc<quinn::TransportConfig>,
    ) -> anyhow::Result<(CertRotation, quinn::ServerConfig)> {
        let cert = ServedCert::load(&source).context("preparing the TLS certificate")?;
        let config = cert.server_config(transport.clone())?;
        let state = Arc::new(RwLock::new(CertState {
            sha256_hex: cert.sha256_hex(),
        }));
        let rotation = CertRotation {
            source,
            transport,
            rotate_at: cert.rotate_at,
            state,
        };
        Ok((rotation, config))
    }

    /// The certificate in service, as the web page and the registry read it.
    pub fn state(&self) -> Arc<RwLock<CertState>> {
        self.state.clone()
    }

    /// Resolves when the leaf is due for rotation (never, for real certificates).
    pub fn due(&self) -> impl Future<Output = ()> + Send + 'static {
        let at = self.rotate_at;
        async move {
            match at {
                Some(at) => {
                    let wait = at - OffsetDateTime::now_utc();
                    tokio::time::sleep(Duration::try_from(wait).unwrap_or(Duration::ZERO)).await;
                }
                None => std::future::pending().await,
            }
        }
    }

    /// Signs a fresh leaf and serves it to `endpoint`'s new connections from now on; on
    /// failure, tries again in an hour.
    pub fn rotate(&mut self, endpoint: &quinn::Endpoint) {
        let rotated = ServedCert::load(&self.source).and_then(|cert| {
            let config = cert.server_config(self.transport.clone())?;
            Ok((cert, config))
        });
        match rotated {
            Ok((cert, config)) => {
                endpoint.set_server_config(Some(config));
                self.rotate_at = cert.rotate_at;
                if let Ok(mut state) = self.state.write() {
                    state.sha256_hex = cert.sha256_hex();
                }
                tracing::info!(sha256 = ?cert.sha256_hex(), "rotated the TLS certificate");
            }
            Err(e) => {
                // The current leaf still has days left.
                tracing::error!("certificate rotation failed: {e:#}");
                self.rotate_at = Some(OffsetDateTime::now_utc() + RETRY_ROTATION);
            }
        }
    }
}

/// Where the relay's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// Sign short-lived leaves with the dev CA in `dir` (created if missing) for `names`.
    DevCa { dir: PathBuf, names: Vec<String> },
    /// Real certificate chain and key files (PEM).
    Files { cert: PathBuf, key: PathBuf },
}

/// A certificate the endpoint serves.
pub struct ServedCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf's DER, for browsers' `serverCertificateHashes`; `None` for real
    /// certificates, which browsers verify the usual way.
    pub sha256: Option<[u8; 32]>,
    /// When the leaf should be replaced; `None` when it never is.
    pub rotate_at: Option<OffsetDateTime>,
}

impl ServedCert {
    /// Loads or makes the certificate `source` describes.
    pub fn load(source: &CertSource) -> anyhow::Result<ServedCert> {
        match source {
            CertSource::DevCa { dir, names } => {
                let ca = DevCa::load_or_create(dir)?;
                ca.sign_leaf(names)
            }
            CertSource::Files { cert, key } => load_pem_files(cert, key),
        }
    }

    /// The quinn server config for this certificate, with the relay's transport settings.
    pub fn server_config(
        &self,
        transport: Arc<quinn::TransportConfig>,
    ) -> anyhow::Result<quinn::ServerConfig> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(self.tls_config()?)
            .context("QUIC server TLS config")?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(transport);
        Ok(config)
    }

    /// The TLS side of [`ServedCert::server_config`].
    fn tls_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3 with ring")?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .context("the certificate and key do not match")?;
        tls.alpn_protocols = vec![ALPN_H3.to_vec(), ALPN_CHITCHAT.to_vec()];
        // The relay picks the cipher suite: AES-128-GCM with SHA-256 where the client offers
        // it (every TLS 1.3 client must). rustls clients list AES-256/SHA-384 first, whose
        // key schedule runs SHA-512 in software and whose AES takes 14 rounds to 10, on
        // every handshake and every packet.
        tls.ignore_client_order = true;
        // WebTransport (HTTP/3) forbids 0-RTT for session setup; native sessions gain little.
        tls.max_early_data_size = 0;
        Ok(tls)
    }

    /// The leaf hash as lowercase hex, if any.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }
}

/// The long-lived development CA kept in the certs dir (ca.pem, ca.key).
pub struct DevCa {
    cert_pem: String,
    key: KeyPair,
}

impl DevCa {
    /// Loads `dir/ca.pem` and `dir/ca.key`, or creates both (ECDSA P-256) if neither exists.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DevCa> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = std::fs::read_to_string(&cert_path)
                    .with_context(|| format!("reading {}", cert_path.display()))?;
                let key_pem = std::fs::read_to_string(&key_path)
                    .with_context(|| format!("reading {}", key_path.display()))?;
                let key = KeyPair::from_pem(&key_pem)
                    .with_context(|| format!("parsing {}", key_path.display()))?;
                Ok(DevCa { cert_pem, key })
            }
            (false, false) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let ca = DevCa::generate()?;
                // Relays started together on one certs dir race here: the key file is
                // created exclusively, and the losers wait for the winner's CA.
                match write_private(&key_path, ca.key.serialize_pem().as_bytes()) {
                    Ok(()) => {}
                    Err(e) if is_already_exists(&e) => return DevCa::wait_for(dir),
                    Err(e) => return Err(e),
                }
                write_atomic(&cert_path, ca.cert_pem.as_bytes())?;
                tracing::info!(dir = %dir.display(), "created a development CA");
                Ok(ca)
            }
            // Another relay is writing the CA right now (or one was interrupted doing so).
            (false, true) => DevCa::wait_for(dir),
            (true, false) => bail!(
                "{} holds ca.pem but no ca.key; restore the key or remove ca.pem to make a new CA",
                dir.display()
            ),
        }
    }

    /// Waits for another process to finish writing the CA in `dir`, then loads it.
    fn wait_for(dir: &Path) -> anyhow::Result<DevCa> {
        let deadline = std::time::Instant::now() + CA_WAIT;
        while !dir.join("ca.pem").exists() {
            if std::time::Instant::now() > deadline {
                bail!(
                    "{} has ca.key but no ca.pem after {CA_WAIT:?}; remove ca.key to make a new CA",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        DevCa::load_or_create(dir)
    }

    fn generate() -> anyhow::Result<DevCa> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "ChitChat development CA");
        dn.push(DnType::OrganizationName, "ChitChat");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - LEAF_BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;
        Ok(DevCa {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Signs a fresh ECDSA P-256 leaf for `names` (DNS names or IP addresses).
    pub fn sign_leaf(&self, names: &[String]) -> anyhow::Result<ServedCert> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .context("parsing the CA certificate")?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("chitchat"),
        );
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - LEAF_BACKDATE;
        params.not_after = params.not_before + LEAF_VALIDITY;
        let leaf = params.signed_by(&leaf_key, &issuer)?;
        let leaf_der = leaf.der().clone();
        let sha256: [u8; 32] = Sha256::digest(&leaf_der).into();
        Ok(ServedCert {
            // The leaf alone: clients trust the CA itself (or the leaf's hash), so sending
            // the CA only made the handshake's first flight longer, past three times a
            // client's first 1 200-byte datagram (RFC 9000's anti-amplification limit).
            chain: vec![leaf_der],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            sha256: Some(sha256),
            rotate_at: Some(params.not_after - ROTATE_WHEN_LEFT),
        })
    }
}

fn load_pem_files(cert: &Path, key: &Path) -> anyhow::Result<ServedCert> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("parsing {}", key.display()))?
        .with_context(|| format!("{} holds no private key", key.display()))?;
    Ok(ServedCert {
        chain,
        key,
        sha256: None,
        rotate_at: None,
    })
}

fn is_already_exists(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
}

/// Writes a file under a temporary name, then renames it into place, so readers never see
/// it half written.
fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Writes a secret file readable by its owner only. Fails (with an `io::Error` of kind
/// `AlreadyExists` inside) if the file exists.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(anyhow::Error::new)?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_ca_is_created_once_and_signs_short_lived_p256_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let first = ServedCert::load(&CertSource::DevCa {
            dir: dir.path().into(),
            names: names.clone(),
        })
        .unwrap();
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let second = ServedCert::load(&CertSource::DevCa {
            dir: dir.path().into(),
            names,
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
            ca_pem,
            "CA reused"
        );
        assert_ne!(first.sha256, second.sha256, "each start signs a new leaf");
        assert_eq!(first.chain.len(), 1, "the leaf alone, not the CA");
        let rotate = first.rotate_at.unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(
            rotate > now + Duration::from_secs(6 * 24 * 3600)
                && rotate < now + Duration::from_secs(8 * 24 * 3600)
        );
    }

    #[test]
    fn the_relay_picks_aes_128_even_when_the_client_prefers_aes_256() {
        let dir = tempfile::tempdir().unwrap();
        let served = ServedCert::load(&CertSource::DevCa {
            dir: dir.path().into(),
            names: vec!["localhost".to_string()],
        })
        .unwrap();
        let server_config = Arc::new(served.tls_config().unwrap());
        let mut roots = rustls::RootCertStore::empty();
        let ca_pem = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let ca = rustls_pemfile::certs(&mut ca_pem.as_slice())
            .next()
            .unwrap();
        roots.add(ca.unwrap()).unwrap();
        // A stock rustls client: AES-256-GCM/SHA-384 first in its offer.
        let client_provider = rustls::crypto::ring::default_provider();
        assert_eq!(
            client_provider.cipher_suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(client_provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client =
            rustls::ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap())
                .unwrap();
        let mut server = rustls::ServerConnection::new(server_config).unwrap();
        // An in-memory handshake: each side's records handed to the other until both are done.
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            bytes.clear();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!server.is_handshaking(), "handshake completed");
        assert_eq!(
            server.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }

    #[test]
    fn relays_starting_together_share_one_ca() {
        let dir = tempfile::tempdir().unwrap();
        let cas: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| DevCa::load_or_create(dir.path()).unwrap().cert_pem))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            cas.windows(2).all(|w| w[0] == w[1]),
            "every relay uses the same CA"
        );
    }

    #[test]
    fn half_a_ca_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let err = DevCa::load_or_create(dir.path()).err().unwrap();
        assert!(err.to_string().contains("no ca.key"), "{err}");
    }
}
