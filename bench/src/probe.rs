//! The probe workload: fanout-small at R = 400, 800, 1600, ... until a step fails, then two
//! bisection steps (multiples of 50) between the last passing and the first failing rate.
//! A step passes iff at least 99% of expected deliveries arrived and p99 <= 1000 ms.

use std::time::Duration;

use serde::Serialize;

use super::Env;
use super::fanout::{self, Fanout, FanoutResult};
use super::procfs::Watched;

/// The first step's rate (bench/WORKLOADS.md).
pub const FIRST_RATE: f64 = 400.0;

/// Bisection steps after the first failure (bench/WORKLOADS.md).
const BISECTIONS: usize = 2;

/// Bisection rates are multiples of this (bench/WORKLOADS.md).
const RATE_GRAIN: f64 = 50.0;

/// A step passes with at least this share of its expected deliveries...
const PASS_DELIVERED: f64 = 0.99;
/// ...and a p99 at most this (ms).
const PASS_P99_MS: f64 = 1000.0;

/// The p99 bound of the "sustained with low latency" figure (ms).
const LOW_LATENCY_P99_MS: f64 = 50.0;

/// Between steps, the relays are given up to this long to fall quiet (finish the last
/// step's disconnections and, after an overloaded step, its backlog), so one step does not
/// load the next. An overloaded step leaves tens of seconds of queued deliveries behind.
const SETTLE_MAX: Duration = Duration::from_secs(60);

/// One step, summarised.
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
pub struct Step {
    pub R: f64,
    pub pass: bool,
    pub delivered_ratio: f64,
    pub lat_p50_ms: f64,
    pub lat_p99_ms: f64,
    pub deliveries_per_sec: f64,
    pub server_cpu_us_per_delivery: f64,
    pub load_cpu_s: f64,
    pub machine_cpu_busy_pct: f64,
    pub send_lag_max_ms: f64,
}

/// The probe's result: the best passing step's full record, the two headline figures, and
/// every step.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    /// The passing step with the highest deliveries per second (all its fields).
    #[serde(flatten)]
    pub best: FanoutResult,
    /// The highest deliveries_per_sec among passing steps.
    pub max_deliveries_per_sec: f64,
    /// The highest passing rate with p99 <= 50 ms, its measured deliveries per second, and
    /// the deliveries per second it offered (R times the room size). The measured figure
    /// runs a little below the offered one because its window ends with the last delivery,
    /// one latency after the last send.
    pub p99_le_50ms_rate: f64,
    pub p99_le_50ms_deliveries_per_sec: f64,
    pub p99_le_50ms_offered_per_sec: f64,
    pub steps: Vec<Step>,
    /// Every passing step's latency distribution, for the plot.
    #[serde(skip)]
    pub curves: Vec<(String, Vec<(f64, f64)>)>,
}

fn passes(r: &FanoutResult) -> bool {
    r.expected_deliveries > 0
        && r.delivered as f64 >= PASS_DELIVERED * r.expected_deliveries as f64
        && r.lat_p99_ms <= PASS_P99_MS
}

/// Runs the probe from `base.r`, doubling up to `max_rate`.
pub async fn run(
    env: &Env,
    base: &Fanout,
    max_rate: f64,
    quiet: bool,
) -> anyhow::Result<ProbeResult> {
    let mut results: Vec<FanoutResult> = Vec::new();
    let mut rate = base.r;
    let mut last_pass: Option<f64> = None;
    let mut first_fail: Option<f64> = None;
    while rate <= max_rate {
        let r = step(env, base, rate, quiet).await?;
        let pass = passes(&r);
        results.push(r);
        if !pass {
            first_fail = Some(rate);
            break;
        }
        last_pass = Some(rate);
        rate *= 2.0;
    }
    if let (Some(mut lo), Some(mut hi)) = (last_pass, first_fail) {
        for _ in 0..BISECTIONS {
            let mid = ((lo + hi) / 2.0 / RATE_GRAIN).round() * RATE_GRAIN;
            if mid <= lo || mid >= hi {
                break;
            }
            let r = step(env, base, mid, quiet).await?;
            if passes(&r) {
                lo = mid;
            } else {
                hi = mid;
            }
            results.push(r);
        }
    }

    let steps = results
        .iter()
        .map(|r| Step {
            R: r.R,
            pass: passes(r),
            delivered_ratio: if r.expected_deliveries == 0 {
                0.0
            } else {
                r.delivered as f64 / r.expected_deliveries as f64
            },
            lat_p50_ms: r.lat_p50_ms,
            lat_p99_ms: r.lat_p99_ms,
            deliveries_per_sec: r.deliveries_per_sec,
            server_cpu_us_per_delivery: r.server_cpu_us_per_delivery,
            load_cpu_s: r.load_cpu_s,
            machine_cpu_busy_pct: r.machine_cpu_busy_pct,
            send_lag_max_ms: r.send_lag_max_ms,
        })
        .collect();
    let passing: Vec<&FanoutResult> = results.iter().filter(|r| passes(r)).collect();
    let best = passing
        .iter()
        .max_by(|a, b| a.deliveries_per_sec.total_cmp(&b.deliveries_per_sec))
        .copied()
        .or_else(|| results.first())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the probe ran no step"))?;
    let low_latency = passing
        .iter()
        .filter(|r| r.lat_p99_ms <= LOW_LATENCY_P99_MS)
        .max_by(|a, b| a.R.total_cmp(&b.R));
    let curves = passing
        .iter()
        .map(|r| (format!("R = {}", r.R), r.cdf.clone()))
        .collect();
    let mut best = best;
    best.scenario = "probe".into();
    Ok(ProbeResult {
        max_deliveries_per_sec: passing
            .iter()
            .map(|r| r.deliveries_per_sec)
            .fold(0.0, f64::max),
        p99_le_50ms_rate: low_latency.map_or(0.0, |r| r.R),
        p99_le_50ms_deliveries_per_sec: low_latency.map_or(0.0, |r| r.deliveries_per_sec),
        p99_le_50ms_offered_per_sec: low_latency.map_or(0.0, |r| r.offered_deliveries_per_sec),
        best,
        steps,
        curves,
    })
}

async fn step(env: &Env, base: &Fanout, rate: f64, quiet: bool) -> anyhow::Result<FanoutResult> {
    settle(&env.watched).await;
    let mut w = base.clone();
    w.r = rate;
    w.scenario = format!("probe@{rate}");
    let r = fanout::run(env, &w).await?;
    if !quiet {
        eprintln!(
            "probe R={rate}: {} delivered {}/{} p99 {:.2} ms, {:.0} deliveries/s, {:.2} µs server CPU per delivery",
            if passes(&r) { "PASS" } else { "FAIL" },
            r.delivered,
            r.expected_deliveries,
            r.lat_p99_ms,
            r.deliveries_per_sec,
            r.server_cpu_us_per_delivery
        );
    }
    Ok(r)
}

/// Waits until the relays use under a tenth of a core over a quarter second, or
/// [`SETTLE_MAX`] has passed.
async fn settle(watched: &Watched) {
    let deadline = tokio::time::Instant::now() + SETTLE_MAX;
    let window = Duration::from_millis(250);
    while tokio::time::Instant::now() < deadline {
        let before = watched.cpu().servers;
        tokio::time::sleep(window).await;
        let used = watched.cpu().servers - before;
        if used < 0.1 * window.as_secs_f64() {
            return;
        }
    }
}
