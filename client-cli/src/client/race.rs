//! Connecting to one of several relays, happy-eyeballs style (RFC 8305): the first relay is
//! tried at once, the next one [`CONNECT_STAGGER`] later or as soon as an earlier attempt
//! fails, and so on; the first session to open wins and the other attempts are dropped
//! (which closes any connection they had made). A dead relay therefore costs a quarter
//! second, not a whole connect timeout.
//!
//! QUIC relays go first and WebSocket ones (`ws://`, `wss://`) after them
//! ([`attempt_order`]): the WebSocket transport is the fallback for networks that drop UDP,
//! so it starts once the QUIC attempts had their head start without an answer.

use std::future::Future;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::addr::Via;
use crate::{ClientError, RelayAddr};

/// How long an attempt has before the next relay is tried alongside it: RFC 8305's
/// recommended connection attempt delay. A live relay nearby answers well within it (a
/// handshake and Hello are two round trips), so a healthy first relay rarely costs a second
/// connection, and a dead one delays the session by this much only.
pub const CONNECT_STAGGER: Duration = Duration::from_millis(250);

/// The order in which `relays` are tried, as indices: from `start` round the list, QUIC
/// relays first and WebSocket relays after them, each group in that order.
pub fn attempt_order(relays: &[RelayAddr], start: usize) -> Vec<usize> {
    let n = relays.len();
    let mut order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
    order.sort_by_key(|&i| relays[i].via() != Via::Quic);
    order
}

/// Runs `attempt(i)` for `i` in `0..n`, staggered by `stagger`, and returns the first success
/// with its `i`. A permanent error ends the race at once (another relay would refuse too);
/// otherwise, once every attempt failed, the errors in the order they came.
pub async fn first_success<T, F, Fut>(
    n: usize,
    stagger: Duration,
    mut attempt: F,
) -> Result<(T, usize), Vec<ClientError>>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut running = FuturesUnordered::new();
    let mut errors = Vec::new();
    let mut started = 0;
    // Every turn of the loop starts the next attempt: the first at once, each later one
    // when the stagger ran out or an attempt failed.
    loop {
        if started < n {
            let i = started;
            running.push(attempt(i).map(move |result| (i, result)));
            started += 1;
        }
        if running.is_empty() {
            return Err(errors);
        }
        tokio::select! {
            Some((i, result)) = running.next() => match result {
                Ok(done) => return Ok((done, i)),
                Err(e) if e.is_permanent() => return Err(vec![e]),
                Err(e) => errors.push(e),
            },
            () = tokio::time::sleep(stagger), if started < n => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(i: usize) -> ClientError {
        ClientError::Unexpected(format!("attempt {i} failed"))
    }

    #[test]
    fn quic_relays_are_tried_before_websocket_ones() {
        let relays: Vec<RelayAddr> = ["ws://a:80", "b:1", "wss://c:443", "d:2"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        assert_eq!(attempt_order(&relays, 0), vec![1, 3, 0, 2]);
        assert_eq!(attempt_order(&relays, 3), vec![3, 1, 0, 2]);
        assert_eq!(attempt_order(&relays[..1], 0), vec![0]);
    }

    #[tokio::test]
    async fn a_hanging_first_attempt_does_not_hold_up_the_next() {
        let result = first_success(3, CONNECT_STAGGER, |i| async move {
            if i == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, ClientError>(i)
        })
        .await;
        assert_eq!(result.ok(), Some((1, 1)));
    }

    #[tokio::test]
    async fn a_failure_starts_the_next_attempt_at_once() {
        // A stagger no test outlives: only failures can start the later attempts.
        let result = first_success(3, Duration::from_secs(3600), |i| async move {
            if i < 2 { Err(failed(i)) } else { Ok(i) }
        })
        .await;
        assert_eq!(result.ok().map(|(_, i)| i), Some(2));
    }

    #[tokio::test]
    async fn every_error_is_kept_and_a_permanent_one_ends_the_race() {
        let all = first_success(
            2,
            CONNECT_STAGGER,
            |i| async move { Err::<(), _>(failed(i)) },
        )
        .await
        .err()
        .map(|e| e.len());
        assert_eq!(all, Some(2));

        let permanent = first_success(3, CONNECT_STAGGER, |i| async move {
            if i == 0 {
                Err::<(), _>(ClientError::Refused {
                    code: chitchat_protocol::ErrorCode::INVALID_NICK,
                    message: "no".into(),
                })
            } else {
                std::future::pending().await
            }
        })
        .await
        .err()
        .map(|e| e.len());
        assert_eq!(permanent, Some(1));
    }
}
