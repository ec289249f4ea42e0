//! The session's identity: admitted at `Hello` (through [`crate::auth::Auth::admit`]),
//! checked on every room request, and in token mode kept alive by `Refresh`: the relay
//! sends `TokenExpiring` [`WARN_BEFORE`] before the token's `exp` (at once if less remains)
//! and closes the session with `TOKEN_EXPIRED` at `exp` if no fresh token came.

use std::sync::Arc;
use std::time::Duration;

use chitchat_protocol::{ErrorCode, Hello, ServerFrame};
use tokio::time::Instant;

use super::{Session, SessionError, fatal};
use crate::auth::grants::Access;
use crate::auth::{AuthMode, Identity, Refusal};
use crate::clock::now_ms;
use crate::metrics::Metrics;

/// How long before `exp` the relay sends `TokenExpiring`. Why 60 s: time for a client to
/// fetch a fresh token over a slow link (a page calls its token URL, the CLI runs its
/// token command), and short enough that tokens of a few minutes still work.
pub const WARN_BEFORE: Duration = Duration::from_secs(60);

/// When to warn and when to close, in the session's clock.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TokenClock {
    pub warn_at: Option<Instant>,
    pub expire_at: Option<Instant>,
}

impl TokenClock {
    pub fn new(identity: &Identity) -> TokenClock {
        let Some(exp) = identity.expires_ms else {
            return TokenClock::default();
        };
        let now = Instant::now();
        let left = Duration::from_millis(exp.saturating_sub(now_ms()));
        TokenClock {
            warn_at: Some(now + left.saturating_sub(WARN_BEFORE)),
            expire_at: Some(now + left),
        }
    }
}

/// Counts a session under its auth mode while it lives (`chitchat_auth_sessions`).
pub(super) struct ModeCount {
    metrics: Arc<Metrics>,
    label: &'static str,
}

impl ModeCount {
    fn new(metrics: &Arc<Metrics>, identity: &Identity) -> ModeCount {
        let label = match (identity.mode, identity.verified) {
            (AuthMode::Jwt, _) => "jwt",
            (AuthMode::Open, true) => "open_secret",
            (AuthMode::Open, false) => "open",
        };
        metrics.auth_session(label, 1.0);
        ModeCount {
            metrics: metrics.clone(),
            label,
        }
    }
}

impl Drop for ModeCount {
    fn drop(&mut self) {
        self.metrics.auth_session(self.label, -1.0);
    }
}

impl Session {
    /// Admits the `Hello`: the session takes the identity's nick, or the refusal that ends
    /// it (`UNAUTHORIZED`).
    pub(super) fn admit(&mut self, hello: &Hello) -> Result<(), SessionError> {
        let state = self.state.clone();
        let identity = state.auth.admit(hello).map_err(|r| self.refused(r))?;
        self.nick = identity.nick.clone();
        self.clock = TokenClock::new(&identity);
        self.counted = Some(ModeCount::new(&state.metrics, &identity));
        self.identity = identity;
        Ok(())
    }

    fn refused(&self, refusal: Refusal) -> SessionError {
        self.state.metrics.auth_refused(refusal.reason.as_str());
        fatal(Refusal::CODE, refusal.message)
    }

    /// Whether this session may do what needs `need` in `room`; the error is the
    /// `FORBIDDEN` message.
    pub(super) fn authorize(&self, room: &str, need: Access) -> Result<(), String> {
        self.state.auth.authorize(&self.identity, room, need)
    }

    /// Refresh: a fresh token for the same user replaces the grants and the expiry. Rooms
    /// the new grants no longer cover are left (their streams finish, and `Left` with id 0,
    /// the relay's own doing, names each) before `Refreshed`; the others go on streaming
    /// untouched.
    pub(super) async fn refresh(&mut self, id: u32, token: String) -> Result<(), SessionError> {
        let state = self.state.clone();
        let identity = match state.auth.refresh(&self.identity, &token) {
            None => {
                let message = "this relay does not use tokens (open mode): nothing to refresh";
                return self.error(id, ErrorCode::INVALID_REQUEST, message).await;
            }
            Some(Err(r)) => {
                let mut refused = self.refused(r);
                if let SessionError::Fatal { message, .. } = &mut refused {
                    *message = format!("refresh refused: {message}");
                }
                return Err(refused);
            }
            Some(Ok(identity)) => identity,
        };
        let expires_ms = identity.expires_ms.unwrap_or_default();
        self.identity = identity;
        self.clock = TokenClock::new(&self.identity);
        let mut revoked: Vec<String> = self
            .rooms
            .keys()
            .filter(|room| self.authorize(room, Access::READ).is_err())
            .cloned()
            .collect();
        revoked.sort();
        for room in revoked {
            self.rooms.remove(&room);
            state.hub.leave(&room, self.id).await;
            self.send(&ServerFrame::Left { id: 0, room }).await?;
        }
        self.send(&ServerFrame::Refreshed { id, expires_ms }).await
    }

    /// The warning before `exp`, once per token.
    pub(super) async fn warn_expiring(&mut self) -> Result<(), SessionError> {
        self.clock.warn_at = None;
        let expires_ms = self.identity.expires_ms.unwrap_or_default();
        self.send(&ServerFrame::TokenExpiring { expires_ms }).await
    }

    /// The close at `exp`.
    pub(super) fn expired(&self) -> SessionError {
        let at = self
            .identity
            .expires_ms
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).ok())
            .map(|t| format!(" at {} UTC", t.time()))
            .unwrap_or_default();
        fatal(
            ErrorCode::TOKEN_EXPIRED,
            format!("the token expired{at} and no Refresh came; reconnect with a fresh token"),
        )
    }
}
