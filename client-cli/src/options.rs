//! The options every ChitChat client binary shares (`chitchat` and `chitchat-bench`): the
//! [`Global`] flags and the checked [`Context`] resolved from them.

use std::path::PathBuf;
use std::time::Duration;

use chitchat_protocol::validate_nick;
use clap::Args;

use crate::client::{DEFAULT_IDLE_TIMEOUT, keep_alive_for};
use crate::{Client, ClientConfig, ClientError, Connector, RelayAddr, SessionConfig};

/// The flags every client binary takes: which relays, as whom, trusting which CA, with which
/// timeouts. Each is also an environment variable, and `global`, so it may follow a
/// subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Relay to use: HOST:PORT (QUIC, the relay's UDP port) or ws://HOST:PORT, wss://HOST:PORT
    /// (WebSocket, the relay's HTTP port, for networks without UDP). Repeat it (or separate
    /// with commas) to name fallbacks, raced 250 ms apart, QUIC ones first.
    #[arg(
        long = "relay",
        value_name = "RELAY",
        env = "CHITCHAT_RELAY",
        value_delimiter = ',',
        default_value = "localhost:4433",
        global = true
    )]
    pub relays: Vec<RelayAddr>,

    /// The name others see [default: $USER if it is a valid nick, else guest].
    #[arg(long, env = "CHITCHAT_NICK", global = true)]
    pub nick: Option<String>,

    /// CA certificate (PEM) the relay's certificate must be signed by; nothing else is trusted.
    #[arg(
        long,
        value_name = "FILE",
        env = "CHITCHAT_CA",
        default_value = "./certs/ca.pem",
        global = true
    )]
    pub ca: PathBuf,

    /// Give up on a relay that has not accepted the session within this many milliseconds.
    #[arg(
        long,
        value_name = "MS",
        env = "CHITCHAT_CONNECT_TIMEOUT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(100..),
        global = true
    )]
    pub connect_timeout_ms: u64,

    /// Consider a relay gone after this many milliseconds without a sign of life (then
    /// `tail` and `chat` reconnect); a keep-alive goes out every half of it.
    #[arg(
        long,
        value_name = "MS",
        env = "CHITCHAT_IDLE_TIMEOUT_MS",
        default_value_t = DEFAULT_IDLE_TIMEOUT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(500..=600_000),
        global = true
    )]
    pub idle_timeout_ms: u64,
}

/// What every command needs, checked and resolved from [`Global`].
#[derive(Debug, Clone)]
pub struct Context {
    /// Relays to try, in order; at least one.
    pub relays: Vec<RelayAddr>,
    /// A valid nick.
    pub nick: String,
    /// Connection settings (CA file, timeouts).
    pub client: ClientConfig,
}

impl Context {
    /// Checks the flags: a valid nick (given, else `$USER` if valid, else `guest`), at least
    /// one relay.
    pub fn new(global: &Global) -> Result<Self, ClientError> {
        let nick = match &global.nick {
            Some(nick) => {
                validate_nick(nick)?;
                nick.clone()
            }
            None => default_nick(),
        };
        if global.relays.is_empty() {
            return Err(ClientError::NoRelay(Vec::new()));
        }
        let mut client = ClientConfig::new(&global.ca);
        client.connect_timeout = Duration::from_millis(global.connect_timeout_ms);
        client.idle_timeout = Duration::from_millis(global.idle_timeout_ms);
        client.keep_alive = keep_alive_for(client.idle_timeout);
        Ok(Context {
            relays: global.relays.clone(),
            nick,
            client,
        })
    }

    /// Settings for a resilient session.
    pub fn session(&self) -> SessionConfig {
        SessionConfig::new(self.relays.clone(), self.nick.clone(), self.client.clone())
    }

    /// One connection (no reconnection), for one-shot commands.
    pub async fn connect(&self) -> Result<Client, ClientError> {
        let connector = Connector::new(self.client.clone())?;
        let (client, _events, _) = connector.connect_any(&self.relays, 0, &self.nick).await?;
        Ok(client)
    }
}

/// `$USER` if it is a valid nick, else `guest`.
pub fn default_nick() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| validate_nick(user).is_ok())
        .unwrap_or_else(|| "guest".to_owned())
}
