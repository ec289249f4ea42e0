//! The relay's configuration: command-line flags, each also an environment variable
//! `CHITCHAT_*`. One struct per concern, flattened into [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chitchat_protocol::Limits as WireLimits;

use crate::tls::CertSource;

/// Everything a relay needs to start.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "chitchat-relay",
    version,
    about = "ChitChat relay: chat rooms over QUIC and WebTransport on one UDP port"
)]
pub struct Config {
    /// UDP address for QUIC and WebTransport sessions. `[::]` is dual-stack (IPv4 too).
    #[arg(long, env = "CHITCHAT_LISTEN", default_value = "[::]:4433")]
    pub listen: SocketAddr,

    /// TCP address of the HTTP server: the web app, /healthz, /metrics, /config.json.
    #[arg(long, env = "CHITCHAT_HTTP", default_value = "[::]:8080")]
    pub http: SocketAddr,

    #[command(flatten)]
    pub store: StoreConfig,

    /// This relay's name in logs, Welcome frames and the cluster (default: host name and
    /// port).
    #[arg(long, env = "CHITCHAT_NODE_ID")]
    pub node_id: Option<String>,

    #[command(flatten)]
    pub public: PublicConfig,

    /// Threads that serve sessions (default: one per core). When several relays share a
    /// machine, give each its share of the cores: more threads than cores only adds
    /// cross-thread wake-ups.
    #[arg(long, env = "CHITCHAT_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// Log format on stderr.
    #[arg(long, env = "CHITCHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub tls: TlsConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,
}

/// Where messages are numbered and stored.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Directory of the embedded broker's SQLite history (used without --redis).
    #[arg(long, env = "CHITCHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Redis URL (redis://host:port/db): join a cluster of relays sharing this Redis for
    /// numbering, history and delivery, instead of the embedded store.
    #[arg(long, env = "CHITCHAT_REDIS")]
    pub redis: Option<String>,

    /// Messages of history kept per room in Redis; older ones are dropped.
    #[arg(long, env = "CHITCHAT_HISTORY_LIMIT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub history_limit: u64,

    /// Seconds between this relay's heartbeats in the Redis relay registry. A relay silent
    /// for 2.5 periods counts as dead: its members leave their rooms and pages stop
    /// offering it. Every relay of a cluster should use the same value.
    #[arg(long, env = "CHITCHAT_HEARTBEAT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_secs: u64,
}

impl StoreConfig {
    /// The heartbeat period in the relay registry.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }
}

/// Where clients and other relays' pages reach this relay, as the relay registry tells
/// them (behind NAT, a proxy or a container, not the addresses it binds).
#[derive(Debug, Clone, clap::Args)]
pub struct PublicConfig {
    /// Public QUIC address (HOST:PORT) of this relay; its WebTransport URL is
    /// https://HOST:PORT/ (default: localhost and the bound UDP port).
    #[arg(long, env = "CHITCHAT_PUBLIC_ADDR", value_parser = parse_host_port)]
    pub public_addr: Option<String>,

    /// Public HTTP URL of this relay's web app (default: http://localhost:<bound HTTP
    /// port>/).
    #[arg(long, env = "CHITCHAT_PUBLIC_HTTP", value_parser = parse_http_url)]
    pub public_http: Option<String>,
}

/// `HOST:PORT`, where HOST may be a bracketed IPv6 address.
fn parse_host_port(value: &str) -> Result<String, String> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(value.to_string())
        }
        _ => Err(format!("{value:?} is not HOST:PORT")),
    }
}

/// An `http://` or `https://` URL.
fn parse_http_url(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not an http:// or https:// URL"))
    }
}

impl PublicConfig {
    /// The public QUIC address, given the bound UDP port.
    pub fn quic(&self, quic_port: u16) -> String {
        self.public_addr
            .clone()
            .unwrap_or_else(|| format!("localhost:{quic_port}"))
    }

    /// The public WebTransport URL, given the bound UDP port.
    pub fn webtransport(&self, quic_port: u16) -> String {
        format!("https://{}/", self.quic(quic_port))
    }

    /// The public HTTP URL, given the bound TCP port.
    pub fn http(&self, http_port: u16) -> String {
        self.public_http
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{http_port}/"))
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the relay's certificate comes from.
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

/// Limits that protect the relay and its users from any one client.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsConfig {
    /// Longest message text, in bytes.
    #[arg(long, env = "CHITCHAT_MAX_TEXT_BYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_text_bytes: u32,

    /// Rooms one session may be in at once.
    #[arg(long, env = "CHITCHAT_MAX_ROOMS", default_value_t = 100)]
    pub max_rooms: u32,

    /// Sustained messages per second one session may send.
    #[arg(long, env = "CHITCHAT_MSGS_PER_SEC", default_value_t = 30)]
    pub msgs_per_sec: u32,

    /// Messages one session may send at once above the sustained rate.
    #[arg(long, env = "CHITCHAT_MSGS_BURST", default_value_t = 60)]
    pub msgs_burst: u32,

    /// Sessions this relay serves at once; more are closed with SERVER_BUSY.
    #[arg(long, env = "CHITCHAT_MAX_SESSIONS", default_value_t = 100_000)]
    pub max_sessions: usize,

    /// Seconds a new connection has to complete the TLS handshake and say Hello.
    #[arg(long, env = "CHITCHAT_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub handshake_timeout_secs: u64,

    /// Seconds of silence (not even keep-alives) after which a session is dropped.
    #[arg(long, env = "CHITCHAT_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,

    /// Messages queued for one session in one room before it counts as a slow consumer
    /// and is disconnected (it resumes from history on reconnect).
    #[arg(long, env = "CHITCHAT_QUEUE_LEN", default_value_t = 1024)]
    pub queue_len: usize,

    /// Seconds sessions get to leave after the relay tells them it is shutting down.
    #[arg(long, env = "CHITCHAT_DRAIN_SECS", default_value_t = 3)]
    pub drain_secs: u64,
}

impl LimitsConfig {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }

    /// The limits as announced in Welcome.
    pub fn wire(&self) -> WireLimits {
        WireLimits {
            max_text_bytes: self.max_text_bytes,
            max_rooms: self.max_rooms,
            msgs_per_sec: self.msgs_per_sec,
            msgs_burst: self.msgs_burst,
            history_page: crate::session::HISTORY_PAGE,
        }
    }
}

impl Config {
    /// The node id, defaulting to the host name and the bound port.
    pub fn node_id(&self, port: u16) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "relay".into());
            format!("{host}:{port}")
        })
    }
}
