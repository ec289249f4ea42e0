//! The `chitchat` command line: the flags (each global one also an environment variable) and
//! one module per command.

mod chat;
mod history;
mod send;
mod tail;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chitchat_protocol::{validate_nick, validate_room};
use clap::{Args, Parser, Subcommand};

use crate::{ClientConfig, ClientError, Connector, RelayAddr, SessionConfig};

/// Chat through ChitChat relays from the terminal.
#[derive(Debug, Parser)]
#[command(name = "chitchat", version)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Relay to use; repeat it (or separate with commas) to name fallbacks, tried in turn.
    #[arg(
        long = "relay",
        value_name = "HOST:PORT",
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
    /// `tail` and `chat` reconnect).
    #[arg(
        long,
        value_name = "MS",
        env = "CHITCHAT_IDLE_TIMEOUT_MS",
        default_value_t = 6000,
        value_parser = clap::value_parser!(u64).range(500..=600_000),
        global = true
    )]
    pub idle_timeout_ms: u64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one message to a room and print the seq it was stored under.
    Send {
        /// The room.
        room: String,
        /// The message; several words are joined with spaces.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Print a room's messages as they arrive; reconnects and resumes if the relay goes away.
    Tail {
        /// The room.
        room: String,
        /// Start with the stored messages after this seq (0: from the first).
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
        /// Exit after printing this many messages.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// One JSON object per line: {"room","seq","epoch","from","text","ts"}.
        #[arg(long)]
        json: bool,
    },
    /// Print a room's newest messages, oldest first.
    History {
        /// The room.
        room: String,
        /// How many messages.
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// One JSON object per line: {"room","seq","epoch","from","text","ts"}.
        #[arg(long)]
        json: bool,
    },
    /// Chat: lines read from stdin are sent to the current room; /help lists the commands.
    Chat {
        /// The room to start in.
        room: String,
    },
    /// Load-test relays with a standard workload (see bench/run.sh and docs/performance.md).
    Bench(crate::bench::BenchArgs),
}

/// What every command needs, checked and resolved from the flags.
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
        // A third of the idle timeout: two keep-alives may be lost before the relay is
        // declared gone.
        client.keep_alive = client.idle_timeout / 3;
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
    pub async fn connect(&self) -> Result<crate::Client, ClientError> {
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

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli.global)?;
    match cli.command {
        Command::Send { room, text } => send::run(&ctx, &room, &text.join(" ")).await,
        Command::Tail {
            room,
            since,
            count,
            json,
        } => tail::run(&ctx, &room, since, count, json).await,
        Command::History { room, limit, json } => history::run(&ctx, &room, limit, json).await,
        Command::Chat { room } => chat::run(&ctx, &room).await,
        Command::Bench(args) => crate::bench::run(&cli.global, args).await,
    }
}

/// Logs go to stderr, filtered by `CHITCHAT_LOG` (tracing's env-filter syntax; default
/// `warn`), so they never mix with what commands print on stdout.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHITCHAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C (SIGINT). The handler is in place when this returns, not only once the
/// future is first polled, so an interrupt that comes early is not lost to the default
/// action (which would skip telling the relay goodbye).
fn interrupted() -> futures::future::BoxFuture<'static, ()> {
    use futures::FutureExt;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut sigint) => async move {
                sigint.recv().await;
            }
            .boxed(),
            // No handler: Ctrl-C keeps its default action.
            Err(_) => futures::future::pending().boxed(),
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
        .boxed()
    }
}

/// Checks a room name before any connection is made.
fn check_room(room: &str) -> Result<(), ClientError> {
    validate_room(room).map_err(ClientError::from)
}

/// Prints one line on stdout and flushes it, so a reader sees it at once. A closed stdout
/// (`| head`) is reported as `Ok(false)`: the command should stop quietly.
fn print_line(line: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}
