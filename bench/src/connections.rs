//! The connections workload: C idle sessions on one relay, each joined to one of C/10
//! rooms, opened as fast as the relay accepts them. Measures the ramp rate, the relay's
//! memory per session and its idle CPU, then checks one message per room reaches every
//! session.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde::Serialize;

use super::Env;
use super::conn::Connection;
use super::procfs::{MachineCpu, rss_bytes};
use super::wire::{RoomFrameRef, Splitter, decode_room_frame};

/// Sessions per room (bench/WORKLOADS.md: C/10 rooms).
const PER_ROOM: usize = 10;

/// The text every room gets once at the end; receivers count it.
const CHECK_TEXT: &str = "connections-check";

/// How long the relay gets to settle after the ramp before its memory is read: sessions
/// finish their joins' presence traffic within a second or two.
const SETTLE: Duration = Duration::from_secs(3);

/// How long the check messages get to reach every session.
const CHECK_DEADLINE: Duration = Duration::from_secs(30);

/// Results, one JSON object.
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
pub struct ConnectionsResult {
    pub scenario: &'static str,
    pub transport: super::conn::Transport,
    /// `open`, or the algorithm of the sessions' tokens (`HS256`, `ES256`).
    pub auth: &'static str,
    pub relays: Vec<String>,
    pub C: usize,
    pub rooms: usize,
    /// Sessions that completed Hello and Join.
    pub opened: usize,
    /// Sessions that failed to open (each with its error logged once).
    pub failed: usize,
    /// Seconds from the first connection attempt to the last Joined.
    pub ramp_s: f64,
    pub sessions_per_sec: f64,
    /// How many connection attempts were in flight at once during the ramp.
    pub concurrency: usize,
    /// Relay CPU seconds during the ramp, and per session.
    pub ramp_server_cpu_s: f64,
    pub ramp_server_cpu_us_per_session: f64,
    pub ramp_load_cpu_s: f64,
    pub ramp_machine_cpu_busy_pct: f64,
    /// Relay RSS before any session, and at rest with C sessions (MB).
    pub server_rss_mb_empty: f64,
    pub server_rss_mb: f64,
    pub rss_kb_per_session: f64,
    /// Relay CPU over the idle window with C sessions.
    pub idle_window_s: f64,
    pub idle_server_cpu_s: f64,
    /// Percent of one core.
    pub idle_server_cpu_pct: f64,
    /// The check: one message per room, to reach every session.
    pub check_sent: usize,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub lost: u64,
    pub check_s: f64,
    /// Sessions whose connection ended before the run closed it (must be 0).
    pub ended_early: u64,
    /// The load generator's own resident memory with C sessions (MB).
    pub load_rss_mb: f64,
}

/// Runs the workload with `c` sessions against the first relay, idling `idle` seconds.
pub async fn run(env: &Env, c: usize, idle: Duration) -> anyhow::Result<ConnectionsResult> {
    if c < PER_ROOM {
        bail!("C must be at least {PER_ROOM}");
    }
    let Some(&pid) = env.watched.servers.first() else {
        bail!("the connections workload reads the relay's memory: pass --server-pids PID");
    };
    let relay = &env.relays[0];
    let rooms = c / PER_ROOM;
    let tag = format!("c{}", std::process::id());
    let room = |j: usize| format!("{tag}-{}", j * rooms / c);
    let counts = Arc::new(Counts::default());
    // Signed before the clock starts: the relay's verification is measured, not the
    // load generator's signing.
    let mint = |nick: &str| env.minter.as_ref().map(|m| m.mint(nick)).transpose();
    let mut tokens: Vec<Option<String>> = (0..c)
        .map(|j| mint(&format!("c{j}")))
        .collect::<anyhow::Result<_>>()?;
    let checker_token = mint("checker")?;

    let rss_empty = rss_bytes(pid).context("reading the relay's memory")?;
    let cpu0 = env.watched.cpu();
    let machine0 = MachineCpu::now();
    let bar = env.bar(c as u64, "opening sessions");
    let started = Instant::now();
    let opened: Vec<Result<Connection, String>> = futures::stream::iter(0..c)
        .map(|j| {
            let room = room(j);
            let token = tokens[j].take();
            let counts = counts.clone();
            let bar = &bar;
            async move {
                let result = async {
                    let mut session = env
                        .dialer
                        .connect_as(relay, &format!("c{j}"), token)
                        .await?;
                    session.join(&room).await?;
                    Ok::<_, super::conn::ConnError>(session.split())
                }
                .await;
                bar.inc(1);
                match result {
                    Ok((conn, control)) => {
                        tokio::spawn(count_checks(conn.clone(), control, counts));
                        Ok(conn)
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .buffer_unordered(env.concurrency)
        .collect()
        .await;
    let ramp = started.elapsed();
    let cpu1 = env.watched.cpu();
    let machine1 = MachineCpu::now();
    bar.finish_and_clear();
    let (conns, errors): (Vec<_>, Vec<_>) = opened.into_iter().partition(Result::is_ok);
    let conns: Vec<Connection> = conns.into_iter().filter_map(Result::ok).collect();
    if let Some(Err(e)) = errors.first() {
        eprintln!(
            "warning: {} sessions failed to open, e.g.: {e}",
            errors.len()
        );
    }

    // At rest: memory, then idle CPU.
    let bar = env.spinner("idle");
    tokio::time::sleep(SETTLE).await;
    let rss_full = rss_bytes(pid).context("reading the relay's memory")?;
    let idle_start = (env.watched.cpu(), Instant::now());
    tokio::time::sleep(idle).await;
    let idle_cpu = env.watched.cpu().servers - idle_start.0.servers;
    let idle_window = idle_start.1.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if env.watched.missing_server().is_some() {
        bail!("the relay process is gone");
    }

    // One message per room, then wait for every session to have it.
    let bar = env.spinner("checking delivery");
    let check_start = Instant::now();
    let mut publisher = env
        .dialer
        .connect_as(relay, "checker", checker_token)
        .await
        .context("the checking publisher")?;
    for r in 0..rooms {
        publisher
            .send_and_wait(&format!("{tag}-{r}"), CHECK_TEXT)
            .await
            .with_context(|| format!("sending the check to room {r}"))?;
    }
    let expected = conns.len() as u64;
    let deadline = Instant::now() + CHECK_DEADLINE;
    while counts.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let check_s = check_start.elapsed().as_secs_f64();
    let got = counts.delivered.load(Ordering::Relaxed);
    let ended_early = counts.ended_early.load(Ordering::Relaxed);
    bar.finish_and_clear();
    let load_rss = rss_bytes(std::process::id()).unwrap_or(0);

    counts.closing.store(true, Ordering::Relaxed);
    publisher.conn.close();
    for conn in &conns {
        conn.close();
    }

    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let ramp_s = ramp.as_secs_f64();
    Ok(ConnectionsResult {
        scenario: "connections",
        transport: env.transport,
        auth: super::tokens::mode(env.minter.as_ref()),
        relays: vec![relay.to_string()],
        C: c,
        rooms,
        opened: conns.len(),
        failed: errors.len(),
        ramp_s,
        sessions_per_sec: conns.len() as f64 / ramp_s,
        concurrency: env.concurrency,
        ramp_server_cpu_s: cpu1.servers - cpu0.servers,
        ramp_server_cpu_us_per_session: (cpu1.servers - cpu0.servers) * 1e6
            / conns.len().max(1) as f64,
        ramp_load_cpu_s: cpu1.load - cpu0.load,
        ramp_machine_cpu_busy_pct: match (machine0, machine1) {
            (Some(a), Some(b)) => a.busy_pct_until(&b),
            _ => 0.0,
        },
        server_rss_mb_empty: mb(rss_empty),
        server_rss_mb: mb(rss_full),
        rss_kb_per_session: (rss_full as f64 - rss_empty as f64) / 1024.0 / c as f64,
        idle_window_s: idle_window,
        idle_server_cpu_s: idle_cpu,
        idle_server_cpu_pct: 100.0 * idle_cpu / idle_window,
        check_sent: rooms,
        expected_deliveries: expected,
        delivered: got,
        lost: expected.saturating_sub(got),
        check_s,
        ended_early,
        load_rss_mb: mb(load_rss),
    })
}

/// What the sessions' readers count.
#[derive(Debug, Default)]
struct Counts {
    /// Check messages received.
    delivered: AtomicU64,
    /// Sessions that ended before the run closed them.
    ended_early: AtomicU64,
    /// Set when the run closes its sessions.
    closing: AtomicBool,
}

/// Reads one session's room stream, counting the check messages.
async fn count_checks(conn: Connection, control: super::conn::Control, counts: Arc<Counts>) {
    let _control = control;
    let Ok(mut stream) = conn.accept_room().await else {
        if !counts.closing.load(Ordering::Relaxed) {
            counts.ended_early.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    let mut splitter = Splitter::default();
    loop {
        match stream.read().await {
            Ok(Some(chunk)) => {
                let fed = splitter.feed(&chunk, |body| {
                    if let RoomFrameRef::Message(m) = decode_room_frame(body)?
                        && m.text == CHECK_TEXT
                    {
                        counts.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                });
                if fed.is_err() {
                    counts.ended_early.fetch_add(1, Ordering::Relaxed);
                    conn.close();
                    return;
                }
            }
            Ok(None) | Err(_) => {
                if !counts.closing.load(Ordering::Relaxed) {
                    counts.ended_early.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}
