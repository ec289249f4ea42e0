//! Guest nick claims in Redis: one key per claimed nick skeleton ([`claim_key`]), holding
//! the hex hash of its secret with a `PX` time-to-live, checked and set by [`CLAIM_SCRIPT`]
//! so two relays racing for one nick cannot both take it. Keys expire on their own:
//! nothing needs cleaning up.

use std::time::Duration;

use ::redis::Value;
use ::redis::aio::ConnectionLike;

use super::BrokerState;
use super::keys::claim_key;
use super::link::COMMAND_TIMEOUT;
use super::scripts::CLAIM_SCRIPT;
use crate::broker::api::{BrokerError, ClaimOutcome, NickClaim};

/// Checks, takes and renews `claims` for `ttl`; one outcome per claim, in order. One script
/// run per claim (each key may live on another shard), all in one pipeline, so they run in
/// order, answered within one command deadline. The script goes as `EVAL`: it is short,
/// and a pipeline of `EVALSHA`s would need its NOSCRIPT replies sent again in order.
pub(super) async fn claim_nicks(
    state: &BrokerState,
    claims: &[NickClaim],
    ttl: Duration,
) -> Result<Vec<ClaimOutcome>, BrokerError> {
    let link = state.active.get()?;
    // Redis refuses a PX of 0; a time-to-live is at least a millisecond.
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut pipe = ::redis::pipe();
    for claim in claims {
        pipe.cmd("EVAL")
            .arg(CLAIM_SCRIPT)
            .arg(1)
            .arg(claim_key(&claim.key))
            .arg(claim.secret_hash.map(hex::encode).unwrap_or_default())
            .arg(ttl_ms);
    }
    let what = "checking nick claims";
    let mut conn = link.conn.clone();
    let count = claims.len();
    let sent = conn.req_packed_commands(&pipe, 0, count);
    let replies = match tokio::time::timeout(COMMAND_TIMEOUT, sent).await {
        Ok(Ok(replies)) if replies.len() == count => replies,
        Ok(Ok(replies)) => {
            state.active.report_trouble(link.generation);
            return Err(BrokerError::Unavailable(format!(
                "{what}: Redis answered {} of {count}",
                replies.len()
            )));
        }
        Ok(Err(e)) => return Err(state.active.failed(&link, what, &e)),
        Err(_) => {
            state.active.report_trouble(link.generation);
            return Err(BrokerError::Unavailable(format!(
                "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
            )));
        }
    };
    replies
        .into_iter()
        .map(|reply| match reply {
            Value::Int(0) => Ok(ClaimOutcome::Free),
            Value::Int(1) => Ok(ClaimOutcome::Held),
            Value::Int(2) => Ok(ClaimOutcome::Taken),
            other => Err(BrokerError::Internal(format!(
                "{what}: the claim script answered {other:?}"
            ))),
        })
        .collect()
}
