//! `chitchat-bench`: the load generator for the standard workloads of bench/WORKLOADS.md
//! (fanout-small, fanout-large, many-rooms, probe, connections), over native QUIC or
//! WebTransport. Its binary takes the `chitchat` client's shared flags
//! ([`chitchat_cli::options`]) and reads the CA file the same way, but opens its own lean
//! sessions ([`conn`]).
//!
//! It drives relays someone else started (`--relays`), reads their CPU and memory from
//! `/proc` (`--server-pids`), shows progress while it runs, prints a table and one JSON line
//! per run, and can draw the latency distribution (`--plot FILE.svg`). bench/run.sh starts
//! Redis and the relays, runs every workload three times and gathers the results.
//!
//! Modules: [`conn`] (lean sessions over both transports), [`wire`] (message texts and
//! zero-copy room frames), [`fanout`] (the fan-out workloads), [`probe`] (the rising-rate
//! search), [`connections`] (many idle sessions), [`floor`] (the kernel's CPU per datagram
//! sent), [`procfs`] (CPU and memory readings), [`stats`] (percentiles), [`report`] (table,
//! JSON, plot), [`tokens`] (sign-in tokens for relays in token mode).

pub mod conn;
pub mod connections;
pub mod fanout;
pub mod floor;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod tokens;
pub mod wire;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chitchat_cli::RelayAddr;
use chitchat_cli::options::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use conn::{Dialer, Transport};
use fanout::Fanout;
use procfs::Watched;

/// The standard workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 200 subscribers, 2 publishers, 1 room, 200 msg/s.
    FanoutSmall,
    /// 1000 subscribers, 4 publishers, 1 room, 100 msg/s.
    FanoutLarge,
    /// 1000 subscribers and 100 publishers in 100 rooms, 200 msg/s in all.
    ManyRooms,
    /// fanout-small at rising rates until a step fails, then two bisection steps.
    Probe,
    /// C idle sessions on one relay, C/10 rooms.
    Connections,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::FanoutSmall => "fanout-small",
            Scenario::FanoutLarge => "fanout-large",
            Scenario::ManyRooms => "many-rooms",
            Scenario::Probe => "probe",
            Scenario::Connections => "connections",
        }
    }

    /// The workload's standard parameters (bench/WORKLOADS.md); probe starts at its first
    /// rate.
    fn standard(self) -> Fanout {
        let (s, p, n, r) = match self {
            Scenario::FanoutSmall | Scenario::Connections => (200, 2, 1, 200.0),
            Scenario::FanoutLarge => (1000, 4, 1, 100.0),
            Scenario::ManyRooms => (1000, 100, 100, 200.0),
            Scenario::Probe => (200, 2, 1, probe::FIRST_RATE),
        };
        Fanout {
            scenario: self.name().to_string(),
            s,
            p,
            n,
            r,
            t: 10.0,
            b: 100,
        }
    }
}

/// `chitchat-bench` flags, besides the shared ones of [`chitchat_cli::options::Global`].
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The workload.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Native QUIC, WebTransport as browsers use it, or the WebSocket transport (ws: give
    /// the relays as ws://HOST:PORT or wss://HOST:PORT, their HTTP ports).
    #[arg(long, value_enum, default_value_t = Transport::Quic)]
    pub transport: Transport,

    /// The relays, in order (subscriber j and publisher p use relays[j mod len]); default:
    /// --relay.
    // Its own id: the shared flags' `--relay` already has the id `relays`.
    #[arg(
        id = "bench_relays",
        long = "relays",
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub relays: Vec<RelayAddr>,

    /// The relay processes whose CPU and memory are measured.
    #[arg(long, value_name = "PID,...", value_delimiter = ',')]
    pub server_pids: Vec<u32>,

    /// The Redis server processes (every node of a Redis Cluster), for redis_cpu_s.
    #[arg(long = "redis-pid", value_name = "PID,...", value_delimiter = ',')]
    pub redis_pids: Vec<u32>,

    /// Print only the JSON line on stdout.
    #[arg(long)]
    pub json: bool,

    /// Draw the latency distribution to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Subscribers (S).
    #[arg(short = 'S', long, value_name = "S")]
    pub subscribers: Option<usize>,

    /// Publishers (P).
    #[arg(short = 'P', long, value_name = "P")]
    pub publishers: Option<usize>,

    /// Rooms (N).
    #[arg(short = 'N', long, value_name = "N")]
    pub rooms: Option<usize>,

    /// Messages per second, all publishers together (R); for probe, the first step's rate.
    #[arg(short = 'R', long, value_name = "R")]
    pub rate: Option<f64>,

    /// Measured seconds (T).
    #[arg(short = 'T', long, value_name = "T")]
    pub seconds: Option<f64>,

    /// Text bytes (B).
    #[arg(short = 'B', long, value_name = "B")]
    pub bytes: Option<usize>,

    /// connections: sessions to open (C).
    #[arg(short = 'C', long, value_name = "C", default_value_t = 10_000)]
    pub sessions: usize,

    /// connections: seconds the idle CPU is measured over.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub idle_secs: f64,

    /// probe: stop doubling past this rate.
    #[arg(long, value_name = "R", default_value_t = 409_600.0)]
    pub probe_max: f64,

    /// Connection attempts in flight at once while setting up.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: usize,

    /// Client UDP sockets the load generator spreads its connections over.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub sockets: usize,

    /// Each connection step (handshake, Hello, Join) must finish within this.
    #[arg(long, value_name = "MS", default_value_t = 20_000)]
    pub step_timeout_ms: u64,

    /// connections: sign-in tokens for a relay in token mode.
    #[command(flatten)]
    pub tokens: tokens::TokenArgs,
}

/// What a workload runs with.
pub struct Env {
    /// Opens the sessions.
    pub dialer: Dialer,
    /// The relays, in order; each workload says which of its sessions goes to which.
    pub relays: Vec<RelayAddr>,
    /// The processes whose CPU and memory are read.
    pub watched: Watched,
    /// Connection attempts in flight at once while setting up.
    pub concurrency: usize,
    /// The transport every session uses.
    pub transport: Transport,
    /// Signs a token per session for relays in token mode (connections only).
    pub minter: Option<tokens::Minter>,
    /// Progress bars are drawn (to stderr, when it is a terminal).
    show_progress: bool,
}

impl Env {
    /// A progress bar of `len` steps, on stderr.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:18} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A spinner for a step of unknown length.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.show_progress {
            // Hidden by indicatif itself when stderr is not a terminal.
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }
}

/// Microseconds on this process's monotonic clock: the clock of every `t_us` and every
/// receive time.
pub fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Runs one workload against the relays of `args`, else those of `ctx`.
pub async fn run(ctx: &Context, args: BenchArgs) -> anyhow::Result<()> {
    now_us();
    let relays = if args.relays.is_empty() {
        ctx.relays.clone()
    } else {
        args.relays.clone()
    };
    if relays.is_empty() {
        bail!("no relay: pass --relays HOST:PORT,...");
    }
    for &pid in &args.server_pids {
        if !procfs::alive(pid) {
            bail!("--server-pids: no process {pid}");
        }
    }
    let dialer = Dialer::new(
        args.transport,
        &ctx.client.ca_file,
        args.sockets,
        Duration::from_millis(args.step_timeout_ms),
    )
    .context("preparing connections")?;
    let env = Env {
        dialer,
        relays,
        watched: Watched {
            servers: args.server_pids.clone(),
            redis: args.redis_pids.clone(),
        },
        concurrency: args.concurrency.max(1),
        transport: args.transport,
        minter: tokens::Minter::from_args(&args.tokens)?,
        show_progress: true,
    };
    // The standard parameters, each overridden by its flag if given.
    let standard = args.scenario.standard();
    let w = Fanout {
        s: args.subscribers.unwrap_or(standard.s),
        p: args.publishers.unwrap_or(standard.p),
        n: args.rooms.unwrap_or(standard.n),
        r: args.rate.unwrap_or(standard.r),
        t: args.seconds.unwrap_or(standard.t),
        b: args.bytes.unwrap_or(standard.b),
        ..standard
    };
    let outcome = match args.scenario {
        Scenario::Probe => {
            let result = probe::run(&env, &w, args.probe_max, args.json).await?;
            report::Outcome::Probe(Box::new(result))
        }
        Scenario::Connections => {
            let idle = Duration::try_from_secs_f64(args.idle_secs)
                .context("--idle-secs must be a non-negative number")?;
            let result = connections::run(&env, args.sessions, idle).await?;
            report::Outcome::Connections(Box::new(result))
        }
        _ => report::Outcome::Fanout(Box::new(fanout::run(&env, &w).await?)),
    };
    env.dialer.shutdown().await;
    if let Some(path) = &args.plot {
        report::plot(path, &outcome).with_context(|| format!("drawing {}", path.display()))?;
    }
    report::print(&outcome, args.json)
}
