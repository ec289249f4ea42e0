//! Version 3's read markers: `MarkRead` sets the user's last-read seq in a room, and the
//! user's other version-3 sessions in the room hear it as `ReadMarker` with id 0, on this
//! relay and on others (through the broker's `Signal::ReadMarker` and the hub's marker
//! board). After `Joined`, a session with a stored marker for the room gets it the same way.
//!
//! A marker belongs to a user: the token's `sub` in token mode, a guest holding its nick's
//! claim in open mode (keyed by the nick's skeleton, like the claim). The checks, in order:
//! the version (UNKNOWN_FRAME below 3, like any unknown frame), the room name, a user
//! (FORBIDDEN), membership of the room (NOT_JOINED), the marker rate (RATE_LIMITED); the
//! broker then keeps the marker from moving backwards or past the room's newest seq.

use std::sync::Arc;

use chitchat_protocol::{ErrorCode, ServerFrame, nick_skeleton, validate_room};

use super::{Session, SessionError, fatal};
use crate::auth::AuthMode;
use crate::broker::Signal;

impl Session {
    /// MarkRead: answered by `ReadMarker` with the request's id and the stored marker.
    pub(super) async fn mark_read(
        &mut self,
        id: u32,
        room: String,
        seq: u64,
    ) -> Result<(), SessionError> {
        if self.version < 3 {
            return Err(fatal(
                ErrorCode::UNKNOWN_FRAME,
                "MarkRead needs protocol version 3",
            ));
        }
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        let Some(user) = self.marker_user() else {
            let message = "read markers belong to a user: connect with the guest secret \
                           that holds this nick (or sign in) to keep them";
            return self.error(id, ErrorCode::FORBIDDEN, message).await;
        };
        if !self.rooms.contains_key(&room) {
            return self.not_joined(id, &room).await;
        }
        if !self.rates.markers.try_take() {
            let message = "marking rooms read too often; wait a little and try again";
            return self.error(id, ErrorCode::RATE_LIMITED, message).await;
        }
        let broker = self.state.broker.clone();
        let stored = match broker.set_read_marker(&room, &user, seq).await {
            Ok(stored) => stored,
            Err(e) => return self.broker_failed(id, e).await,
        };
        if stored > 0 {
            broker.signal(
                &room,
                Signal::ReadMarker {
                    user,
                    seq: stored,
                    node: self.state.node_id.clone(),
                    session: self.id,
                },
            );
        }
        self.send(&ServerFrame::ReadMarker {
            id,
            room,
            seq: stored,
        })
        .await
    }

    /// The key the session's read markers are kept under: `sub:<sub>` for a token's user,
    /// `guest:<skeleton>` for a guest holding its nick's claim; `None` for anyone else.
    pub(super) fn marker_user(&self) -> Option<String> {
        match self.identity.mode {
            AuthMode::Jwt => self.identity.sub.as_ref().map(|sub| format!("sub:{sub}")),
            AuthMode::Open => self
                .held
                .holds()
                .then(|| format!("guest:{}", nick_skeleton(&self.nick))),
        }
    }

    /// Puts a version-3 session with a user on the hub's marker board under its current
    /// user key (again after a rename, which may change it), or takes it off.
    pub(super) fn watch_markers(&mut self) {
        self.watching = None;
        if self.version < 3 {
            return;
        }
        if let Some(user) = self.marker_user() {
            let board = self.state.hub.markers();
            self.watching = Some(board.watch(&user, self.id, Arc::clone(&self.inbox)));
        }
    }

    /// Writes the markers other sessions of the user set, for rooms still joined.
    pub(super) async fn send_markers(&mut self) -> Result<(), SessionError> {
        for (room, seq) in self.inbox.take() {
            if self.rooms.contains_key(&room) {
                self.send(&ServerFrame::ReadMarker { id: 0, room, seq })
                    .await?;
            }
        }
        Ok(())
    }

    /// After `Joined`: the user's stored marker for `room`, if any, as `ReadMarker` with id 0.
    /// A store that cannot answer costs the marker only (the join stands).
    pub(super) async fn joined_marker(&mut self, room: &str) -> Result<(), SessionError> {
        if self.version < 3 {
            return Ok(());
        }
        let Some(user) = self.marker_user() else {
            return Ok(());
        };
        match self.state.broker.read_marker(room, &user).await {
            Ok(Some(seq)) => {
                let room = room.to_owned();
                self.send(&ServerFrame::ReadMarker { id: 0, room, seq })
                    .await
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::debug!(room, "reading the read marker after a join: {e}");
                Ok(())
            }
        }
    }
}
