//! Version 3's `Rename`: a session changes its nick without reconnecting, and every joined
//! room's members see one rename (`RoomFrame::Renamed`; sessions below version 3 a leave and
//! a join).
//!
//! The checks, in order: the version (UNKNOWN_FRAME below 3, like any unknown frame), token
//! mode (FORBIDDEN: the token names the user), the nick rules (INVALID_NICK), the rename
//! rate (RATE_LIMITED: every rename past the cheap checks costs a token), look-alikes among every joined room's members (NICK_LOOKALIKE),
//! the rooms the new nick may be in (FORBIDDEN: a direct-message room names its members),
//! and last the guest claim (NICK_TAKEN if another secret holds the nick), which is the
//! only step that changes anything in the store. Only then does the hub rename the session
//! in each room.

use chitchat_protocol::{ErrorCode, ServerFrame, validate_nick};

use super::{Session, SessionError, fatal};
use crate::auth::grants::Access;
use crate::auth::{AuthMode, Identity};

impl Session {
    /// Rename: answered by `Renamed` once every joined room knows the new nick.
    pub(super) async fn rename(&mut self, id: u32, nick: String) -> Result<(), SessionError> {
        if self.version < 3 {
            return Err(fatal(
                ErrorCode::UNKNOWN_FRAME,
                "Rename needs protocol version 3",
            ));
        }
        if self.state.auth.mode != AuthMode::Open {
            let message =
                "the sign-in token names this session's user: a signed-in nick cannot be renamed";
            return self.error(id, ErrorCode::FORBIDDEN, message).await;
        }
        if let Err(e) = validate_nick(&nick) {
            return self.error(id, e.code, &e.message).await;
        }
        if !self.rates.renames.try_take() {
            let message = "renaming too often; wait a little and try again";
            return self.error(id, ErrorCode::RATE_LIMITED, message).await;
        }
        if nick == self.nick {
            return self.send(&ServerFrame::Renamed { id, nick }).await;
        }
        if let Err((code, message)) = self.may_rename(&nick) {
            return self.error(id, code, &message).await;
        }
        if let Err(e) = self.state.claims.rename(self.held, &nick).await {
            return self.error(id, e.code(), &e.to_string()).await;
        }
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.state.hub.rename(room, self.id, &nick).await;
        }
        tracing::debug!(from = %self.nick, to = %nick, "renamed");
        self.identity.nick.clone_from(&nick);
        self.nick.clone_from(&nick);
        // A guest's markers are kept under its nick: the new nick's are the session's now.
        self.watch_markers();
        self.send(&ServerFrame::Renamed { id, nick }).await
    }

    /// Whether every joined room takes `nick`: no other member's nick looks like it, and
    /// the room admits it (a direct-message room names its members).
    fn may_rename(&self, nick: &str) -> Result<(), (ErrorCode, String)> {
        let renamed = Identity {
            nick: nick.to_owned(),
            ..self.identity.clone()
        };
        for room in self.rooms.keys() {
            if let Some(other) = self.state.hub.look_alike(room, nick, &self.nick) {
                let message = format!(
                    "{other}, who is in room {room}, has a nick that looks like {nick}; choose another nick"
                );
                return Err((ErrorCode::NICK_LOOKALIKE, message));
            }
            self.state
                .auth
                .authorize(&renamed, room, Access::READ)
                .map_err(|m| (ErrorCode::FORBIDDEN, m))?;
        }
        Ok(())
    }
}
