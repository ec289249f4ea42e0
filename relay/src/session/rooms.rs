//! The session's room requests: the directory (`ListRooms`), making a room with a topic
//! (`CreateRoom`) and changing a joined room's topic (`SetTopic`), over [`crate::rooms`].
//! They share a rate of their own ([`super::limits::RateLimits::rooms`]): a directory page
//! costs the store a count and a read per room listed.

use chitchat_protocol::{
    ErrorCode, MAX_ROOMS_PAGE, MAX_TOPIC_BYTES, ServerFrame, validate_room, validate_topic,
};

use super::{Session, SessionError};
use crate::auth::grants::Access;
use crate::broker::{RoomChange, RoomRecord};
use crate::clock::now_ms;

impl Session {
    /// Takes a token of the room requests' rate, or answers `RATE_LIMITED`.
    async fn room_rate(&mut self, id: u32) -> Result<bool, SessionError> {
        if self.rates.rooms.try_take() {
            return Ok(true);
        }
        let message = "too many room requests: ListRooms, CreateRoom and SetTopic together \
                       count against a limit of 2 per second";
        self.error(id, ErrorCode::RATE_LIMITED, message).await?;
        Ok(false)
    }

    /// Checks a CreateRoom or SetTopic: the names, then write access; answers the refusal.
    async fn room_write_allowed(
        &mut self,
        id: u32,
        room: &str,
        topic: &str,
    ) -> Result<bool, SessionError> {
        if let Err(e) = validate_room(room).and_then(|()| validate_topic(topic)) {
            self.error(id, e.code, &e.message).await?;
            return Ok(false);
        }
        if let Err(m) = self.authorize(room, Access::WRITE) {
            self.error(id, ErrorCode::FORBIDDEN, &m).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Answers RoomInfo with `record` as the directory shows it.
    async fn room_info(&mut self, id: u32, record: RoomRecord) -> Result<(), SessionError> {
        let state = self.state.clone();
        match state.rooms.entry(record).await {
            Ok(entry) => {
                let room = entry.summary();
                self.send(&ServerFrame::RoomInfo { id, room }).await
            }
            Err(e) => self.broker_failed(id, e).await,
        }
    }

    /// ListRooms: one directory page, without the rooms this session may not read.
    pub(super) async fn list_rooms(
        &mut self,
        id: u32,
        search: String,
        after: Option<String>,
        limit: u16,
    ) -> Result<(), SessionError> {
        let invalid = if !(1..=MAX_ROOMS_PAGE).contains(&limit) {
            Some(format!("limit must be from 1 to {MAX_ROOMS_PAGE}"))
        } else if search.len() > MAX_TOPIC_BYTES {
            Some(format!("search is at most {MAX_TOPIC_BYTES} bytes"))
        } else if let Some(Err(e)) = after.as_deref().map(validate_room) {
            Some(format!("after: {}", e.message))
        } else {
            None
        };
        if let Some(message) = invalid {
            return self.error(id, ErrorCode::INVALID_REQUEST, &message).await;
        }
        if !self.room_rate(id).await? {
            return Ok(());
        }
        let state = self.state.clone();
        let page = state
            .rooms
            .directory(&search, after.as_deref(), usize::from(limit))
            .await;
        let (entries, next) = match page {
            Ok(page) => page,
            Err(e) => return self.broker_failed(id, e).await,
        };
        let rooms = entries
            .iter()
            .filter(|e| self.authorize(&e.record.name, Access::READ).is_ok())
            .map(|e| e.summary())
            .collect();
        self.send(&ServerFrame::Rooms { id, rooms, next }).await
    }

    /// CreateRoom: a record with a topic, made by this session's nick.
    pub(super) async fn create_room(
        &mut self,
        id: u32,
        room: String,
        topic: String,
    ) -> Result<(), SessionError> {
        if !self.room_write_allowed(id, &room, &topic).await? {
            return Ok(());
        }
        if !self.room_rate(id).await? {
            return Ok(());
        }
        let state = self.state.clone();
        let made = state
            .rooms
            .create(RoomRecord {
                name: room.clone(),
                topic,
                private: false,
                archived: false,
                created_ms: now_ms(),
                created_by: self.nick.clone(),
            })
            .await;
        match made {
            Ok((record, true)) => self.room_info(id, record).await,
            Ok((record, false)) => {
                let message = format!(
                    "room {room} exists (made by {}); join it, or change its topic with SetTopic",
                    record.created_by
                );
                self.error(id, ErrorCode::ROOM_EXISTS, &message).await
            }
            Err(e) => self.broker_failed(id, e).await,
        }
    }

    /// SetTopic: a joined room's new topic.
    pub(super) async fn set_topic(
        &mut self,
        id: u32,
        room: String,
        topic: String,
    ) -> Result<(), SessionError> {
        if !self.room_write_allowed(id, &room, &topic).await? {
            return Ok(());
        }
        if !self.rooms.contains_key(&room) {
            return self.not_joined(id, &room).await;
        }
        if let Err(message) = self.state.rooms.check_writable(&room) {
            return self.error(id, ErrorCode::FORBIDDEN, &message).await;
        }
        if !self.room_rate(id).await? {
            return Ok(());
        }
        let state = self.state.clone();
        // The join records the room on a task of its own; make sure it is there.
        if let Err(e) = state.rooms.ensure(&room, &self.nick).await {
            return self.broker_failed(id, e).await;
        }
        let change = RoomChange {
            topic: Some(topic),
            ..RoomChange::default()
        };
        let record = match state.broker.update_room(&room, change).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                let message = format!("room {room} has no record");
                return self.error(id, ErrorCode::NO_SUCH_ROOM, &message).await;
            }
            Err(e) => return self.broker_failed(id, e).await,
        };
        state.rooms.announce_topic(&record, &self.nick);
        self.room_info(id, record).await
    }
}
