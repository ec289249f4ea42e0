//! The broker's connections to Redis: opening them, the command connection every task
//! shares ([`ActiveConn`]), deadlines, and which errors mean the connection is gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, ErrorKind, IntoConnectionInfo, ProtocolVersion,
    PushInfo, RedisError, Script, ServerErrorKind, Value,
};
use tokio::sync::mpsc;

use super::cluster::{Endpoint, RedisConn, cluster_seeds};
use crate::broker::api::BrokerError;

/// How long opening a connection to Redis may take. Local and same-datacenter Redis
/// answers in milliseconds; longer means it is unreachable, and the relay should say so.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one Redis command (or one pipeline) may take before the broker gives up on it.
/// A batch of a few hundred scripts runs in milliseconds; seconds mean Redis is stuck or
/// gone, and callers are better told so than kept waiting.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to Redis for commands, with the facts of its generation.
#[derive(Clone)]
pub(super) struct CommandConn {
    pub conn: RedisConn,
    /// Counts connections, so a failure report about an old one is ignored.
    pub generation: u64,
}

/// The command connection in use, shared by the broker handle and its tasks; only the bus
/// task installs one. `None` while Redis is unreachable or after close.
pub(super) struct ActiveConn {
    current: Mutex<Option<CommandConn>>,
    /// Whether `current` is set (read without the lock by `publish` and `/healthz`).
    ready: AtomicBool,
    /// Reports to the bus task that the connection of a generation failed.
    trouble: mpsc::UnboundedSender<u64>,
}

impl ActiveConn {
    /// None installed yet; failure reports go to `trouble`.
    pub fn new(trouble: mpsc::UnboundedSender<u64>) -> ActiveConn {
        ActiveConn {
            current: Mutex::new(None),
            ready: AtomicBool::new(false),
            trouble,
        }
    }

    /// The command connection in use, if any.
    pub fn current(&self) -> Option<CommandConn> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current command connection, or why there is none.
    pub fn get(&self) -> Result<CommandConn, BrokerError> {
        self.current().ok_or_else(unavailable)
    }

    /// Makes `conn` the connection in use (the bus task, on connecting).
    pub fn install(&self, conn: CommandConn) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        self.ready.store(true, Ordering::Release);
    }

    /// No connection in use: publishes and reads fail at once until the next install.
    pub fn uninstall(&self) {
        self.ready.store(false, Ordering::Release);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether a connection is installed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Tells the bus task that the connection of `generation` failed.
    pub fn report_trouble(&self, generation: u64) {
        // The bus task is gone only when the broker is stopping.
        let _ = self.trouble.send(generation);
    }

    /// Maps a failed command to a broker error, reporting a broken connection.
    pub fn failed(&self, conn: &CommandConn, what: &str, err: &RedisError) -> BrokerError {
        if is_connection_error(err) {
            self.report_trouble(conn.generation);
            BrokerError::Unavailable(format!("{what}: {err}"))
        } else {
            BrokerError::Internal(format!("{what}: {err}"))
        }
    }
}

/// Both connections of one generation, as the bus task holds them.
pub(super) struct Connections {
    pub command: CommandConn,
    /// The subscriber connection (RESP3, so pushes and replies share it in order).
    pub pubsub: RedisConn,
    pub pushes: mpsc::UnboundedReceiver<PushInfo>,
}

impl Connections {
    /// Opens the command and subscriber connections and loads `script`.
    pub async fn open(
        endpoint: &Endpoint,
        script: &Script,
        generation: u64,
    ) -> Result<Self, BrokerError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let (push_tx, pushes) = mpsc::unbounded_channel();
        let attempt = async {
            let mut conn = endpoint.connect(&config, None).await?;
            let pubsub = endpoint.connect(&config, Some(push_tx)).await?;
            script.load_async(&mut conn).await?;
            Ok::<_, RedisError>((conn, pubsub))
        };
        let (conn, pubsub) =
            match tokio::time::timeout(CONNECT_TIMEOUT + COMMAND_TIMEOUT, attempt).await {
                Ok(Ok(opened)) => opened,
                Ok(Err(e)) if is_connection_error(&e) || is_transient(&e) => {
                    return Err(BrokerError::Unavailable(format!(
                        "connecting to Redis: {e}"
                    )));
                }
                Ok(Err(e)) => {
                    return Err(BrokerError::Internal(format!("connecting to Redis: {e}")));
                }
                Err(_) => {
                    return Err(BrokerError::Unavailable(
                        "connecting to Redis timed out".into(),
                    ));
                }
            };
        Ok(Connections {
            command: CommandConn { conn, generation },
            pubsub,
            pushes,
        })
    }
}

/// Refuses servers that cannot run the broker, and warns about settings that break it.
pub(super) async fn check_server(conn: &RedisConn) -> Result<(), BrokerError> {
    let mut conn = conn.clone();
    let check = async {
        let info: Value = ::redis::cmd("COMMAND")
            .arg("INFO")
            .arg("SPUBLISH")
            .query_async(&mut conn)
            .await?;
        let policy: Result<Vec<String>, RedisError> = ::redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut conn)
            .await;
        Ok::<_, RedisError>((info, policy))
    };
    let (info, policy) = match tokio::time::timeout(COMMAND_TIMEOUT, check).await {
        Ok(Ok(answers)) => answers,
        Ok(Err(e)) => return Err(BrokerError::Unavailable(format!("checking Redis: {e}"))),
        Err(_) => return Err(BrokerError::Unavailable("checking Redis timed out".into())),
    };
    let known = match info {
        Value::Array(entries) => entries.first().is_some_and(|e| *e != Value::Nil),
        _ => false,
    };
    if !known {
        return Err(BrokerError::Internal(
            "this Redis has no SPUBLISH: sharded pub/sub needs Redis 7.0 or newer".into(),
        ));
    }
    // Managed services often forbid CONFIG; only a readable, wrong policy is reported.
    if let Ok(policy) = policy
        && let Some(policy) = policy.get(1)
        && policy != "noeviction"
    {
        tracing::warn!(
            policy,
            "Redis may evict keys (maxmemory-policy is not noeviction): an evicted room \
             counter or epoch renumbers rooms"
        );
    }
    Ok(())
}

/// Opens a client for `url`, speaking RESP3 (pushes and replies on one connection): one
/// Redis, or a Redis Cluster for a `redis+cluster://` URL listing seed nodes. A `rediss`
/// URL's servers are verified against `tls_ca` (PEM) when given, else the system's roots.
pub(super) fn open_client(url: &str, tls_ca: Option<&[u8]>) -> Result<Endpoint, BrokerError> {
    let bad = |e: &dyn std::fmt::Display| {
        BrokerError::Internal(format!("bad Redis URL {}: {e}", redacted(url)))
    };
    if let Some(ca) = tls_ca {
        if !url.starts_with("rediss") {
            return Err(BrokerError::Internal(format!(
                "--redis-ca is for a TLS Redis (rediss:// or rediss+cluster://), not {}",
                redacted(url)
            )));
        }
        check_ca(ca)?;
    }
    if let Some(seeds) = cluster_seeds(url) {
        let seeds = seeds.map_err(|e| bad(&e))?;
        // Each seed carries the TLS settings; the nodes found through them copy a seed's.
        let seeds = match tls_ca {
            Some(ca) => seeds
                .into_iter()
                .map(|seed| with_ca(seed, ca).map(|c| c.get_connection_info().clone()))
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&e))?,
            None => seeds,
        };
        return Ok(Endpoint::Cluster(seeds));
    }
    let info = url
        .into_connection_info()
        .map_err(|e| BrokerError::Internal(format!("bad Redis URL {}: {e}", redacted(url))))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let info = info.set_redis_settings(settings);
    let client = match tls_ca {
        Some(ca) => with_ca(info, ca),
        None => Client::open(info),
    };
    client
        .map(|c| Endpoint::Single(Box::new(c)))
        .map_err(|e| bad(&e))
}

/// Checks that `ca` holds PEM certificates, so a wrong file is said at start rather than as
/// every handshake failing.
fn check_ca(ca: &[u8]) -> Result<(), BrokerError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    match CertificateDer::pem_slice_iter(ca).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(BrokerError::Internal(
            "the Redis CA file (--redis-ca) holds no PEM certificate".into(),
        )),
        Err(e) => Err(BrokerError::Internal(format!(
            "the Redis CA file (--redis-ca) is not PEM: {e}"
        ))),
    }
}

/// A client for `info` (a `rediss` address) that trusts the CA certificate(s) in `ca`.
fn with_ca(info: ConnectionInfo, ca: &[u8]) -> ::redis::RedisResult<Client> {
    Client::build_with_tls(
        info,
        ::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.to_vec()),
        },
    )
}

/// `url` without its password, for logs and errors.
pub(super) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Whether `err` means the connection is gone (rather than a refused command).
pub(super) fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

/// Whether `err` may go away by itself (Redis loading its data, failing over).
fn is_transient(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
        )
    )
}

/// A command that outlived [`COMMAND_TIMEOUT`], as an I/O error (a connection error).
pub(super) fn timed_out(what: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} took longer than {COMMAND_TIMEOUT:?}"),
    ))
}

/// What callers are told while no connection is installed.
pub(super) fn unavailable() -> BrokerError {
    BrokerError::Unavailable("Redis is unreachable; the relay is reconnecting".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redacted("redis://relay:s3cret@host:6379/0"),
            "redis://relay:***@host:6379/0"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }
}
