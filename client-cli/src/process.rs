//! What every client binary (`chitchat`, `chitchat-bench`) does around its command: logs on
//! stderr, a multi-thread runtime, and the outcome as the exit code.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use chitchat_protocol::ErrorCode;

use crate::ClientError;
use crate::config::ConfigError;
use crate::logs::LogWriter;

/// The exit code of a command that failed because of who it is: the token was refused,
/// expired, could not be had, or grants no access to the room (`UNAUTHORIZED`,
/// `TOKEN_EXPIRED`, `FORBIDDEN`). sysexits' `EX_NOPERM`, so a script can tell "get a new
/// token" from "the relay is down" (1) and a usage error (2).
pub const EXIT_AUTH: u8 = 77;

/// The exit code of a command whose configuration is unusable: a malformed configuration
/// file, an unknown context, a bad `CHITCHAT_*` variable, no CA file found, a CA file that
/// did not sign the relay's certificate. The code clap
/// gives a usage error: fix what was given, then run again.
pub const EXIT_USAGE: u8 = 2;

/// How long the runtime's shutdown waits for tasks still running. A read of stdin may still
/// block a worker thread (chat after /quit): do not wait for it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// The log filter without `CHITCHAT_LOG`: warnings, except quinn-udp's for a datagram that
/// cannot be sent. `localhost` resolves to `::1` too and every address is tried at once, so
/// on a host without IPv6 (a container) each command would print one; the connection's own
/// outcome is what this client reports.
const DEFAULT_LOG: &str = "warn,quinn_udp=error";

/// Logs go to stderr (held while the full-screen chat owns the terminal: [`crate::logs`]),
/// filtered by `CHITCHAT_LOG` (tracing's env-filter syntax; default [`DEFAULT_LOG`]), so they never
/// mix with what commands print on stdout.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHITCHAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(LogWriter)
        .try_init();
}

/// Sets up logging, runs `command` to its end on a new multi-thread runtime, and maps the
/// outcome to the exit code: success, or `error: ...` on stderr and failure ([`EXIT_AUTH`]
/// for a failed sign-in or a room not granted, [`EXIT_USAGE`] for an unusable
/// configuration, 1 for anything else).
pub fn run_main(command: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(command);
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_auth_failure(&e) {
                ExitCode::from(EXIT_AUTH)
            } else if is_config_failure(&e) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether `e` (or what caused it) is a refused, expired or missing sign-in or a room not
/// granted.
fn is_auth_failure(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<ClientError>())
        .any(|e| {
            matches!(e, ClientError::Token(_))
                || matches!(
                    e.code(),
                    Some(ErrorCode::UNAUTHORIZED | ErrorCode::TOKEN_EXPIRED | ErrorCode::FORBIDDEN)
                )
        })
}

/// Whether `e` (or what caused it) is an unusable configuration.
fn is_config_failure(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<ConfigError>()
            || matches!(
                cause.downcast_ref::<ClientError>(),
                Some(ClientError::Config(_) | ClientError::Certificate { .. })
            )
    })
}
