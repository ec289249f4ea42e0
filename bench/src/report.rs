//! How a run is reported: a table for people and one JSON line for scripts on stdout, and
//! optionally an SVG of the latency distribution.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::connections::ConnectionsResult;
use super::fanout::FanoutResult;
use super::probe::ProbeResult;

/// A finished workload's results.
#[derive(Debug)]
pub enum Outcome {
    Fanout(Box<FanoutResult>),
    Probe(Box<ProbeResult>),
    Connections(Box<ConnectionsResult>),
}

/// Prints the table (unless `json_only`) and the JSON line.
pub fn print(outcome: &Outcome, json_only: bool) -> anyhow::Result<()> {
    let json = match outcome {
        Outcome::Fanout(r) => serde_json::to_string(r),
        Outcome::Probe(r) => serde_json::to_string(r),
        Outcome::Connections(r) => serde_json::to_string(r),
    }
    .context("encoding the results")?;
    let mut out = std::io::stdout().lock();
    if !json_only {
        write!(out, "{}", table(outcome)).context("writing to stdout")?;
    }
    writeln!(out, "{json}").context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// The readable table.
pub fn table(outcome: &Outcome) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    match outcome {
        Outcome::Fanout(r) => fanout_rows(r, &mut row),
        Outcome::Probe(p) => {
            row("scenario", "probe".into());
            row(
                "max deliveries/s (passing)",
                format!("{:.0}", p.max_deliveries_per_sec),
            );
            row(
                "highest R with p99 <= 50 ms",
                format!(
                    "{} ({:.0} deliveries/s measured, {:.0} offered)",
                    p.p99_le_50ms_rate,
                    p.p99_le_50ms_deliveries_per_sec,
                    p.p99_le_50ms_offered_per_sec
                ),
            );
            for s in &p.steps {
                row(
                    &format!("step R={}", s.R),
                    format!(
                        "{} {:.1}% delivered, p99 {:.2} ms, {:.0}/s, {:.2} µs/delivery, load CPU {:.1} s",
                        if s.pass { "PASS" } else { "FAIL" },
                        100.0 * s.delivered_ratio,
                        s.lat_p99_ms,
                        s.deliveries_per_sec,
                        s.server_cpu_us_per_delivery,
                        s.load_cpu_s
                    ),
                );
            }
            row("best step:", String::new());
            fanout_rows(&p.best, &mut row);
        }
        Outcome::Connections(c) => connections_rows(c, &mut row),
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (k, v) in rows {
        text.push_str(&format!("{k:width$}  {v}\n"));
    }
    text
}

fn fanout_rows(r: &FanoutResult, row: &mut impl FnMut(&str, String)) {
    row("scenario", r.scenario.clone());
    row("transport", format!("{:?}", r.transport).to_lowercase());
    row("relays", r.relays.join(","));
    row(
        "S P N R T B",
        format!("{} {} {} {} {} {}", r.S, r.P, r.N, r.R, r.T, r.B),
    );
    row(
        "sent / expected / delivered",
        format!("{} / {} / {}", r.sent, r.expected_deliveries, r.delivered),
    );
    row(
        "lost / duplicates / refused",
        format!("{} / {} / {}", r.lost, r.duplicates, r.send_errors),
    );
    row(
        "latency p50 p90 p99 p99.9 max",
        format!(
            "{:.3} {:.3} {:.3} {:.3} {:.3} ms",
            r.lat_p50_ms, r.lat_p90_ms, r.lat_p99_ms, r.lat_p999_ms, r.lat_max_ms
        ),
    );
    row(
        "ack latency p50 p99",
        format!("{:.3} {:.3} ms", r.ack_p50_ms, r.ack_p99_ms),
    );
    row(
        "deliveries/s (offered)",
        format!(
            "{:.0} ({:.0})",
            r.deliveries_per_sec, r.offered_deliveries_per_sec
        ),
    );
    row(
        "relay CPU",
        format!(
            "{:.2} s, {:.2} µs/delivery, {:.1} µs/msg",
            r.server_cpu_s, r.server_cpu_us_per_delivery, r.server_cpu_us_per_msg
        ),
    );
    if let Some(floor) = r.udp_send_floor_us {
        row(
            "kernel floor",
            format!(
                "{floor:.2} µs per {}-byte datagram sent on loopback (sendmsg)",
                super::floor::DATAGRAM_BYTES
            ),
        );
    }
    row(
        "redis / load CPU",
        format!("{:.2} s / {:.2} s", r.redis_cpu_s, r.load_cpu_s),
    );
    row(
        "machine busy",
        format!(
            "{:.0}% of all cores over {:.1} s ({:.2} CPU s by other processes)",
            r.machine_cpu_busy_pct, r.window_s, r.other_cpu_s
        ),
    );
    row("relay RSS", format!("{:.1} MB", r.server_rss_mb));
    row("sender lag max", format!("{:.1} ms", r.send_lag_max_ms));
}

fn connections_rows(c: &ConnectionsResult, row: &mut impl FnMut(&str, String)) {
    let ConnectionsResult {
        transport,
        auth,
        relays,
        C: sessions,
        rooms,
        opened,
        failed,
        ramp_s,
        sessions_per_sec,
        ramp_server_cpu_s,
        ramp_server_cpu_us_per_session,
        ramp_load_cpu_s,
        server_rss_mb_empty,
        server_rss_mb,
        rss_kb_per_session,
        idle_window_s,
        idle_server_cpu_s,
        idle_server_cpu_pct,
        expected_deliveries,
        delivered,
        lost,
        check_s,
        ..
    } = c;
    row("scenario", "connections".into());
    row("transport", format!("{transport:?}").to_lowercase());
    row("auth", (*auth).to_owned());
    row("relay", relays.join(","));
    row("sessions (C)", sessions.to_string());
    row("rooms", rooms.to_string());
    row("opened / failed", format!("{opened} / {failed}"));
    row(
        "ramp",
        format!("{ramp_s:.1} s, {sessions_per_sec:.0} sessions/s"),
    );
    row(
        "ramp relay CPU",
        format!(
            "{ramp_server_cpu_s:.1} s ({ramp_server_cpu_us_per_session:.0} µs/session), \
             load {ramp_load_cpu_s:.1} s"
        ),
    );
    row(
        "relay RSS",
        format!("{server_rss_mb_empty:.1} MB empty, {server_rss_mb:.1} MB with C sessions"),
    );
    row("RSS per session", format!("{rss_kb_per_session:.2} KB"));
    row(
        "idle relay CPU",
        format!(
            "{idle_server_cpu_s:.2} s over {idle_window_s:.1} s \
             ({idle_server_cpu_pct:.1}% of a core)"
        ),
    );
    row(
        "check delivery",
        format!("{delivered}/{expected_deliveries} in {check_s:.1} s, lost {lost}"),
    );
}

/// A labelled latency distribution: (latency ms, percent at or below).
type Curve = (String, Vec<(f64, f64)>);

/// Draws the latency distribution (percent of deliveries at or below a latency, on a log
/// latency axis) to an SVG file.
pub fn plot(path: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let (title, curves): (String, Vec<Curve>) = match outcome {
        Outcome::Fanout(r) => (
            format!("{} over {:?}: delivery latency", r.scenario, r.transport).to_lowercase(),
            vec![(r.scenario.clone(), r.cdf.clone())],
        ),
        Outcome::Probe(p) => (
            "probe: delivery latency per passing step".into(),
            p.curves.clone(),
        ),
        Outcome::Connections(_) => anyhow::bail!("the connections workload has no latencies"),
    };
    let points = curves.iter().flat_map(|(_, c)| c.iter());
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for &(x, _) in points {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if hi <= 0.0 {
        anyhow::bail!("no latency samples to draw");
    }
    let lo = (lo.max(0.001) / 1.5).max(0.001);
    let hi = hi * 1.5;
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..100f64)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms, log scale)")
            .y_desc("deliveries at or below (%)")
            .draw()?;
        for (i, (label, curve)) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.iter().map(|&(x, y)| (x.max(lo), y)),
                    color.stroke_width(2),
                ))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("{e}"))
}
