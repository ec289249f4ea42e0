//! The client's room requests: a page of the room directory, making a room with a topic,
//! changing a joined room's topic, marking a joined room read.

use chitchat_protocol::{ClientFrame, RoomSummary, ServerFrame};

use super::{Client, unexpected};
use crate::ClientError;

/// One page of the room directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPage {
    pub rooms: Vec<RoomSummary>,
    /// The name to ask after for more; `None` at the end.
    pub next: Option<String>,
}

impl Client {
    /// Marks `room` (joined) read up to `seq` for this user's other sessions (version 3);
    /// returns the marker the relay stored (never lower than before, at most the room's
    /// newest seq).
    pub async fn mark_read(&self, room: &str, seq: u64) -> Result<u64, ClientError> {
        let room = room.to_owned();
        match self
            .request(|id| ClientFrame::MarkRead { id, room, seq })
            .await?
        {
            ServerFrame::ReadMarker { seq, .. } => Ok(seq),
            other => Err(unexpected(&other)),
        }
    }

    /// Up to `limit` public rooms whose name or topic contains `search`, in name order after
    /// `after`. A page may hold fewer while `next` is set: ask again from there.
    pub async fn list_rooms(
        &self,
        search: &str,
        after: Option<&str>,
        limit: u16,
    ) -> Result<RoomPage, ClientError> {
        let search = search.to_owned();
        let after = after.map(str::to_owned);
        let frame = |id| ClientFrame::ListRooms {
            id,
            search,
            after,
            limit,
        };
        match self.request(frame).await? {
            ServerFrame::Rooms { rooms, next, .. } => Ok(RoomPage { rooms, next }),
            other => Err(unexpected(&other)),
        }
    }

    /// Makes `room` with `topic`; `ROOM_EXISTS` if it has a record already.
    pub async fn create_room(&self, room: &str, topic: &str) -> Result<RoomSummary, ClientError> {
        let (room, topic) = (room.to_owned(), topic.to_owned());
        match self
            .request(|id| ClientFrame::CreateRoom { id, room, topic })
            .await?
        {
            ServerFrame::RoomInfo { room, .. } => Ok(room),
            other => Err(unexpected(&other)),
        }
    }

    /// Changes the topic of a joined room.
    pub async fn set_topic(&self, room: &str, topic: &str) -> Result<RoomSummary, ClientError> {
        let (room, topic) = (room.to_owned(), topic.to_owned());
        match self
            .request(|id| ClientFrame::SetTopic { id, room, topic })
            .await?
        {
            ServerFrame::RoomInfo { room, .. } => Ok(room),
            other => Err(unexpected(&other)),
        }
    }
}
