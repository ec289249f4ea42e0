//! The relay's configuration: command-line flags, each also an environment variable
//! `CHITCHAT_*`. Each module owns the struct of its concern; [`Config`] flattens them and
//! adds the process-wide settings.

use std::net::SocketAddr;

use crate::admission::AdmissionConfig;
use crate::api::ApiConfig;
use crate::auth::AuthConfig;
use crate::auth::mint::TokenArgs;
use crate::broker::StoreConfig;
use crate::claims::ClaimsConfig;
use crate::http::HttpLimits;
use crate::session::LimitsConfig;
use crate::tls::TlsConfig;
use crate::web::PublicConfig;

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

    #[command(flatten)]
    pub admission: AdmissionConfig,

    #[command(flatten)]
    pub http_limits: HttpLimits,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub claims: ClaimsConfig,

    #[command(flatten)]
    pub api: ApiConfig,

    /// Without a subcommand the relay runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `chitchat-relay` does other than run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Prints a token signed with the HMAC secret (HS256), for `--auth jwt` relays.
    Token(TokenArgs),
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
