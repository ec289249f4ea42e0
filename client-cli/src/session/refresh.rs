//! Token mode inside the session task: the token each new connection opens with, a fresh one
//! fetched when the relay warns that the current one is expiring (`TokenExpiring`) and sent
//! with `Refresh` on the live connection (rooms go on streaming), and what an expired token
//! means for the session: a file or a command gives a fresh one and the session reconnects
//! and resumes; a token given on the command line cannot be renewed and the session ends,
//! saying so.

use std::time::Duration;

use chitchat_protocol::ErrorCode;
use tokio::sync::mpsc;

use super::SessionEvent;
use crate::client::{Client, Connector};
use crate::token::{TokenError, TokenSource, expired_at, expiry_ms, now_ms};
use crate::{ClientError, CloseReason};

/// How close to its expiry a token is replaced before a connection opens with it: a
/// connection opened with a token about to run out would be warned and refreshed at once.
const FRESH_MARGIN_MS: u64 = 5_000;

/// The outcome of one refresh, handed back to the session task.
pub(super) enum Outcome {
    /// The relay took `token`; it expires at `expires_ms`.
    Refreshed { token: String, expires_ms: u64 },
    /// No fresh token could be had or sent; the old one expires at `expires_ms`.
    Failed { error: ClientError, expires_ms: u64 },
}

/// The session task's token state.
pub(super) struct Tokens {
    source: Option<TokenSource>,
    /// The relay closed the session because the token expired: fetch a fresh one before the
    /// next connection.
    stale: bool,
    /// The refresh under way, if any: one at a time, the latest warning's.
    task: Option<tokio::task::JoinHandle<()>>,
    /// The expiry the relay last announced.
    announced: Option<u64>,
    done_tx: mpsc::UnboundedSender<Outcome>,
    done_rx: mpsc::UnboundedReceiver<Outcome>,
}

impl Tokens {
    pub(super) fn new(source: Option<TokenSource>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Tokens {
            source,
            stale: false,
            task: None,
            announced: None,
            done_tx,
            done_rx,
        }
    }

    /// Where tokens come from.
    pub(super) fn source(&self) -> Option<&TokenSource> {
        self.source.as_ref()
    }

    /// Whether a fresh token can be had when this one runs out.
    pub(super) fn refreshable(&self) -> bool {
        self.source.as_ref().is_some_and(TokenSource::refreshable)
    }

    /// Before a connection attempt: gives `connector` a token to open with, a fresh one if
    /// the last was refused as expired or is about to be. A token that cannot be renewed
    /// and has expired is an error that says what to do.
    pub(super) async fn prepare(&mut self, connector: &mut Connector) -> Result<(), ClientError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let expires = connector.token().and_then(expiry_ms);
        let ending = expires.is_some_and(|at| at <= now_ms() + FRESH_MARGIN_MS);
        let have = connector.token().is_some();
        if !have || (source.refreshable() && (self.stale || ending)) {
            connector.set_token(Some(source.fetch().await?));
            self.stale = false;
        }
        if !source.refreshable()
            && let Some(at) = connector.token().and_then(expiry_ms)
            && at <= now_ms()
        {
            return Err(TokenError::Expired(expired_at(Some(at), source)).into());
        }
        Ok(())
    }

    /// The relay warned that the token expires at `expires_ms`. With a file or a command, a
    /// fresh token is fetched and sent on `client` in the background once half the time
    /// left has passed (the outcome comes back through [`Tokens::outcome`]); otherwise the
    /// user hears that the session will end then.
    ///
    /// Why half: a relay warns a while before `exp` (a minute, or at once for a shorter
    /// token), so half leaves the token command time to run and the relay time to answer,
    /// while short-lived tokens are not refreshed again the moment a fresh one is warned
    /// about.
    pub(super) fn expiring(&mut self, client: &Client, expires_ms: u64) -> Option<SessionEvent> {
        self.announced = Some(expires_ms);
        let advice = match &self.source {
            Some(source) if source.refreshable() => {
                if let Some(task) = self.task.take() {
                    task.abort();
                }
                let (source, client, done) = (source.clone(), client.clone(), self.done_tx.clone());
                let wait = Duration::from_millis(expires_ms.saturating_sub(now_ms()) / 2);
                self.task = Some(tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let outcome = match refresh(&source, &client).await {
                        Ok((token, expires)) => Outcome::Refreshed {
                            token,
                            expires_ms: expires,
                        },
                        Err(error) => Outcome::Failed { error, expires_ms },
                    };
                    let _ = done.send(outcome);
                }));
                return None;
            }
            Some(source) => source.advice(),
            None => "give one with --token-file or --token-command".to_owned(),
        };
        let message = format!(
            "the token expires at {} UTC and cannot be refreshed; {advice}",
            crate::output::clock(expires_ms)
        );
        Some(SessionEvent::RefreshFailed {
            error: TokenError::Expired(message).into(),
            expires_ms,
        })
    }

    /// The next refresh outcome. Cancel-safe; pending while none is under way.
    pub(super) async fn outcome(&mut self) -> Outcome {
        match self.done_rx.recv().await {
            Some(outcome) => outcome,
            // Unreachable while `self` holds a sender; never resolve rather than spin.
            None => std::future::pending().await,
        }
    }

    /// Takes a refresh outcome: a fresh token is the one the next connection opens with.
    /// A refresh that failed because the connection went is not reported: the session
    /// says the connection was lost, and reconnects with a fresh token.
    pub(super) fn apply(
        &mut self,
        outcome: Outcome,
        connector: &mut Connector,
    ) -> Option<SessionEvent> {
        self.task = None;
        match outcome {
            Outcome::Refreshed { token, expires_ms } => {
                connector.set_token(Some(token));
                Some(SessionEvent::Refreshed { expires_ms })
            }
            Outcome::Failed { error, .. } if error.is_connection_lost() => None,
            Outcome::Failed { error, expires_ms } => {
                Some(SessionEvent::RefreshFailed { error, expires_ms })
            }
        }
    }

    /// The relay closed the session: the error that ends it if the token is to blame and
    /// trying again cannot help. An expired token is renewed from a file or a command (the
    /// session reconnects and resumes); any other refusal of the token is final.
    pub(super) fn closed(
        &mut self,
        reason: &CloseReason,
        connector: &Connector,
    ) -> Option<ClientError> {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let CloseReason::Relay { code, .. } = reason else {
            return None;
        };
        match *code {
            ErrorCode::TOKEN_EXPIRED => {
                let source = self.source.as_ref()?;
                if source.refreshable() {
                    self.stale = true;
                    return None;
                }
                let at = connector.token().and_then(expiry_ms).or(self.announced);
                Some(TokenError::Expired(expired_at(at, source)).into())
            }
            ErrorCode::UNAUTHORIZED => Some(ClientError::Closed(reason.clone())),
            _ => None,
        }
    }
}

/// Fetches a fresh token and sends it on the live connection.
async fn refresh(source: &TokenSource, client: &Client) -> Result<(String, u64), ClientError> {
    let token = source.fetch().await?;
    let expires_ms = client.refresh(&token).await?;
    Ok((token, expires_ms))
}
