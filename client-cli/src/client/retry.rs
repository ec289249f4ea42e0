//! Sends that survive a store that is briefly unavailable: each send carries a random send
//! id (`SendOnce`), and a send refused with `UNAVAILABLE` is sent again with the same id, with
//! backoff, for a bounded time. The relay stores a repeated id once, so a send the store
//! took despite refusing it is not stored twice. A one-shot connection refused with
//! `UNAVAILABLE` (in open mode the relay cannot check the nick's claim without its store)
//! is tried again the same way.
//!
//! [`retry_at_start`] is the same backoff for commands that wait for a relay to come up
//! (`tail`, `chat`): a start that reached no relay at all is tried again, with the wait
//! shown, until it works or fails for another reason.

use std::future::Future;
use std::time::Duration;

use chitchat_protocol::{ClientFrame, ErrorCode, ServerFrame};
use tokio::time::Instant;

use super::{Client, Connector, Events, Sent, unexpected};
use crate::ClientError;
use crate::RelayAddr;

/// How long a send keeps retrying `UNAVAILABLE`. Covers a Redis failover or a stall of
/// several seconds (the relay's own deadline is 3 s), while a user waiting on `send` or a
/// line typed in `chat` hears about a longer outage within seconds rather than minutes.
pub const SEND_RETRY_WINDOW: Duration = Duration::from_secs(15);

/// The first wait before a retry; doubled after each until [`MAX_BACKOFF`]. Short, as a
/// store that paused briefly answers again at once.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between retries, so that a store coming back is noticed within it.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The first wait before reaching for the relays again at start: a whole second, since the
/// wait is counted down in seconds for the user, and a relay being started takes about that.
pub const START_FIRST_WAIT: Duration = Duration::from_secs(1);

/// The longest wait between tries at start: a relay that comes up is used within it, and a
/// try every few seconds costs a dead address a packet or two.
pub const START_MAX_WAIT: Duration = Duration::from_secs(5);

/// How often the wait at start is reported: the countdown shows whole seconds.
const COUNTDOWN_TICK: Duration = Duration::from_secs(1);

/// Waits that double from a first one up to a most.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Self {
        Backoff { next: first, max }
    }

    /// The next wait; the one after is twice as long, up to the most.
    fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Runs `attempt` until it succeeds or fails other than by reaching no relay at all
/// ([`ClientError::is_transport_failure`]: never a relay's refusal, such as `UNAUTHORIZED`,
/// `NICK_TAKEN` or the protocol version). Between tries it waits [`START_FIRST_WAIT`],
/// doubling up to [`START_MAX_WAIT`], calling `waiting` with the last error and the time
/// left, at the start of the wait and every second of it.
pub async fn retry_at_start<T, F, Fut>(
    mut attempt: F,
    mut waiting: impl FnMut(&ClientError, Duration),
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    retry_with(
        Backoff::new(START_FIRST_WAIT, START_MAX_WAIT),
        &mut attempt,
        &mut waiting,
    )
    .await
}

/// [`retry_at_start`] with the waits of `backoff`.
async fn retry_with<T, F, Fut>(
    mut backoff: Backoff,
    attempt: &mut F,
    waiting: &mut impl FnMut(&ClientError, Duration),
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    loop {
        match attempt().await {
            Err(e) if e.is_transport_failure() => {
                let until = Instant::now() + backoff.next();
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    waiting(&e, left);
                    tokio::time::sleep(left.min(COUNTDOWN_TICK)).await;
                }
            }
            other => return other,
        }
    }
}

impl Connector {
    /// [`Connector::connect_any`], tried again with backoff for up to [`SEND_RETRY_WINDOW`]
    /// while the relays refuse the session with `UNAVAILABLE`.
    pub async fn connect_retrying(
        &self,
        relays: &[RelayAddr],
        nick: &str,
    ) -> Result<(Client, Events, usize), ClientError> {
        let started = Instant::now();
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self.connect_any(relays, 0, nick).await {
                Err(e) if is_unavailable(&e) => {
                    let wait = backoff.next();
                    if started.elapsed() + wait > SEND_RETRY_WINDOW {
                        return Err(ClientError::Refused {
                            code: ErrorCode::UNAVAILABLE,
                            message: format!(
                                "{e} (gave up after {tries} tries in {} s)",
                                started.elapsed().as_secs()
                            ),
                        });
                    }
                    tracing::debug!(tries, error = %e, "session refused for now; trying again");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}

/// Whether a failed connection may work once the relays' store is back: a relay refused it
/// with `UNAVAILABLE`, and none refused it for good.
fn is_unavailable(error: &ClientError) -> bool {
    match error {
        ClientError::NoRelay(all) => {
            all.iter().any(is_unavailable) && !all.iter().any(ClientError::is_permanent)
        }
        other => other.code() == Some(ErrorCode::UNAVAILABLE),
    }
}

impl Client {
    /// Sends `text` to `room`; resolves once the relay stored it. A refusal with
    /// `UNAVAILABLE` is retried with the same send id for up to [`SEND_RETRY_WINDOW`], so
    /// the message is stored once whatever the outcome of the refused tries.
    pub async fn send(&self, room: &str, text: &str) -> Result<Sent, ClientError> {
        let send_id = rand::random::<u64>().max(1);
        let started = Instant::now();
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self.send_once(room, text, send_id).await {
                Err(ClientError::Refused { code, message }) if code == ErrorCode::UNAVAILABLE => {
                    let wait = backoff.next();
                    if started.elapsed() + wait > SEND_RETRY_WINDOW {
                        return Err(ClientError::Refused {
                            code,
                            message: format!(
                                "{message} (gave up after {tries} tries in {} s; \
                                 the message was not stored, or stored once)",
                                started.elapsed().as_secs()
                            ),
                        });
                    }
                    tracing::debug!(room, tries, %message, "store unavailable; sending again");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// One try of a send with `send_id`: `Sent` (of the original if the id was stored
    /// before) or the refusal.
    pub async fn send_once(
        &self,
        room: &str,
        text: &str,
        send_id: u64,
    ) -> Result<Sent, ClientError> {
        let (room, text) = (room.to_owned(), text.to_owned());
        let frame = |id| ClientFrame::SendOnce {
            id,
            room,
            text,
            send_id,
        };
        match self.request(frame).await? {
            ServerFrame::Sent { epoch, seq, ts, .. } => Ok(Sent { epoch, seq, ts }),
            other => Err(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_at(port: u16) -> ClientError {
        ClientError::NotListening {
            relay: format!("127.0.0.1:{port}"),
        }
    }

    #[test]
    fn waits_double_up_to_the_most() {
        let mut backoff = Backoff::new(START_FIRST_WAIT, START_MAX_WAIT);
        let waits: Vec<u64> = (0..5).map(|_| backoff.next().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[tokio::test]
    async fn a_start_that_reached_no_relay_is_tried_again_after_each_wait() {
        let mut tries = 0;
        let mut shown = Vec::new();
        let quick = Backoff::new(Duration::from_millis(10), Duration::from_millis(20));
        let result = retry_with(
            quick,
            &mut || {
                tries += 1;
                let outcome = if tries < 4 {
                    Err(refused_at(1))
                } else {
                    Ok(tries)
                };
                async move { outcome }
            },
            &mut |e, left| shown.push((e.to_string(), left <= Duration::from_millis(20))),
        )
        .await;
        assert_eq!(result.ok(), Some(4));
        let line = "no relay answering at 127.0.0.1:1 (connection refused)".to_owned();
        assert_eq!(
            shown,
            vec![(line, true); 3],
            "one report per wait under a second"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_never_tried_again() {
        let mut tries = 0;
        let refusal = ClientError::Refused {
            code: ErrorCode::NICK_TAKEN,
            message: "taken".into(),
        };
        let result: Result<(), _> = retry_at_start(
            || {
                tries += 1;
                let refusal = refusal.clone();
                async move { Err(refusal) }
            },
            |_, _| panic!("a refusal is not waited on"),
        )
        .await;
        assert_eq!(
            result.err().and_then(|e| e.code()),
            Some(ErrorCode::NICK_TAKEN)
        );
        assert_eq!(tries, 1);
    }
}
