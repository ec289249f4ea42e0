//! The options every ChitChat client binary shares (`chitchat` and `chitchat-bench`): the
//! [`Global`] flags and the checked [`Context`] resolved from them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chitchat_protocol::validate_nick;
use clap::Args;

use crate::client::{DEFAULT_IDLE_TIMEOUT, keep_alive_for, retry_at_start};
use crate::config::resolve;
use crate::config::{CONTEXT_ENV, Config, ContextConfig};
use crate::session::{self, SessionEvents, SessionHandle};
use crate::token::TokenSource;
use crate::{Client, ClientConfig, ClientError, Connector, RelayAddr, SessionConfig};

/// The flags every client binary takes: which relays, as whom, trusting which CA, with which
/// timeouts. Each is also an environment variable, and `global`, so it may follow a
/// subcommand. A flag wins over its variable, the variable over the context of the
/// configuration file (`chitchat` only), the context over the built-in default
/// (`crate::config::resolve`).
#[derive(Debug, Args)]
pub struct Global {
    /// Relay to use: HOST:PORT (QUIC, the relay's UDP port) or ws://HOST:PORT, wss://HOST:PORT
    /// (WebSocket, the relay's HTTP port, for networks without UDP). Repeat it (or separate
    /// with commas) to name fallbacks, raced 250 ms apart, QUIC ones first [env:
    /// CHITCHAT_RELAY] [default: the context's relays, else localhost:4433].
    #[arg(
        long = "relay",
        value_name = "RELAY",
        value_delimiter = ',',
        global = true
    )]
    pub relays: Vec<RelayAddr>,

    /// The name others see [env: CHITCHAT_NICK] [default: the context's nick, else $USER if
    /// it is a valid nick, else guest].
    #[arg(long, global = true)]
    pub nick: Option<String>,

    /// CA certificate (PEM) the relay's certificate must be signed by; nothing else is
    /// trusted [env: CHITCHAT_CA] [default: the context's CA, else the first that exists of
    /// ./certs/ca.pem, $CHITCHAT_CERTS_DIR/ca.pem and /certs/ca.pem].
    #[arg(long, value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,

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
    /// whenever it needs refreshing. With no token flag and no CHITCHAT_TOKEN, the
    /// context's token-file or token-command is used.
    #[arg(long, value_name = "CMD", global = true)]
    pub token_command: Option<String>,
}

/// Which context of the configuration file a command uses (`chitchat` only).
#[derive(Debug, Args)]
pub struct ContextChoice {
    /// Use this context of the configuration file (see `chitchat context`) [env:
    /// CHITCHAT_CONTEXT] [default: the file's current context].
    #[arg(long = "context", value_name = "NAME", global = true)]
    pub name: Option<String>,
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
    /// Checks the flags and their variables, with the built-in defaults (no configuration
    /// file): a valid nick, at least one relay, a CA file, a well-formed token if one is
    /// given.
    pub fn new(global: &Global) -> Result<Self, ClientError> {
        Self::resolve(global, None, &resolve::process_env, &|path| path.is_file())
    }

    /// Like [`Context::new`], with the context of the configuration file (`CHITCHAT_CONFIG`
    /// or `<config dir>/chitchat/config.toml`) that `choice`, else `CHITCHAT_CONTEXT`, else
    /// the file's `current` names supplying what flags and variables leave open.
    pub fn load(global: &Global, choice: &ContextChoice) -> Result<Self, ClientError> {
        let env_choice = resolve::process_env(CONTEXT_ENV);
        let named = choice.name.is_some() || env_choice.is_some();
        let path = match Config::default_path() {
            Ok(path) => path,
            // No config directory: fine unless a context was asked for by name.
            Err(e) if named => return Err(e.into()),
            Err(_) => return Self::new(global),
        };
        let config = Config::load(&path)?;
        let selected = config.select(choice.name.as_deref(), env_choice)?;
        let context = selected.as_ref().map(|(_, context)| context);
        Self::resolve(global, context, &resolve::process_env, &|path| {
            path.is_file()
        })
    }

    /// Resolves every setting from the flags, the environment (`env`), the context and the
    /// defaults ([`resolve`]); `exists` tells which CA files are there.
    pub fn resolve(
        global: &Global,
        context: Option<&ContextConfig>,
        env: resolve::Env,
        exists: &dyn Fn(&Path) -> bool,
    ) -> Result<Self, ClientError> {
        let nick = match resolve::nick(global.nick.as_deref(), env, context) {
            Some(nick) => {
                validate_nick(&nick)?;
                nick
            }
            None => default_nick(),
        };
        let relays = resolve::relays(&global.relays, env, context)?;
        let ca = resolve::ca(global.ca.as_deref(), env, context, exists)?;
        let mut client = ClientConfig::new(ca);
        client.connect_timeout = Duration::from_millis(global.connect_timeout_ms);
        client.idle_timeout = Duration::from_millis(global.idle_timeout_ms);
        client.keep_alive = keep_alive_for(client.idle_timeout);
        let flags = resolve::TokenFlags {
            token: global.token.as_deref(),
            file: global.token_file.as_deref(),
            command: global.token_command.as_deref(),
        };
        let token = resolve::token(flags, env, context)?;
        Ok(Context {
            relays,
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

    /// Starts a resilient session ([`session::start`]) for a command that waits for its
    /// relay (`tail`, `chat`): while no relay answers, it tries again with backoff
    /// ([`retry_at_start`]), counting the wait down on stderr. A refusal ends it as before.
    pub async fn start_session(&self) -> Result<(SessionHandle, SessionEvents), ClientError> {
        let mut countdown = Countdown::new();
        let started = retry_at_start(
            || session::start(self.session()),
            |e, left| countdown.show(e, left),
        )
        .await;
        countdown.finish();
        started
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

/// The wait before trying the relays again, on stderr: one line rewritten every second on a
/// terminal, one line per wait otherwise (a log should not get a line a second).
struct Countdown {
    terminal: bool,
    /// The time left when last shown: a longer one is a new wait.
    last: Option<Duration>,
}

impl Countdown {
    fn new() -> Self {
        Countdown {
            terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn show(&mut self, error: &ClientError, left: Duration) {
        let new_wait = self.last.is_none_or(|last| left > last);
        self.last = Some(left);
        let secs = left.as_millis().div_ceil(1000);
        let line = format!("chitchat: {error}; retrying in {secs}s (Ctrl-C to stop)");
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            // Back to the line's start, the new text, the rest of the old one cleared.
            write!(err, "\r{line}\x1b[K")
        } else if new_wait {
            writeln!(err, "{line}")
        } else {
            Ok(())
        };
        let _ = err.flush();
    }

    /// Ends the line rewritten on a terminal.
    fn finish(&mut self) {
        if self.terminal && self.last.is_some() {
            eprintln!();
        }
        self.last = None;
    }
}
