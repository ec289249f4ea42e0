//! The relay's metrics, in Prometheus text format at /metrics: sessions by transport,
//! messages in and out, delivery latency, slow-consumer disconnects, errors by code, worker
//! threads.
//!
//! Handles are registered once at start, so the hot path only bumps atomics.

use std::time::{SystemTime, UNIX_EPOCH};

use chitchat_protocol::ErrorCode;
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::transport::Kind;

/// Delivery latency buckets, in seconds: from well under a millisecond to a few seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The relay's metric handles.
pub struct Metrics {
    render: Option<PrometheusHandle>,
    sessions_quic: Gauge,
    sessions_wt: Gauge,
    sessions_ws: Gauge,
    messages_in: Counter,
    messages_out: Counter,
    broker_messages: Counter,
    delivery_latency: Histogram,
    slow_consumers: Counter,
}

impl Metrics {
    /// Installs the process-wide Prometheus recorder (once; later calls in the same process
    /// share the first one's registry) and registers the handles.
    pub fn install() -> Metrics {
        let render = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "chitchat_delivery_latency_seconds".into(),
                ),
                LATENCY_BUCKETS,
            )
            .and_then(|b| b.install_recorder())
            .map_err(|e| tracing::debug!("metrics recorder not installed: {e}"))
            .ok();
        metrics::describe_gauge!("chitchat_sessions", "Open sessions, by transport.");
        metrics::describe_counter!(
            "chitchat_messages_in_total",
            "Messages stored from this relay's sessions."
        );
        metrics::describe_counter!(
            "chitchat_messages_out_total",
            "Messages handed to this relay's sessions (one per receiving session)."
        );
        metrics::describe_counter!(
            "chitchat_broker_messages_total",
            "Messages this relay received from its broker (only rooms it has members in)."
        );
        metrics::describe_histogram!(
            "chitchat_delivery_latency_seconds",
            "From storing a message to queueing it for a local member."
        );
        metrics::describe_counter!(
            "chitchat_slow_consumer_disconnects_total",
            "Sessions disconnected for reading too slowly."
        );
        metrics::describe_counter!("chitchat_errors_total", "Error frames and closes, by code.");
        metrics::describe_counter!(
            "chitchat_admission_total",
            "New QUIC connections by admission verdict: accept, retry (address validation), refuse."
        );
        metrics::describe_gauge!(
            "chitchat_auth_sessions",
            "Open sessions by auth mode: open (guest), open_secret (guest with a secret), jwt."
        );
        metrics::describe_counter!(
            "chitchat_auth_refusals_total",
            "Tokens and guest secrets refused (UNAUTHORIZED), by reason."
        );
        metrics::describe_counter!(
            "chitchat_api_requests_total",
            "Server API requests (/api/v1), by outcome: accepted (a valid key), refused."
        );
        metrics::describe_counter!(
            "chitchat_nick_claims_lost_total",
            "Sessions ended (NICK_TAKEN) because another secret held their guest nick's claim at renewal."
        );
        metrics::describe_gauge!(
            "chitchat_worker_threads",
            "Threads serving sessions (--worker-threads)."
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            metrics::gauge!("chitchat_worker_threads").set(runtime.metrics().num_workers() as f64);
        }
        Metrics {
            render,
            sessions_quic: metrics::gauge!("chitchat_sessions", "transport" => "quic"),
            sessions_wt: metrics::gauge!("chitchat_sessions", "transport" => "webtransport"),
            sessions_ws: metrics::gauge!("chitchat_sessions", "transport" => "websocket"),
            messages_in: metrics::counter!("chitchat_messages_in_total"),
            messages_out: metrics::counter!("chitchat_messages_out_total"),
            broker_messages: metrics::counter!("chitchat_broker_messages_total"),
            delivery_latency: metrics::histogram!("chitchat_delivery_latency_seconds"),
            slow_consumers: metrics::counter!("chitchat_slow_consumer_disconnects_total"),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.render.as_ref().map(|h| h.render()).unwrap_or_default()
    }

    pub fn session_opened(&self, kind: Kind) {
        self.sessions(kind).increment(1.0);
    }

    pub fn session_closed(&self, kind: Kind) {
        self.sessions(kind).decrement(1.0);
    }

    fn sessions(&self, kind: Kind) -> &Gauge {
        match kind {
            Kind::Quic => &self.sessions_quic,
            Kind::WebTransport => &self.sessions_wt,
            Kind::WebSocket => &self.sessions_ws,
        }
    }

    /// A server API request with a valid key.
    pub fn api_request(&self) {
        metrics::counter!("chitchat_api_requests_total", "outcome" => "accepted").increment(1);
    }

    /// A server API request refused for its key.
    pub fn api_refused(&self) {
        metrics::counter!("chitchat_api_requests_total", "outcome" => "refused").increment(1);
    }

    pub fn message_in(&self) {
        self.messages_in.increment(1);
    }

    /// `n` local deliveries of a message stored at `ts_ms`.
    pub fn delivered(&self, n: u64, ts_ms: u64) {
        self.broker_messages.increment(1);
        if n == 0 {
            return;
        }
        self.messages_out.increment(n);
        // Fractional milliseconds (not `clock::now_ms`): the buckets start under one.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        self.delivery_latency
            .record(((now - ts_ms as f64) / 1000.0).max(0.0));
    }

    /// One session disconnected for reading too slowly (its SLOW_CONSUMER error is counted
    /// by [`Metrics::error`] where the session ends).
    pub fn slow_consumer(&self) {
        self.slow_consumers.increment(1);
    }

    /// One new QUIC connection judged by admission (see [`crate::admission`]).
    pub fn admission(&self, verdict: crate::admission::Verdict) {
        use crate::admission::Verdict;
        let verdict = match verdict {
            Verdict::Accept => "accept",
            Verdict::Retry => "retry",
            Verdict::Refuse => "refuse",
        };
        metrics::counter!("chitchat_admission_total", "verdict" => verdict).increment(1);
    }

    /// A session counted under (`+1`) or no longer under (`-1`) its auth mode: `open`,
    /// `open_secret` (a guest with a secret) or `jwt`.
    pub fn auth_session(&self, mode: &'static str, delta: f64) {
        metrics::gauge!("chitchat_auth_sessions", "mode" => mode).increment(delta);
    }

    /// A token or guest secret refused, by reason (a fixed set: see
    /// `crate::auth::RefusalReason`).
    pub fn auth_refused(&self, reason: &'static str) {
        metrics::counter!("chitchat_auth_refusals_total", "reason" => reason).increment(1);
    }

    /// A session ended because its guest nick's claim was found held by another secret.
    pub fn nick_claim_lost(&self) {
        metrics::counter!("chitchat_nick_claims_lost_total").increment(1);
    }

    pub fn error(&self, code: ErrorCode) {
        metrics::counter!("chitchat_errors_total", "code" => code.name()).increment(1);
    }
}
