//! A real `redis-server` process of the test's own, on a free loopback port with its data
//! in a temp dir, for the relay's broker tests and the end-to-end cluster tests alike. It
//! is killed (and waited for) when dropped, and can be killed and started again on the
//! same port and data to test reconnection and durability. Readiness is a `PING` that
//! answers, polled with a deadline.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

/// The server binary; `REDIS_SERVER` overrides it.
pub const DEFAULT_REDIS_SERVER: &str = "/usr/bin/redis-server";

/// `cluster-node-timeout` of a [`Persistence::ClusterNode`], in ms: how long a master may be
/// unreachable before its replica takes over. Short, so a failover test takes a few
/// seconds; long enough that a loaded CI machine does not fail masters over by itself.
pub const CLUSTER_NODE_TIMEOUT_MS: &str = "2000";

/// How long a starting server may take to answer `PING`. It answers in milliseconds; a
/// loaded CI machine replaying an AOF may take longer, but not this long.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How often readiness is polled while starting.
const POLL: Duration = Duration::from_millis(20);

/// Attempts at finding a port nobody else takes between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;

/// How the server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk: a restart starts empty.
    None,
    /// An append-only file fsynced before every reply (`appendfsync always`): whatever
    /// Redis acknowledged survives `kill -9`.
    Aof,
    /// Nothing on disk, in cluster mode as a one-node Redis Cluster serving all 16384
    /// slots: commands touching keys of different slots fail with `CROSSSLOT`, as on a
    /// real cluster.
    Cluster,
    /// Nothing on disk, in cluster mode with no slots of its own, its cluster bus on
    /// `bus_port`: one node of a [`crate::redis_cluster::RedisCluster`], which assigns the
    /// slots and the replicas.
    ClusterNode { bus_port: u16 },
}

/// A `redis-server` owned by the test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    persistence: Persistence,
    /// A TLS port too, serving these certificates ([`RedisServer::start_tls`]).
    tls: Option<(u16, crate::certs::TestCerts)>,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub async fn start() -> RedisServer {
        Self::start_with(Persistence::None).await
    }

    /// Starts a server with the given persistence on a free port.
    pub async fn start_with(persistence: Persistence) -> RedisServer {
        Self::start_inner(persistence, false).await
    }

    /// Starts a server that keeps nothing on disk and also serves TLS on a port of its own
    /// ([`RedisServer::tls_url`]) with a certificate for `127.0.0.1` signed by a test CA
    /// ([`RedisServer::tls_ca`]); the plain port stays open for the test's own commands.
    pub async fn start_tls() -> RedisServer {
        Self::start_inner(Persistence::None, true).await
    }

    /// [`RedisServer::start_tls`] with the given persistence; in cluster mode the cluster's
    /// own links and the addresses it tells clients use TLS too (`tls-cluster`).
    pub async fn start_tls_with(persistence: Persistence) -> RedisServer {
        Self::start_inner(persistence, true).await
    }

    async fn start_inner(persistence: Persistence, tls: bool) -> RedisServer {
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: tempfile::tempdir().expect("creating a temp dir for redis-server"),
                persistence,
                tls: tls.then(|| (free_port(), crate::certs::TestCerts::new())),
            };
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(why) => last_failure = why,
            }
        }
        panic!("redis-server did not start: {last_failure}");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `rediss://127.0.0.1:<tls port>/` of a [`RedisServer::start_tls`] server.
    pub fn tls_url(&self) -> String {
        let (port, _) = self.tls.as_ref().expect("a server started with start_tls");
        format!("rediss://127.0.0.1:{port}/")
    }

    /// The PEM file of the CA that signed a [`RedisServer::start_tls`] server's certificate.
    pub fn tls_ca(&self) -> PathBuf {
        let (_, certs) = self.tls.as_ref().expect("a server started with start_tls");
        certs.ca()
    }

    /// The URL with a user name and password.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}/", self.port)
    }

    /// The loopback TCP port the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's data and logs (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh RESP2 connection for the test's own commands.
    pub async fn connection(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connecting to the test redis-server")
    }

    /// Runs one command and returns its reply.
    pub async fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut conn = self.connection().await;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("redis command {args:?} failed: {e}"))
    }

    /// Kills the server with SIGKILL (no shutdown save) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server runs (it was not killed, or was started again since).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server with SIGSTOP: its sockets stay open and its clients' commands queue
    /// up unanswered until [`RedisServer::resume`], as when Redis stalls (a long fork, a
    /// swapped-out process). Dropping a paused server still kills it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a server stopped by [`RedisServer::pause`] run again (SIGCONT); it then answers
    /// the commands that queued up, in order.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill {signal}: {e}"));
        assert!(
            status.success(),
            "kill {signal} redis-server failed: {status}"
        );
    }

    /// Kills the server if it runs, then starts it again on the same port and data dir.
    pub async fn restart(&mut self) {
        self.kill();
        if let Err(why) = self.spawn_and_wait().await {
            panic!("redis-server did not restart on port {}: {why}", self.port);
        }
    }

    /// The server's log and anything it printed before opening it, for failure messages.
    pub fn log(&self) -> String {
        let early = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        early + &std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let binary =
            std::env::var("REDIS_SERVER").unwrap_or_else(|_| DEFAULT_REDIS_SERVER.to_owned());
        let port = self.port.to_string();
        let dir = self.dir.path().display().to_string();
        let log = self.log_path().display().to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            &log,
            "--save",
            "",
            "--daemonize",
            "no",
            "--databases",
            "1",
        ];
        match self.persistence {
            Persistence::None => args.extend(["--appendonly", "no"]),
            Persistence::Aof => args.extend(["--appendonly", "yes", "--appendfsync", "always"]),
            Persistence::Cluster | Persistence::ClusterNode { .. } => args.extend([
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]),
        }
        if let Persistence::ClusterNode { .. } = self.persistence {
            args.extend([
                "--cluster-node-timeout",
                CLUSTER_NODE_TIMEOUT_MS,
                // A replica may take over however long it was cut off: the tests kill
                // masters on purpose and want the promotion, not a judgement of freshness.
                "--cluster-replica-validity-factor",
                "0",
                // The other shards keep serving while one fails over.
                "--cluster-require-full-coverage",
                "no",
            ]);
        }
        let tls_args;
        if let Some((port, certs)) = &self.tls {
            tls_args = [
                port.to_string(),
                certs.cert().display().to_string(),
                certs.key().display().to_string(),
                certs.ca().display().to_string(),
            ];
            args.extend([
                "--tls-port",
                &tls_args[0],
                "--tls-cert-file",
                &tls_args[1],
                "--tls-key-file",
                &tls_args[2],
                "--tls-ca-cert-file",
                &tls_args[3],
                "--tls-auth-clients",
                "no",
            ]);
            if self.persistence != Persistence::None && self.persistence != Persistence::Aof {
                args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
            }
        }
        let bus_port;
        if let Persistence::ClusterNode { bus_port: port } = self.persistence {
            bus_port = port.to_string();
            args.extend(["--cluster-port", &bus_port]);
        }
        let stderr = std::fs::File::create(self.dir.path().join("stderr.log"))
            .map_err(|e| format!("creating a log file: {e}"))?;
        let mut child = Command::new(&binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {binary}: {e} (install the redis-server package, or set REDIS_SERVER)"
                )
            })?;
        let deadline = Instant::now() + START_DEADLINE;
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{binary} exited with {status}; log:\n{}",
                    self.log()
                ));
            }
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if let Ok(Ok(pong)) = tokio::time::timeout(POLL * 10, ping).await
                && pong == "PONG"
                && (self.persistence != Persistence::Cluster || self.cluster_ok(&client).await)
            {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "no PONG within {START_DEADLINE:?}; log:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl RedisServer {
    /// Gives this node every slot (once) and tells whether the cluster says it is ok.
    async fn cluster_ok(&self, client: &redis::Client) -> bool {
        let check = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await?;
            if info.contains("cluster_slots_assigned:0") {
                let _: redis::Value = redis::cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE")
                    .arg(0)
                    .arg(16383)
                    .query_async(&mut conn)
                    .await?;
            }
            Ok::<bool, redis::RedisError>(info.contains("cluster_state:ok"))
        };
        matches!(tokio::time::timeout(POLL * 10, check).await, Ok(Ok(true)))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port free right now (the OS picks it; the listener is closed at once).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free port")
}
