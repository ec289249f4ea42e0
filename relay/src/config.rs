//! The relay's configuration: command-line flags, each also an environment variable
//! `CHITCHAT_*` and a key of the configuration file (`--config`, read by
//! [`config_file`](crate::config_file)). Each module owns the struct of its concern;
//! [`Config`] flattens them and adds the process-wide settings.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// A configuration file (TOML): keys named like the long flags (`max-sessions = 1000`).
    /// Flags and `CHITCHAT_*` variables override it.
    #[arg(
        long,
        env = "CHITCHAT_RELAY_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

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

    /// Log level: `error`, `warn`, `info`, `debug` or `trace` (quinn and wtransport stay at
    /// `warn` or quieter), or tracing filter directives (`info,chitchat_relay::session=debug`).
    /// Without it: `RUST_LOG`, else `info`. A file's `log-level` gives way to `RUST_LOG`.
    #[arg(long, env = "CHITCHAT_LOG_LEVEL", value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<String>,

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
    /// Shows or checks the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `chitchat-relay config ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Prints the effective configuration as TOML, every key: from the flags, the `CHITCHAT_*`
    /// variables, the --config file and the defaults (a file names secrets by path only).
    Print,
    /// Checks a configuration file: prints "ok" and exits 0, or prints each error (file, line,
    /// key) and exits 2.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Checks `--log-level`: one level name, or directives tracing's `EnvFilter` accepts.
fn parse_log_level(value: &str) -> Result<String, String> {
    use tracing_subscriber::filter::LevelFilter;
    let directives = value.contains([',', '=', '[', ':']);
    if directives {
        tracing_subscriber::EnvFilter::builder()
            .parse(value)
            .map_err(|e| format!("not a log filter: {e}"))?;
    } else {
        value.parse::<LevelFilter>().map_err(|_| {
            "not a level (off, error, warn, info, debug, trace) nor filter directives".to_string()
        })?;
    }
    Ok(value.to_string())
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
