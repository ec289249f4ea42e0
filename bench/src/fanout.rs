//! The fan-out workloads (fanout-small, fanout-large, many-rooms, and each probe step):
//! S subscribers in N rooms, P publishers, an open-loop schedule at R messages per second,
//! a warm-up, T measured seconds, a drain, and the measurements bench/WORKLOADS.md defines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chitchat_protocol::{ClientFrame, ServerFrame};
use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinHandle;

use super::conn::{Connection, ControlReader, ControlWriter, encode_send};
use super::procfs::{CpuSnapshot, MachineCpu};
use super::stats::Latencies;
use super::wire::{
    Phase, RoomFrameRef, Splitter, Stamp, decode_room_frame, parse_stamp, write_text,
};
use super::{Env, now_us};

/// Seconds of warm-up before the measured messages (bench/WORKLOADS.md: the first round(2*R)
/// messages).
const WARMUP_SECS: f64 = 2.0;

/// Longest wait for the last expected deliveries after the last send (bench/WORKLOADS.md).
const DRAIN: Duration = Duration::from_secs(3);

/// How often the sender wakes to send what is due (bench/WORKLOADS.md: about every
/// millisecond).
const TICK: Duration = Duration::from_millis(1);

/// How long receiver tasks get to hand in their samples once their connections are closed.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Points of the latency distribution kept for the plot.
const CDF_POINTS: usize = 200;

/// One fan-out workload's parameters.
#[derive(Debug, Clone)]
pub struct Fanout {
    pub scenario: String,
    /// Subscribers.
    pub s: usize,
    /// Publishers.
    pub p: usize,
    /// Rooms.
    pub n: usize,
    /// Messages per second, all publishers together.
    pub r: f64,
    /// Measured seconds.
    pub t: f64,
    /// Text bytes.
    pub b: usize,
}

impl Fanout {
    /// Checks the parameters make a workload.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.s == 0 || self.p == 0 || self.n == 0 {
            bail!("S, P and N must be at least 1");
        }
        if self.n > self.s {
            bail!(
                "N ({}) rooms cannot each have a member with S = {}",
                self.n,
                self.s
            );
        }
        if !(self.r > 0.0 && self.r.is_finite() && self.t > 0.0 && self.t.is_finite()) {
            bail!("R and T must be positive");
        }
        // The longest stamp this run writes must fit in B bytes.
        let total = self.warmup_count() + self.measured_count();
        let mut text = String::new();
        write_text(
            &mut text,
            Stamp {
                phase: Phase::Measured,
                k: total,
                t_us: 10_000_000_000,
            },
            self.b,
        )?;
        Ok(())
    }

    fn warmup_count(&self) -> u64 {
        (WARMUP_SECS * self.r).round() as u64
    }

    fn measured_count(&self) -> u64 {
        (self.t * self.r).round() as u64
    }

    /// The room of subscriber `j`: contiguous blocks of S/N subscribers.
    fn room_of_subscriber(&self, j: usize) -> usize {
        j * self.n / self.s
    }

    /// The room publisher `p` sends to.
    fn room_of_publisher(&self, p: usize) -> usize {
        p % self.n
    }

    /// Offered deliveries per second: every message reaches its whole room.
    fn offered(&self) -> f64 {
        // Publishers send in turn; each room's size weighs its publishers' share.
        let sizes = self.room_sizes();
        let per_msg: f64 = (0..self.p)
            .map(|p| sizes[self.room_of_publisher(p)] as f64)
            .sum::<f64>()
            / self.p as f64;
        per_msg * self.r
    }

    fn room_sizes(&self) -> Vec<u64> {
        let mut sizes = vec![0u64; self.n];
        for j in 0..self.s {
            sizes[self.room_of_subscriber(j)] += 1;
        }
        sizes
    }
}

/// One run's results, with the field names of bench/WORKLOADS.md.
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
pub struct FanoutResult {
    pub scenario: String,
    pub transport: super::conn::Transport,
    pub relays: Vec<String>,
    pub S: usize,
    pub P: usize,
    pub N: usize,
    pub R: f64,
    pub T: f64,
    pub B: usize,
    pub sent: u64,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub lost: u64,
    pub lat_p50_ms: f64,
    pub lat_p90_ms: f64,
    pub lat_p99_ms: f64,
    pub lat_p999_ms: f64,
    pub lat_max_ms: f64,
    /// Acknowledgement latency of the measured sends: from writing `Send` to reading its
    /// `Sent`, the time the relay and its store (with the replica wait, if on) take to
    /// store a message. `0` when no measured send was acknowledged.
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub deliveries_per_sec: f64,
    pub offered_deliveries_per_sec: f64,
    pub server_cpu_s: f64,
    pub server_cpu_us_per_delivery: f64,
    pub server_cpu_us_per_msg: f64,
    pub redis_cpu_s: f64,
    pub load_cpu_s: f64,
    pub machine_cpu_busy_pct: f64,
    /// CPU seconds the machine was busy with processes other than the relays, Redis and this
    /// load generator over the window: anything far above 0 means the run shared the cores
    /// with unrelated work and its latencies are not the system's own.
    pub other_cpu_s: f64,
    pub server_rss_mb: f64,
    /// Sends the relays refused (rate limits, errors): each is a message never delivered.
    pub send_errors: u64,
    /// Deliveries of a seq a receiver had already seen (must be 0).
    pub duplicates: u64,
    /// How late the sender was against the schedule at worst, in ms: a large value means
    /// the load generator, not the relay, fell behind.
    pub send_lag_max_ms: f64,
    /// Wall-clock seconds of the measurement window (first measured send to end of drain).
    pub window_s: f64,
    /// CPU µs of one `sendmsg` of a 100-byte datagram on loopback, measured on this machine
    /// just before the run ([`super::floor`]): the kernel's floor under a delivery. `null`
    /// where it cannot be measured.
    pub udp_send_floor_us: Option<f64>,
    /// The latency distribution, for the plot.
    #[serde(skip)]
    pub cdf: Vec<(f64, f64)>,
}

/// What every receiver adds to as deliveries arrive.
#[derive(Debug, Default)]
struct Tally {
    measured: AtomicU64,
    /// Time (µs) of the last measured delivery.
    last_measured_us: AtomicU64,
    /// Set when the run closes its connections: errors from then on are expected.
    closing: AtomicBool,
}

/// What one receiver hands in at the end.
#[derive(Debug, Default)]
struct Received {
    samples: Vec<u32>,
    duplicates: u64,
    /// Why the receiver stopped early, if it did before the run ended.
    error: Option<String>,
}

/// Numbers runs within this process so room names never repeat.
static RUN: AtomicU32 = AtomicU32::new(0);

/// Runs one fan-out workload against the relays.
pub async fn run(env: &Env, w: &Fanout) -> anyhow::Result<FanoutResult> {
    w.check()?;
    let udp_send_floor_us = tokio::task::spawn_blocking(super::floor::udp_send_us)
        .await
        .context("the UDP floor measurement")?
        .context("measuring the UDP floor")?;
    let dialer = &env.dialer;
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let tag = format!("b{}r{run}", std::process::id());
    let room = |i: usize| format!("{tag}-{i}");
    let sizes = w.room_sizes();
    let tally = Arc::new(Tally::default());

    // Subscribers, then publishers; every join acknowledged before the first send.
    let bar = env.bar((w.s + w.p) as u64, "connecting");
    let subs: Vec<(Connection, JoinHandle<Received>)> = futures::stream::iter(0..w.s)
        .map(|j| {
            let relay = &env.relays[j % env.relays.len()];
            let room = room(w.room_of_subscriber(j));
            let tally = tally.clone();
            let bar = &bar;
            async move {
                let mut session = dialer
                    .connect(relay, &format!("s{j}"))
                    .await
                    .with_context(|| format!("subscriber {j}"))?;
                session
                    .join(&room)
                    .await
                    .with_context(|| format!("subscriber {j} joining {room}"))?;
                let (conn, control) = session.split();
                bar.inc(1);
                anyhow::Ok((conn.clone(), tokio::spawn(receive(conn, control, tally))))
            }
        })
        .buffer_unordered(env.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut pubs = Vec::with_capacity(w.p);
    let mut acks = Vec::with_capacity(w.p);
    let mut conns = Vec::with_capacity(w.p);
    for p in 0..w.p {
        let relay = &env.relays[p % env.relays.len()];
        let session = dialer
            .connect(relay, &format!("p{p}"))
            .await
            .with_context(|| format!("publisher {p}"))?;
        let (conn, control) = session.split();
        let (writer, reader) = control.split();
        conns.push(conn);
        let sent_at = SentAt::default();
        acks.push(tokio::spawn(count_answers(reader, Arc::clone(&sent_at))));
        pubs.push(Publisher {
            writer,
            sent_at,
            frame: ClientFrame::Send {
                id: 0,
                room: room(w.room_of_publisher(p)),
                text: String::with_capacity(w.b),
            },
        });
    }
    bar.finish_and_clear();

    let sent = send(env, w, &mut pubs).await?;
    let expected: u64 = (sent.warmup..sent.warmup + sent.measured)
        .map(|k| sizes[w.room_of_publisher((k % w.p as u64) as usize)])
        .sum();

    // Drain: until every expected delivery is here, or the drain time is over.
    let bar = env.spinner("draining");
    let drain_end = tokio::time::Instant::now() + DRAIN;
    while tally.measured.load(Ordering::Relaxed) < expected
        && tokio::time::Instant::now() < drain_end
    {
        tokio::time::sleep(TICK).await;
    }
    let end_us = now_us();
    let cpu_end = env.watched.cpu();
    let machine_end = MachineCpu::now();
    let rss = env.watched.server_rss();
    bar.finish_and_clear();
    if let Some(pid) = env.watched.missing_server() {
        bail!("relay process {pid} is gone");
    }

    // Close everything, then gather what the receivers saw.
    tally.closing.store(true, Ordering::Relaxed);
    for conn in conns.iter().chain(subs.iter().map(|(conn, _)| conn)) {
        conn.close();
    }
    let mut samples = Vec::new();
    let mut duplicates = 0;
    let mut receiver_errors = Vec::new();
    let collect = async {
        for (_, handle) in subs {
            if let Ok(r) = handle.await {
                if samples.is_empty() {
                    samples = r.samples;
                } else {
                    samples.extend_from_slice(&r.samples);
                }
                duplicates += r.duplicates;
                if let Some(e) = r.error {
                    receiver_errors.push(e);
                }
            }
        }
    };
    tokio::time::timeout(COLLECT_TIMEOUT, collect)
        .await
        .context("receivers did not stop")?;
    let mut send_errors = sent.write_errors;
    let mut ack_samples = Vec::new();
    for handle in acks {
        if let Ok((errors, samples)) = handle.await {
            send_errors += errors;
            ack_samples.extend(samples);
        }
    }
    let ack = Latencies::new(ack_samples);
    if let Some(e) = receiver_errors.first() {
        eprintln!(
            "warning: {} receivers failed during the run, e.g.: {e}",
            receiver_errors.len()
        );
    }

    let delivered = tally.measured.load(Ordering::Relaxed);
    let lat = Latencies::new(samples);
    let last = tally.last_measured_us.load(Ordering::Relaxed);
    let span_s = last.saturating_sub(sent.first_measured_us) as f64 / 1e6;
    let cpu = Diff::new(&sent.cpu_start, &cpu_end);
    let per = |v: f64, n: u64| if n == 0 { 0.0 } else { v * 1e6 / n as f64 };
    let window_s = end_us.saturating_sub(sent.first_measured_us) as f64 / 1e6;
    let busy_pct = match (sent.machine_start, machine_end) {
        (Some(a), Some(b)) => a.busy_pct_until(&b),
        _ => 0.0,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let other = busy_pct / 100.0 * cores * window_s - cpu.servers - cpu.redis - cpu.load;
    Ok(FanoutResult {
        scenario: w.scenario.clone(),
        transport: env.transport,
        relays: env.relays.iter().map(ToString::to_string).collect(),
        S: w.s,
        P: w.p,
        N: w.n,
        R: w.r,
        T: w.t,
        B: w.b,
        sent: sent.measured,
        expected_deliveries: expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        lat_p50_ms: lat.percentile_ms(50.0),
        lat_p90_ms: lat.percentile_ms(90.0),
        lat_p99_ms: lat.percentile_ms(99.0),
        lat_p999_ms: lat.percentile_ms(99.9),
        ack_p50_ms: ack.percentile_ms(50.0),
        ack_p99_ms: ack.percentile_ms(99.0),
        lat_max_ms: lat.max_ms(),
        deliveries_per_sec: if span_s > 0.0 {
            delivered as f64 / span_s
        } else {
            0.0
        },
        offered_deliveries_per_sec: w.offered(),
        server_cpu_s: cpu.servers,
        server_cpu_us_per_delivery: per(cpu.servers, delivered),
        server_cpu_us_per_msg: per(cpu.servers, sent.measured),
        redis_cpu_s: cpu.redis,
        load_cpu_s: cpu.load,
        machine_cpu_busy_pct: busy_pct,
        other_cpu_s: other.max(0.0),
        server_rss_mb: rss as f64 / (1024.0 * 1024.0),
        send_errors,
        duplicates,
        send_lag_max_ms: sent.max_lag_us as f64 / 1000.0,
        window_s,
        udp_send_floor_us,
        cdf: lat.cdf(CDF_POINTS),
    })
}

/// CPU seconds spent between two snapshots.
struct Diff {
    servers: f64,
    redis: f64,
    load: f64,
}

impl Diff {
    fn new(a: &CpuSnapshot, b: &CpuSnapshot) -> Diff {
        Diff {
            servers: (b.servers - a.servers).max(0.0),
            redis: (b.redis - a.redis).max(0.0),
            load: (b.load - a.load).max(0.0),
        }
    }
}

/// When each measured send of one publisher was written, by request id, until its answer
/// comes.
type SentAt = Arc<Mutex<HashMap<u32, u64>>>;

struct Publisher {
    writer: ControlWriter,
    sent_at: SentAt,
    /// The Send frame, reused for every message.
    frame: ClientFrame,
}

/// What the sender did.
struct SenderReport {
    warmup: u64,
    measured: u64,
    first_measured_us: u64,
    cpu_start: CpuSnapshot,
    machine_start: Option<MachineCpu>,
    write_errors: u64,
    max_lag_us: u64,
}

/// The open-loop schedule: message k is due at t0 + k/R, sent by publisher k mod P.
async fn send(env: &Env, w: &Fanout, pubs: &mut [Publisher]) -> anyhow::Result<SenderReport> {
    let warmup = w.warmup_count();
    let measured = w.measured_count();
    let total = warmup + measured;
    let bar = env.bar(total, "sending");
    let mut text = String::with_capacity(w.b);
    let mut out = Vec::with_capacity(w.b + 64);
    let mut sent = SenderReport {
        warmup,
        measured,
        first_measured_us: 0,
        cpu_start: CpuSnapshot::default(),
        machine_start: None,
        write_errors: 0,
        max_lag_us: 0,
    };
    let interval_us = 1e6 / w.r;
    let t0 = now_us();
    let mut k = 0u64;
    while k < total {
        let now = now_us();
        let mut sent_now = 0;
        while k < total {
            let due = t0 + (k as f64 * interval_us) as u64;
            if due > now {
                break;
            }
            if k == warmup {
                sent.cpu_start = env.watched.cpu();
                sent.machine_start = MachineCpu::now();
            }
            let phase = if k < warmup {
                Phase::Warmup
            } else {
                Phase::Measured
            };
            let publisher = &mut pubs[(k % w.p as u64) as usize];
            let t_us = now_us();
            if k == warmup {
                sent.first_measured_us = t_us;
            }
            sent.max_lag_us = sent.max_lag_us.max(t_us.saturating_sub(due));
            write_text(&mut text, Stamp { phase, k, t_us }, w.b)?;
            let id = publisher.writer.next_id();
            if phase == Phase::Measured {
                publisher
                    .sent_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, t_us);
            }
            encode_send(&mut publisher.frame, id, &text, &mut out)?;
            if publisher.writer.write_raw(&out).await.is_err() {
                sent.write_errors += 1;
            }
            k += 1;
            sent_now += 1;
        }
        bar.inc(sent_now);
        if k < total {
            tokio::time::sleep(TICK).await;
        }
    }
    bar.finish_and_clear();
    Ok(sent)
}

/// Reads a publisher's answers; returns how many sends the relay refused and the
/// acknowledgement latency (µs) of each measured send acknowledged.
async fn count_answers(mut reader: ControlReader, sent_at: SentAt) -> (u64, Vec<u32>) {
    let mut errors = 0;
    let mut first = None;
    let mut samples = Vec::new();
    while let Ok(frame) = reader.read().await {
        let now = now_us();
        let (id, refused) = match frame {
            ServerFrame::Sent { id, .. } => (id, None),
            ServerFrame::Error(e) => (e.id, Some(e)),
            _ => continue,
        };
        let written = sent_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        match refused {
            None => {
                if let Some(t) = written {
                    samples.push(u32::try_from(now.saturating_sub(t)).unwrap_or(u32::MAX));
                }
            }
            Some(e) => {
                errors += 1;
                first.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first {
        eprintln!(
            "warning: the relay refused {errors} sends, e.g.: {}",
            e.message
        );
    }
    (errors, samples)
}

/// Reads one subscriber's room stream until the connection closes, timing every measured
/// delivery.
async fn receive(conn: Connection, control: super::conn::Control, tally: Arc<Tally>) -> Received {
    // The control stream stays open for the whole run: closing it would end the session.
    let _control = control;
    let mut out = Received::default();
    let mut stream = match conn.accept_room().await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let mut splitter = Splitter::default();
    let mut last_seq = 0u64;
    loop {
        let chunk = match stream.read().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                if !tally.closing.load(Ordering::Relaxed) {
                    out.error = Some(e.to_string());
                }
                break;
            }
        };
        let now = now_us();
        let mut measured = 0u64;
        let fed = splitter.feed(&chunk, |body| {
            if let RoomFrameRef::Message(m) = decode_room_frame(body)? {
                if m.seq <= last_seq {
                    out.duplicates += 1;
                    return Ok(());
                }
                last_seq = m.seq;
                if let Some(stamp) = parse_stamp(m.text)
                    && stamp.phase == Phase::Measured
                {
                    let latency = now.saturating_sub(stamp.t_us);
                    out.samples.push(u32::try_from(latency).unwrap_or(u32::MAX));
                    measured += 1;
                }
            }
            Ok(())
        });
        if measured > 0 {
            tally.measured.fetch_add(measured, Ordering::Relaxed);
            tally.last_measured_us.fetch_max(now, Ordering::Relaxed);
        }
        if let Err(e) = fed {
            out.error = Some(e.to_string());
            conn.close();
            break;
        }
    }
    out
}
