//! `chitchat-relay`: parses the configuration, sets up logging, runs the relay until
//! SIGTERM or SIGINT.

use std::io::Write;

use anyhow::Context;
use chitchat_relay::auth::mint::token_command;
use chitchat_relay::config::{Command, LogFormat};
use chitchat_relay::{Config, Relay};
use clap::Parser;

/// jemalloc, with background threads that purge freed pages (after its 10 s decay): after a
/// burst of sessions the relay's memory goes back to the kernel, where glibc's per-thread
/// arenas kept most of it (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let config = Config::parse();
    if let Some(Command::Token(args)) = &config.command {
        return match token_command(args) {
            Ok(token) => {
                println!("{token}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("chitchat-relay token: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    init_logging(config.log_format);
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
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("chitchat-relay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
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

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CHITCHAT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,quinn=warn,wtransport=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
