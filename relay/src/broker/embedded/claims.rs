//! Guest nick claims in the embedded store: the writer's transaction that checks, takes and
//! renews claims (see `Broker::claim_nicks`) in the `nick_claims` table (`sqlite` creates it).
//!
//! One row per claimed key (a nick's skeleton) with the hash of its secret and when it
//! expires (ms since the Unix epoch). A row past its expiry counts as absent; each claim
//! transaction also deletes a bounded number of them, so the table holds about one row per
//! nick used within the claims' time-to-live.

use rusqlite::{Connection, OptionalExtension, params};

use super::ClaimJob;
use super::sqlite::sqlite_error;
use crate::broker::BrokerError;
use crate::broker::api::ClaimOutcome;

const SELECT_CLAIM: &str = "SELECT hash FROM nick_claims WHERE key = ?1 AND expires > ?2";
const PUT_CLAIM: &str =
    "INSERT OR REPLACE INTO nick_claims (key, hash, expires) VALUES (?1, ?2, ?3)";
const EXPIRE_CLAIMS: &str = "DELETE FROM nick_claims WHERE key IN \
     (SELECT key FROM nick_claims WHERE expires <= ?1 LIMIT ?2)";

/// Expired rows deleted per claim transaction at most: more than one transaction's worth of
/// claims ever adds, so the table cannot grow past its live rows for long, while one
/// transaction's delete stays short whatever expired at once.
const EXPIRE_STEP: i64 = 256;

/// Serves queued claim jobs at `now` (ms) in one transaction on the writer's connection
/// (group commit, as for messages), then answers each; if the transaction fails, every job
/// gets the error and nothing is stored.
pub(super) fn serve(conn: &mut Connection, jobs: Vec<ClaimJob>, now: u64) {
    let result = claim_all(conn, &jobs, now);
    if let Err(err) = &result {
        tracing::error!(error = %err, "checking nick claims failed");
    }
    match result {
        Ok(outcomes) => {
            for (job, outcomes) in jobs.into_iter().zip(outcomes) {
                // The claimant may have stopped waiting; nothing is lost either way.
                let _ = job.reply.send(Ok(outcomes));
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.reply.send(Err(err.clone()));
            }
        }
    }
}

/// Each job's outcomes, one per claim, in order.
fn claim_all(
    conn: &mut Connection,
    jobs: &[ClaimJob],
    now: u64,
) -> Result<Vec<Vec<ClaimOutcome>>, BrokerError> {
    let tx = conn
        .transaction()
        .map_err(|e| sqlite_error("starting a claims transaction", e))?;
    let mut all = Vec::with_capacity(jobs.len());
    {
        tx.execute(EXPIRE_CLAIMS, params![now, EXPIRE_STEP])
            .map_err(|e| sqlite_error("forgetting expired nick claims", e))?;
        let mut select = tx
            .prepare_cached(SELECT_CLAIM)
            .map_err(|e| sqlite_error("preparing the claim query", e))?;
        let mut put = tx
            .prepare_cached(PUT_CLAIM)
            .map_err(|e| sqlite_error("preparing the claim insert", e))?;
        for job in jobs {
            let expires =
                now.saturating_add(u64::try_from(job.ttl.as_millis()).unwrap_or(u64::MAX));
            // SQLite integers are signed; a time-to-live past i64 is forever.
            let expires = i64::try_from(expires).unwrap_or(i64::MAX);
            let mut outcomes = Vec::with_capacity(job.claims.len());
            for claim in &job.claims {
                let held: Option<Vec<u8>> = select
                    .query_row(params![claim.key, now], |row| row.get(0))
                    .optional()
                    .map_err(|e| sqlite_error("reading a nick claim", e))?;
                let outcome = match (held, &claim.secret_hash) {
                    (Some(held), Some(mine)) if held == mine.as_slice() => ClaimOutcome::Held,
                    (Some(_), _) => ClaimOutcome::Taken,
                    (None, None) => ClaimOutcome::Free,
                    (None, Some(_)) => ClaimOutcome::Held,
                };
                if let (ClaimOutcome::Held, Some(mine)) = (outcome, &claim.secret_hash) {
                    put.execute(params![claim.key, mine.as_slice(), expires])
                        .map_err(|e| sqlite_error("storing a nick claim", e))?;
                }
                outcomes.push(outcome);
            }
            all.push(outcomes);
        }
    }
    tx.commit()
        .map_err(|e| sqlite_error("committing nick claims", e))?;
    Ok(all)
}
