//! The options every ChitChat client binary shares (`chitchat` and `chitchat-bench`): the
//! [`Global`] flags and the checked [`Context`] resolved from them.

use std::path::PathBuf;
use std::time::Duration;

use chitchat_protocol::validate_nick;
use clap::Args;

use crate::client::{DEFAULT_IDLE_TIMEOUT, keep_alive_for};
use crate::token::TokenSource;
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

    /// Sign-in token for a relay in token mode (a JWT from the operator); the relay takes
    /// the nick from it. Also read from CHITCHAT_TOKEN when no token flag is given.
    #[arg(long, value_name = "TOKEN", global = true,
          conflicts_with_all = ["token_file", "token_command"])]
    pub token: Option<String>,

    /// Read the sign-in token from this file, and again whenever it needs refreshing.
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        conflicts_with = "token_command"
    )]
    pub token_file: Option<PathBuf>,

    /// Run this shell command to get the sign-in token (printed on its stdout), and again
    /// whenever it needs refreshing.
    #[arg(long, value_name = "CMD", global = true)]
    pub token_command: Option<String>,
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
    /// Where the sign-in token comes from, in token mode.
    pub token: Option<TokenSource>,
}

impl Context {
    /// Checks the flags: a valid nick (given, else `$USER` if valid, else `guest`), at least
    /// one relay, a well-formed token if one is given (`--token`, else `CHITCHAT_TOKEN`
    /// unless `--token-file` or `--token-command` is).
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
        let from_env = std::env::var("CHITCHAT_TOKEN").ok();
        let no_flag = global.token_file.is_none() && global.token_command.is_none();
        let (token, token_from_env) = match (&global.token, &from_env) {
            (Some(token), _) => (Some(token.as_str()), false),
            (None, Some(token)) if no_flag => (Some(token.as_str()), true),
            _ => (None, false),
        };
        let token = TokenSource::from_flags(
            token,
            token_from_env,
            global.token_file.clone(),
            global.token_command.clone(),
        )?;
        Ok(Context {
            relays: global.relays.clone(),
            nick,
            client,
            token,
        })
    }

    /// Settings for a resilient session.
    pub fn session(&self) -> SessionConfig {
        let mut cfg =
            SessionConfig::new(self.relays.clone(), self.nick.clone(), self.client.clone());
        cfg.token = self.token.clone();
        cfg
    }

    /// One connection (no reconnection), for one-shot commands; a session refused with
    /// `UNAVAILABLE` is tried again for a while (see `Connector::connect_retrying`).
    pub async fn connect(&self) -> Result<Client, ClientError> {
        let mut connector = Connector::new(self.client.clone())?;
        if let Some(source) = &self.token {
            let token = crate::token::unexpired(source.fetch().await?, source)?;
            connector.set_token(Some(token));
        }
        let connected = connector.connect_retrying(&self.relays, &self.nick).await;
        let (client, _events, _) =
            connected.map_err(|e| e.with_token_advice(self.token.as_ref(), connector.token()))?;
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
