//! `chitchat-relay`: reads the configuration (flags, `CHITCHAT_*` variables, the `--config`
//! file), sets up logging, runs the relay until SIGTERM or SIGINT. A fatal error is printed
//! once, on stderr, and the exit code is 1 (2 for a bad configuration).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chitchat_relay::auth::mint::token_command;
use chitchat_relay::config::{Command, ConfigCommand, LogFormat};
use chitchat_relay::config_file::{self, LoadError, Loaded};
use chitchat_relay::{Config, Relay};
use tracing_subscriber::filter::LevelFilter;

/// The exit code of a configuration that cannot be used (clap's, for a bad flag).
const EXIT_BAD_CONFIG: u8 = 2;

/// The filter without `--log-level` or `RUST_LOG`: the relay at info, the QUIC libraries only
/// when something is wrong (at info they log every connection).
const DEFAULT_LOG_LEVEL: &str = "info";

/// jemalloc, with background threads that purge freed pages (after its 10 s decay): after a
/// burst of sessions the relay's memory goes back to the kernel, where glibc's per-thread
/// arenas kept most of it (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let loaded = match config_file::parse(std::env::args_os().collect()) {
        Ok(loaded) => loaded,
        Err(LoadError::Args(e)) => e.exit(),
        Err(LoadError::Invalid(problems)) => {
            for problem in problems {
                eprintln!("chitchat-relay: {problem}");
            }
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
        Err(e) => {
            eprintln!("chitchat-relay: {}", describe(&anyhow::Error::new(e)));
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match &loaded.config.command {
        Some(Command::Token(args)) => {
            return match token_command(args) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("chitchat-relay token: {}", describe(&e));
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Config(ConfigCommand::Print)) => {
            print!("{}", loaded.to_toml());
            return ExitCode::SUCCESS;
        }
        Some(Command::Config(ConfigCommand::Check { file })) => {
            return match config_file::check(file) {
                Ok(()) => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for problem in problems {
                        eprintln!("{problem}");
                    }
                    ExitCode::from(EXIT_BAD_CONFIG)
                }
            };
        }
        None => {}
    }
    init_logging(&loaded);
    let config = loaded.config;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(usize::from(n));
    }
    let result = runtime
        .build()
        .context("starting the async runtime")
        // Spawned, not run on this thread: the accept loop (where quinn processes every
        // new connection's first packet) runs on the worker threads with everything else.
        .and_then(|rt| {
            rt.block_on(async {
                tokio::spawn(run(config))
                    .await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("the relay task failed: {e}")))
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, on stderr, whatever the log format and level: the line a person or a
            // supervisor reads to learn why the relay stopped.
            eprintln!("chitchat-relay: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, `: `-separated; an operating-system error as its
/// words alone ("address already in use", not "Address already in use (os error 98)").
fn describe(error: &anyhow::Error) -> String {
    let causes: Vec<String> = error
        .chain()
        .map(|cause| match cause.downcast_ref::<std::io::Error>() {
            Some(io) if io.raw_os_error().is_some() => {
                let text = io.to_string();
                let words = text.split(" (os error").next().unwrap_or(&text);
                let mut chars = words.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_lowercase().chain(chars).collect()
                })
            }
            _ => cause.to_string(),
        })
        .collect();
    causes.join(": ")
}

async fn run(config: Config) -> anyhow::Result<()> {
    let relay = Relay::load(config).await?;
    // The one line scripts and tests wait for: where to connect.
    {
        let mut stdout = std::io::stdout().lock();
        let admin = relay
            .admin_addr()
            .map(|a| format!(" admin={a}"))
            .unwrap_or_default();
        writeln!(
            stdout,
            "READY quic={} http={}{admin}",
            relay.local_addr()?,
            relay.http_addr()?
        )
        .context("writing the READY line")?;
        stdout.flush()?;
    }
    relay.run(shutdown_signal()).await
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop the relay with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}

/// Where the log filter comes from, first found: `--log-level` or `CHITCHAT_LOG_LEVEL`,
/// `RUST_LOG`, the file's `log-level`, the deprecated `CHITCHAT_LOG`, then
/// [`DEFAULT_LOG_LEVEL`].
fn init_logging(loaded: &Loaded) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let level = loaded.config.log_level.as_deref();
    let from_file = loaded.from_file("log_level");
    let mut warnings = Vec::new();
    let directives = match (level, var("RUST_LOG")) {
        (Some(level), _) if !from_file => level_directives(level),
        (_, Some(rust_log)) => rust_log,
        (Some(level), None) => level_directives(level),
        (None, None) => match var("CHITCHAT_LOG") {
            Some(old) => {
                warnings
                    .push("CHITCHAT_LOG is deprecated: use --log-level or RUST_LOG".to_string());
                old
            }
            None => level_directives(DEFAULT_LOG_LEVEL),
        },
    };
    let filter = EnvFilter::builder().parse(&directives).unwrap_or_else(|e| {
        warnings.push(format!(
            "ignoring the log filter {directives:?} ({e}); logging at info"
        ));
        EnvFilter::new(level_directives(DEFAULT_LOG_LEVEL))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match loaded.config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

/// A bare level for everything, with quinn and wtransport no more verbose than `warn`; filter
/// directives as they are.
fn level_directives(level: &str) -> String {
    match level.parse::<LevelFilter>() {
        Ok(level) => {
            let quiet = level.min(LevelFilter::WARN);
            format!("{level},quinn={quiet},wtransport={quiet}")
        }
        Err(_) => level.to_string(),
    }
}
