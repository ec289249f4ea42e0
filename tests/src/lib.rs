//! Harness for the end-to-end tests: real `chitchat-relay` and `chitchat` processes talking
//! real QUIC on localhost.
//!
//! - [`RelayProcess`] starts a relay on a free port with its own temporary data and certs
//!   directories, waits for its `READY` line, and can be killed (`kill -9`), stopped
//!   (SIGTERM) and restarted on the same port and directories.
//! - [`Cli`] builds a `chitchat` command line aimed at a relay; [`Cli::run`] runs it to the
//!   end with a deadline, [`Cli::spawn`] starts a long-running one ([`CliProcess`]) whose
//!   output lines are read with deadlines and whose stdin can be written.
//!
//! - [`certs::TestCerts`] is a CA and a leaf it signs, for relays with a real certificate
//!   (`--tls-cert`: TLS on the HTTP port too).
//! - [`cluster::Cluster`] is a redis-server and several relays sharing it and one CA.
//! - [`http::get`] reads a relay's HTTP endpoints (the relay crate's tests use it too).
//! - [`redis::RedisServer`] runs a real `redis-server` for the relays of a cluster (and for
//!   the relay crate's own broker tests).
//! - [`redis_cluster::RedisCluster`] runs a real Redis Cluster (three masters, three
//!   replicas), kills masters and moves slots.
//!
//! - [`tokens::TokenRelay`] is a relay in token mode and tokens minted for it.
//!
//! Every wait has a deadline and fails with the output seen so far. Every process a test
//! starts is killed when its handle is dropped, so a failing test leaves nothing running.

pub mod certs;
mod child;
mod cli;
pub mod cluster;
pub mod http;
pub mod redis;
pub mod redis_cluster;
mod relay;
pub mod tokens;

use std::time::Duration;

pub use child::{binary, cli_bin, relay_bin, target_dir};
pub use cli::{Cli, CliOutput, CliProcess, json_lines, seqs, texts};
pub use relay::{RelayProcess, metric_value};

/// How long a relay may take to print its READY line. A debug build starts in well under a
/// second; the margin is for a loaded machine running tests in parallel.
pub const RELAY_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The default deadline of one CLI command or one awaited output line: far above what any
/// of them takes (milliseconds), so only a real hang fails a test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
