//! Test support for relays forming a cluster on one real `redis-server`: relays running
//! in-process on port 0, each on a Tokio runtime of its own so that a test can crash one
//! (its runtime stops at once: no drain, no goodbye to Redis, its registry entry left to
//! expire), and an HTTP GET on their HTTP side. Clients are [`RawClient`]s over real QUIC.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chitchat_relay::{Config, Relay};
use clap::Parser;
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::{RawClient, WAIT};

/// A relay of the cluster, on its own runtime.
pub struct ClusterRelay {
    pub quic: SocketAddr,
    pub http: SocketAddr,
    /// The cluster's CA certificate, which clients trust.
    ca: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

impl ClusterRelay {
    /// Starts relay `node` on `redis` with the certificates (one CA for the whole cluster) in
    /// `certs`, plus `extra` flags; returns once it is ready.
    pub async fn start(redis: &str, certs: &Path, node: &str, extra: &[&str]) -> ClusterRelay {
        let mut flags = vec!["--redis", redis];
        flags.extend_from_slice(extra);
        Self::start_solo(certs, node, &flags).await
    }

    /// Starts relay `node` without Redis (on its own embedded store, a cluster of one) with
    /// the certificates in `certs`, plus `extra` flags; returns once it is ready.
    pub async fn start_solo(certs: &Path, node: &str, extra: &[&str]) -> ClusterRelay {
        let data = tempfile::tempdir().expect("a temp dir");
        let mut args: Vec<String> = [
            "chitchat-relay",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--node-id",
            node,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push("--data-dir".into());
        args.push(data.path().display().to_string());
        args.push("--certs-dir".into());
        args.push(certs.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = Config::parse_from(args);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the relay");
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel();
        runtime.spawn(async move {
            let relay = match Relay::load(config).await {
                Ok(relay) => relay,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#}")));
                    return;
                }
            };
            let addrs = (relay.local_addr().unwrap(), relay.http_addr().unwrap());
            let _ = ready_tx.send(Ok(addrs));
            let result = relay
                .run(async move {
                    let _ = stop_rx.await;
                })
                .await;
            let _ = stopped_tx.send(result);
        });
        let (quic, http) = timeout(WAIT, ready)
            .await
            .expect("the relay starts in time")
            .expect("the relay task runs")
            .unwrap_or_else(|e| panic!("relay {node} failed to start: {e}"));
        ClusterRelay {
            quic,
            http,
            ca: certs.join("ca.pem"),
            runtime: Some(runtime),
            stop: Some(stop),
            stopped: Some(stopped),
            _data: data,
        }
    }

    /// Stops the relay as a crash would: every task of its runtime is dropped where it
    /// stands, its sockets close, nothing is said to Redis.
    pub fn crash(&mut self) {
        self.stop.take();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Shuts the relay down gracefully (drain, leave the registry) and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            timeout(Duration::from_secs(30), stopped)
                .await
                .expect("the relay stops in time")
                .expect("the relay reports how it stopped")
                .expect("the relay stops cleanly");
        }
        self.crash();
    }

    /// A protocol client connected to this relay over QUIC, Hello/Welcome done.
    pub async fn client(&self, nick: &str) -> RawClient {
        RawClient::hello_to(self.quic, &self.ca, nick).await.0
    }

    /// The cluster's CA certificate, for clients built by hand.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// A protocol client speaking `version`, Hello/Welcome done.
    pub async fn client_as(&self, nick: &str, version: u16) -> RawClient {
        let mut c = RawClient::connect_to(self.quic, &self.ca, None).await;
        c.say_hello_as(nick, version).await;
        c
    }

    /// `GET path` on the relay's HTTP port.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }

    /// `GET /relays`, as JSON.
    pub async fn relays(&self) -> serde_json::Value {
        let (status, body) = self.get("/relays").await;
        assert_eq!(status, 200, "GET /relays: {body}");
        serde_json::from_str(&body).expect("/relays is JSON")
    }
}

impl Drop for ClusterRelay {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The node ids `GET /relays` lists, in its order.
pub fn relay_nodes(relays: &serde_json::Value) -> Vec<String> {
    relays["relays"]
        .as_array()
        .expect("a relays array")
        .iter()
        .map(|r| r["node"].as_str().expect("a node id").to_string())
        .collect()
}

/// `GET path` from `addr` with [`chitchat_tests::http::get`], within [`WAIT`]; (status,
/// body). Runs on the blocking pool, so a relay on the test's own runtime keeps serving.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_owned();
    let response = tokio::task::spawn_blocking(move || {
        chitchat_tests::http::get(&addr.to_string(), &path, WAIT)
            .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
    })
    .await
    .expect("the HTTP request runs");
    (response.status, response.body)
}

/// Polls `check` until it returns `Some`, for at most `limit`; panics naming `what`.
/// For state that has no notification (HTTP endpoints).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
