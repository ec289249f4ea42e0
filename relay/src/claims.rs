//! Guest nick claims (open mode): a nick's first session with a guest secret claims it, and
//! later sessions may use the nick only with the same secret.
//!
//! A claim lives in the broker, so every relay of a cluster agrees: under the nick's
//! skeleton (so `admin` also claims `Admin` and `аdmin`), the SHA-256 of the secret, with a
//! time-to-live (`--nick-claim-ttl`). This relay renews the claims of its live sessions in
//! one batch every quarter of the time-to-live (at most hourly), so a nick stays claimed
//! while it is in use and for about the time-to-live after its last session ends.
//!
//! SHA-256 rather than a slow password hash: clients make secrets of 32 random bytes (at
//! least 16 printable characters, ~100 bits, are accepted), far beyond any guessing a slow
//! hash would slow down, and a fast hash keeps a Hello cheap.
//!
//! A store that cannot answer refuses the Hello with `UNAVAILABLE`: admitting it could let
//! someone use a nick claimed by another.
//!
//! A renewal that finds a live session's claim held by another secret (the store lost the
//! claim, through a Redis failover or an outage past the time-to-live, and someone else
//! claimed the nick meanwhile) ends that session with `NICK_TAKEN` ([`ClaimError::Lost`]):
//! one nick is never held by two people. A claim that merely expired in the store, with
//! nobody else claiming it, is simply claimed again by the renewal.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chitchat_protocol::{ErrorCode, nick_skeleton, validate_guest_secret};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::broker::{ClaimOutcome, NickClaim, SharedBroker};
use crate::transport::Conn;

/// How long a Hello waits for the store's answer on a claim. Longer than the Redis broker's
/// command deadline (3 s), so its own error arrives first; shorter than the handshake
/// timeout, so the client hears why.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest time between two renewals, however long the time-to-live: an hour keeps the
/// renewal traffic negligible and a claim far from expiring through a store outage.
const MAX_RENEW_EVERY: Duration = Duration::from_secs(3600);

/// The shortest time between two renewals (tests use time-to-lives of a second or two).
const MIN_RENEW_EVERY: Duration = Duration::from_millis(50);

/// Claims sent to the store in one call: enough that renewing thousands of sessions takes a
/// handful of calls, few enough that one call stays a short transaction or pipeline.
const RENEW_BATCH: usize = 256;

/// How guest nicks are kept.
#[derive(Debug, Clone, clap::Args)]
pub struct ClaimsConfig {
    /// How long a guest nick stays claimed by its secret after its last session ends (it is
    /// renewed while in use), e.g. "3d", "12h".
    #[arg(long, env = "CHITCHAT_NICK_CLAIM_TTL", default_value = "3d",
          value_parser = parse_ttl)]
    pub nick_claim_ttl: Duration,
}

/// A `--nick-claim-ttl` value: a positive duration.
fn parse_ttl(value: &str) -> Result<Duration, String> {
    let ttl =
        humantime::parse_duration(value).map_err(|e| format!("{e} (try \"3d\" or \"12h\")"))?;
    if ttl < Duration::from_millis(1) {
        return Err("the time-to-live must be at least 1ms".into());
    }
    Ok(ttl)
}

/// Why a Hello was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The guest secret breaks the rules.
    #[error("{0}")]
    BadSecret(String),
    /// Another secret holds the nick (or a look-alike of it).
    #[error(
        "nick '{0}' is taken: someone else uses it (or one that looks the same); pick another nick, or use this nick's guest secret from the device that claimed it"
    )]
    Taken(String),
    /// The store did not answer.
    #[error("nick claims cannot be checked right now ({0}); try again shortly")]
    Unavailable(String),
    /// A live session's claim was found held by another secret.
    #[error(
        "your nick '{0}' was claimed by another device while this session was connected (the relay's store had lost your claim); pick another nick, or reconnect to see whether the other device still holds it"
    )]
    Lost(String),
}

impl ClaimError {
    /// The wire error code a client is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClaimError::BadSecret(_) => ErrorCode::UNAUTHORIZED,
            ClaimError::Taken(_) | ClaimError::Lost(_) => ErrorCode::NICK_TAKEN,
            ClaimError::Unavailable(_) => ErrorCode::UNAVAILABLE,
        }
    }
}

/// A claim a live session holds, and how the session hears that it was lost.
struct LiveClaim {
    claim: NickClaim,
    lost: CancellationToken,
}

/// What [`Claims::admit`] lets in.
pub struct Admitted {
    /// Whether the session holds the nick's claim (`false`: it came without a secret), which
    /// direct-message rooms ask of their members in open mode.
    pub holds: bool,
    /// Cancelled if a renewal finds the claim held by another secret: the session then ends
    /// with [`ClaimError::Lost`]. Never cancelled for a session that holds no claim.
    pub lost: CancellationToken,
    /// What a rename needs to move the claim ([`Claims::rename`]).
    pub held: HeldClaim,
}

/// A session's place among the live claims: the hash of its guest secret (`None`: it came
/// without one) and the number of the claim it holds (`None`: none).
#[derive(Debug, Default, Clone, Copy)]
pub struct HeldClaim {
    secret_hash: Option<[u8; 32]>,
    id: Option<u64>,
}

impl HeldClaim {
    /// Whether the session holds its nick's claim (it came with a secret that took or held
    /// it): such a guest is a user that read markers can belong to.
    pub fn holds(&self) -> bool {
        self.id.is_some()
    }
}

/// This relay's side of guest nick claims: the check on Hello and the renewal of the
/// claims its live sessions hold.
pub struct Claims {
    broker: SharedBroker,
    ttl: Duration,
    /// The claims of open sessions admitted with a secret, by a number of their own; each
    /// leaves when its connection closes. One entry per such session, so bounded by the
    /// relay's session limit.
    live: Mutex<HashMap<u64, LiveClaim>>,
    next: AtomicU64,
}

impl Claims {
    pub fn new(broker: SharedBroker, config: &ClaimsConfig) -> Arc<Claims> {
        Arc::new(Claims {
            broker,
            ttl: config.nick_claim_ttl,
            live: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// Checks a Hello's nick and guest secret (`Hello.token`), claiming the nick for the
    /// secret if nobody holds it, and remembers the claim for renewal while `conn` lives. A
    /// Hello without a secret may use a nick nobody has claimed, without claiming it.
    pub async fn admit(
        self: &Arc<Self>,
        conn: &Conn,
        nick: &str,
        secret: Option<&str>,
    ) -> Result<Admitted, ClaimError> {
        let secret_hash = match secret {
            Some(secret) => {
                validate_guest_secret(secret).map_err(|e| ClaimError::BadSecret(e.message))?;
                Some(Sha256::digest(secret.as_bytes()).into())
            }
            None => None,
        };
        let claim = NickClaim {
            key: nick_skeleton(nick),
            secret_hash,
        };
        match self.check(&claim).await? {
            ClaimOutcome::Held => {
                let (id, lost) = self.hold(conn, claim);
                Ok(Admitted {
                    holds: true,
                    lost,
                    held: HeldClaim {
                        secret_hash,
                        id: Some(id),
                    },
                })
            }
            ClaimOutcome::Free => Ok(Admitted {
                holds: false,
                lost: CancellationToken::new(),
                held: HeldClaim::default(),
            }),
            ClaimOutcome::Taken => Err(ClaimError::Taken(nick.to_owned())),
        }
    }

    /// Moves a live session's claim to `nick` (a rename): the new nick is claimed with the
    /// session's secret first (`Taken` if another secret holds it, or one that looks the
    /// same), and only then does the session's entry name it, so the old nick is no longer
    /// renewed for this session. The old claim stays in the store until its time-to-live
    /// runs out (other sessions with the same secret may still use the old nick; nobody
    /// else can take it meanwhile). A session without a secret may take a nick nobody has
    /// claimed, as at Hello.
    pub async fn rename(&self, held: HeldClaim, nick: &str) -> Result<(), ClaimError> {
        let claim = NickClaim {
            key: nick_skeleton(nick),
            secret_hash: held.secret_hash,
        };
        match self.check(&claim).await? {
            ClaimOutcome::Taken => Err(ClaimError::Taken(nick.to_owned())),
            ClaimOutcome::Held | ClaimOutcome::Free => {
                if let Some(id) = held.id
                    && let Some(live) = self.live().get_mut(&id)
                {
                    live.claim = claim;
                }
                Ok(())
            }
        }
    }

    /// One claim's outcome in the store, within [`CLAIM_TIMEOUT`].
    async fn check(&self, claim: &NickClaim) -> Result<ClaimOutcome, ClaimError> {
        let answer = tokio::time::timeout(
            CLAIM_TIMEOUT,
            self.broker
                .claim_nicks(std::slice::from_ref(claim), self.ttl),
        )
        .await;
        match answer {
            Ok(Ok(outcomes)) => outcomes
                .first()
                .copied()
                .ok_or_else(|| ClaimError::Unavailable("the store gave no answer".into())),
            Ok(Err(e)) => Err(ClaimError::Unavailable(e.to_string())),
            Err(_) => Err(ClaimError::Unavailable("the store did not answer".into())),
        }
    }

    /// Renews `claim` while `conn` is open: a small task forgets it when the connection
    /// closes, so a closed session holds nothing here. The token is cancelled if the claim
    /// is lost to another secret; the number names the claim for [`Claims::rename`].
    fn hold(self: &Arc<Self>, conn: &Conn, claim: NickClaim) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let lost = CancellationToken::new();
        self.live().insert(
            id,
            LiveClaim {
                claim,
                lost: lost.clone(),
            },
        );
        let claims = Arc::clone(self);
        let conn = conn.clone();
        tokio::spawn(async move {
            conn.closed().await;
            claims.live().remove(&id);
        });
        (id, lost)
    }

    /// How often [`Claims::run`] renews: a quarter of the time-to-live, so a claim survives
    /// a few failed renewals, within [`MIN_RENEW_EVERY`] and [`MAX_RENEW_EVERY`].
    pub fn renew_every(&self) -> Duration {
        (self.ttl / 4).clamp(MIN_RENEW_EVERY, MAX_RENEW_EVERY)
    }

    /// Renews the claims of live sessions until `stop` is cancelled.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(self.renew_every());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => self.renew().await,
            }
        }
    }

    /// One renewal pass: renews the claims of open sessions, each claim once however many
    /// sessions hold it, in batches of [`RENEW_BATCH`]. A claim gone from the store is taken
    /// again; one held by another secret ends the sessions that held it.
    pub async fn renew(&self) {
        let claims: Vec<NickClaim> = {
            let live = self.live();
            let mut seen = HashSet::new();
            live.values()
                .map(|live| &live.claim)
                .filter(|claim| seen.insert((&claim.key, claim.secret_hash)))
                .cloned()
                .collect()
        };
        for batch in claims.chunks(RENEW_BATCH) {
            match self.broker.claim_nicks(batch, self.ttl).await {
                Ok(outcomes) => {
                    for (claim, outcome) in batch.iter().zip(outcomes) {
                        if outcome == ClaimOutcome::Taken {
                            self.lose(claim);
                        }
                    }
                }
                // The next pass tries again, well before the claims expire.
                Err(e) => tracing::warn!("renewing nick claims: {e}"),
            }
        }
    }

    /// Ends every live session holding `claim`: another secret holds its nick now.
    fn lose(&self, claim: &NickClaim) {
        let mut ended = 0;
        for live in self.live().values() {
            if live.claim.key == claim.key && live.claim.secret_hash == claim.secret_hash {
                live.lost.cancel();
                ended += 1;
            }
        }
        tracing::warn!(key = %claim.key, sessions = ended, "a live session's nick claim is held by another secret; ending its sessions");
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveClaim>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
