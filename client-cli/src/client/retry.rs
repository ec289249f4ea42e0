//! Sends that survive a store that is briefly unavailable: each send carries a random send
//! id (`SendOnce`), and a send refused with `UNAVAILABLE` is sent again with the same id, with
//! backoff, for a bounded time. The relay stores a repeated id once, so a send the store
//! took despite refusing it is not stored twice. A one-shot connection refused with
//! `UNAVAILABLE` (in open mode the relay cannot check the nick's claim without its store)
//! is tried again the same way.

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

impl Connector {
    /// [`Connector::connect_any`], tried again with backoff for up to [`SEND_RETRY_WINDOW`]
    /// while the relays refuse the session with `UNAVAILABLE`.
    pub async fn connect_retrying(
        &self,
        relays: &[RelayAddr],
        nick: &str,
    ) -> Result<(Client, Events, usize), ClientError> {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self.connect_any(relays, 0, nick).await {
                Err(e) if is_unavailable(&e) => {
                    if started.elapsed() + backoff > SEND_RETRY_WINDOW {
                        return Err(ClientError::Refused {
                            code: ErrorCode::UNAVAILABLE,
                            message: format!(
                                "{e} (gave up after {tries} tries in {} s)",
                                started.elapsed().as_secs()
                            ),
                        });
                    }
                    tracing::debug!(tries, error = %e, "session refused for now; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self.send_once(room, text, send_id).await {
                Err(ClientError::Refused { code, message }) if code == ErrorCode::UNAVAILABLE => {
                    if started.elapsed() + backoff > SEND_RETRY_WINDOW {
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
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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
