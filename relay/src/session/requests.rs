//! The session's requests, one function each: every client frame after Hello, and the
//! typing datagram. A request answers on the control stream, at once or (for sends and
//! history reads, which wait for the broker) through the session's pending answers.

use chitchat_protocol::{
    ClientDatagram, ClientFrame, EntryBody, ErrorCode, ErrorFrame, HistoryPage, Joined,
    ResumeOutcome, ResumePoint, ServerFrame, decode_datagram, validate_room, validate_text,
};
use tracing::Instrument;

use futures::StreamExt;
use tokio_util::task::AbortOnDropHandle;

use super::limits::{HISTORY_PAGE, MAX_HISTORY_IN_FLIGHT, fit_page};
use super::quota::QuotaExceeded;
use super::room_writer::RoomWriter;
use super::{Answer, Pending, Session, SessionError, broker_error, fatal};
use crate::auth::grants::Access;
use crate::broker::{BrokerError, NewEntry, SharedBroker, Signal};
use crate::clock::now_ms;

impl Session {
    /// Carries out one request from the control stream.
    pub(super) async fn handle(
        &mut self,
        frame: ClientFrame,
        pending: &mut Pending,
    ) -> Result<(), SessionError> {
        if let Some(id) = counted_request(&frame)
            && !self.rates.requests.try_take()
        {
            let message = format!(
                "too many requests: Join, Leave, Who, History and Refresh count against a limit of {} per second",
                self.state.limits.msgs_per_sec
            );
            return self.error(id, ErrorCode::RATE_LIMITED, &message).await;
        }
        match frame {
            ClientFrame::Hello(_) => Err(fatal(
                ErrorCode::PROTOCOL_VIOLATION,
                "Hello may only be sent once",
            )),
            ClientFrame::Join { id, room, resume } => self.join(id, room, resume).await,
            ClientFrame::Leave { id, room } => self.leave(id, room).await,
            ClientFrame::Send { id, room, text } => {
                self.send_message(id, room, text, None, None, pending).await
            }
            ClientFrame::SendOnce {
                id,
                room,
                text,
                send_id,
            } => {
                let send_id = (send_id != 0).then_some(send_id);
                self.send_message(id, room, text, send_id, None, pending)
                    .await
            }
            ClientFrame::History {
                id,
                room,
                before,
                limit,
            } => self.history(id, room, before, limit, pending).await,
            ClientFrame::Who { id, room } => self.who(id, room).await,
            ClientFrame::Ping { id } => self.send(&ServerFrame::Pong { id, ts: now_ms() }).await,
            ClientFrame::Refresh { id, token } => self.refresh(id, token).await,
            ClientFrame::ListRooms {
                id,
                search,
                after,
                limit,
            } => self.list_rooms(id, search, after, limit).await,
            ClientFrame::CreateRoom { id, room, topic } => self.create_room(id, room, topic).await,
            ClientFrame::SetTopic { id, room, topic } => self.set_topic(id, room, topic).await,
            ClientFrame::Post {
                id,
                room,
                text,
                send_id,
                reply_to,
            } if self.version >= 2 => {
                let send_id = (send_id != 0).then_some(send_id);
                self.send_message(id, room, text, send_id, reply_to, pending)
                    .await
            }
            ClientFrame::Post { .. }
            | ClientFrame::Edit { .. }
            | ClientFrame::Delete { .. }
            | ClientFrame::React { .. } => self.change(frame, pending).await,
            ClientFrame::Rename { id, nick } => self.rename(id, nick).await,
            ClientFrame::MarkRead { id, room, seq } => self.mark_read(id, room, seq).await,
        }
    }

    /// Join: subscribes through the hub, reads the room's head, answers Joined and starts
    /// the room's writer (with history after the resume point, if any).
    async fn join(
        &mut self,
        id: u32,
        room: String,
        resume: Option<ResumePoint>,
    ) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if let Err(m) = self.authorize(&room, Access::READ) {
            return self.error(id, ErrorCode::FORBIDDEN, &m).await;
        }
        if self.rooms.contains_key(&room) {
            return self
                .error(
                    id,
                    ErrorCode::INVALID_REQUEST,
                    &format!("already in room {room}"),
                )
                .await;
        }
        if self.rooms.len() >= self.state.limits.max_rooms as usize {
            let message = format!(
                "already in {} rooms, the most one session may join",
                self.rooms.len()
            );
            return self.error(id, ErrorCode::TOO_MANY_ROOMS, &message).await;
        }
        let hub = &self.state.hub;
        let joining = match hub
            .join(
                &room,
                self.id,
                &self.nick,
                self.conn.clone(),
                self.slow.clone(),
            )
            .await
        {
            Ok(j) => j,
            Err(e) => return self.broker_failed(id, e).await,
        };
        // Subscribed first, then the head: nothing stored from here on can be missed.
        let head = match self.state.broker.head(&room).await {
            Ok(h) => h,
            Err(e) => {
                hub.leave(&room, self.id).await;
                return self.broker_failed(id, e).await;
            }
        };
        self.state.rooms.ensure_later(&room, &self.nick);
        let (outcome, after, backfill) = match resume {
            None => (ResumeOutcome::Live, head.last_seq, false),
            Some(p) if p.epoch != 0 && p.epoch != head.epoch => (
                ResumeOutcome::EpochChanged,
                head.first_seq.saturating_sub(1),
                true,
            ),
            Some(p) if p.seq.saturating_add(1) < head.first_seq => (
                ResumeOutcome::Truncated {
                    first_seq: head.first_seq,
                },
                head.first_seq - 1,
                true,
            ),
            Some(p) => (ResumeOutcome::Resumed, p.seq, true),
        };
        let writer = RoomWriter {
            conn: self.conn.clone(),
            broker: self.state.broker.clone(),
            room: room.clone(),
            epoch: head.epoch,
            last_sent: after,
            backfill,
            version: self.version,
        };
        // Debug level: the writer logs only at debug, and an enabled span is entered on
        // every poll, i.e. for every delivery.
        let span = tracing::debug_span!("room", session = self.id, room = %room);
        let task = tokio::spawn(
            async move {
                if let Err(e) = writer.run(joining.queue).await {
                    tracing::debug!("room stream ended: {e}");
                }
            }
            .instrument(span),
        );
        self.rooms.insert(room.clone(), task);
        self.send(&ServerFrame::Joined(Joined {
            id,
            room: room.clone(),
            epoch: head.epoch,
            last_seq: head.last_seq,
            members: joining.members,
            resume: outcome,
        }))
        .await?;
        self.joined_marker(&room).await
    }

    /// Leave: drops the room's writer and the membership.
    async fn leave(&mut self, id: u32, room: String) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if self.rooms.remove(&room).is_none() {
            return self.not_joined(id, &room).await;
        }
        self.state.hub.leave(&room, self.id).await;
        self.send(&ServerFrame::Left { id, room }).await
    }

    /// Send (and Post, with `reply_to`): validated and rate limited here, numbered and
    /// stored by the broker (which checks the reply target); Sent answers once it is stored.
    async fn send_message(
        &mut self,
        id: u32,
        room: String,
        text: String,
        send_id: Option<u64>,
        reply_to: Option<u64>,
        pending: &mut Pending,
    ) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room)
            .and_then(|_| validate_text(&text, self.state.limits.max_text_bytes as usize))
        {
            return self.error(id, e.code, &e.message).await;
        }
        if let Err((code, message)) = self.may_write(&room) {
            return self.error(id, code, &message).await;
        }
        if let Err(refused) = self.check_quotas(&room, &text).await {
            return match refused {
                Refused::Quota(q) => {
                    self.error(id, ErrorCode::QUOTA_EXCEEDED, &q.to_string())
                        .await
                }
                Refused::Broker(e) => self.broker_failed(id, e).await,
            };
        }
        self.state.rooms.ensure_later(&room, &self.nick);
        let stored = self.state.broker.append(NewEntry {
            room,
            from: self.nick.clone(),
            body: EntryBody::Text { text, reply_to },
            send_id,
            by_operator: false,
        });
        let state = self.state.clone();
        let addr = self.addr;
        pending.push(Box::pin(async move {
            let frame = match stored.await {
                Ok(m) => {
                    state.metrics.message_in();
                    if m.seq == 1 {
                        state.quotas.room_created(addr);
                    }
                    ServerFrame::Sent {
                        id,
                        room: m.room,
                        epoch: m.epoch,
                        seq: m.seq,
                        ts: m.ts,
                    }
                }
                Err(e) => broker_error(id, &state.metrics, e),
            };
            Answer {
                frame,
                history: false,
            }
        }));
        Ok(())
    }

    /// The source address's quotas for one send: stored bytes are counted here; a room is
    /// counted once its first message is stored (seq 1), and only an address that has used
    /// up its new rooms pays a head read to learn whether the room is new.
    async fn check_quotas(&self, room: &str, text: &str) -> Result<(), Refused> {
        let quotas = &self.state.quotas;
        if quotas.may_create_room(self.addr).is_err() {
            let head = self
                .state
                .broker
                .head(room)
                .await
                .map_err(Refused::Broker)?;
            if head.last_seq == 0 {
                quotas.may_create_room(self.addr).map_err(Refused::Quota)?;
            }
        }
        quotas
            .charge_bytes(self.addr, text.len() as u64)
            .map_err(Refused::Quota)
    }

    /// History: one page of stored messages, answered when read.
    async fn history(
        &mut self,
        id: u32,
        room: String,
        before: Option<u64>,
        limit: u16,
        pending: &mut Pending,
    ) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if let Err(m) = self.authorize(&room, Access::READ) {
            return self.error(id, ErrorCode::FORBIDDEN, &m).await;
        }
        if limit == 0 {
            return self
                .error(
                    id,
                    ErrorCode::INVALID_REQUEST,
                    "history limit must be at least 1",
                )
                .await;
        }
        // A page waits in memory until written: past the bound, write what is ready (at the
        // client's reading pace) before reading another page.
        while self.histories >= MAX_HISTORY_IN_FLIGHT {
            match pending.next().await {
                Some(answer) => self.answer(answer).await?,
                None => break,
            }
        }
        let broker = self.state.broker.clone();
        let metrics = self.state.metrics.clone();
        let limit = limit.min(HISTORY_PAGE) as usize;
        self.histories += 1;
        // A task of its own, polled whatever the session is doing: the read waits for one of
        // the store's shared readers, and a waiter that is handed one must take it at once,
        // not when its session next polls (a session blocked on a client that does not read
        // would hold the reader and starve every other session). Aborted if the session ends.
        let version = self.version;
        let read = AbortOnDropHandle::new(tokio::spawn(async move {
            if version >= 2 {
                super::entries::entry_page(&broker, id, room, before, limit).await
            } else {
                history_page(&broker, id, room, before, limit).await
            }
        }));
        pending.push(Box::pin(async move {
            let frame = match read.await {
                Ok(page) => page.unwrap_or_else(|e| broker_error(id, &metrics, e)),
                Err(e) => broker_error(
                    id,
                    &metrics,
                    BrokerError::Internal(format!("history read failed: {e}")),
                ),
            };
            Answer {
                frame,
                history: true,
            }
        }));
        Ok(())
    }

    /// Who: the room's members, for a session in the room.
    async fn who(&mut self, id: u32, room: String) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if let Err(m) = self.authorize(&room, Access::READ) {
            return self.error(id, ErrorCode::FORBIDDEN, &m).await;
        }
        if !self.rooms.contains_key(&room) {
            return self.not_joined(id, &room).await;
        }
        let members = self.state.hub.members(&room);
        self.send(&ServerFrame::Members { id, room, members }).await
    }

    /// A typing datagram: forwarded to the room if this session is in it.
    pub(super) fn datagram(&mut self, data: &[u8]) {
        match decode_datagram::<ClientDatagram>(data) {
            Ok(ClientDatagram::Typing { room }) => {
                if self.rooms.contains_key(&room) && self.rates.typing.try_take() {
                    self.state.broker.signal(
                        &room,
                        Signal::Typing {
                            nick: self.nick.clone(),
                        },
                    );
                }
            }
            // Datagrams carry nothing that matters; a bad one is dropped, not fatal.
            Err(e) => tracing::debug!("dropping a bad datagram: {e}"),
        }
    }

    pub(super) async fn not_joined(&mut self, id: u32, room: &str) -> Result<(), SessionError> {
        self.error(id, ErrorCode::NOT_JOINED, &format!("not in room {room}"))
            .await
    }

    pub(super) async fn broker_failed(
        &mut self,
        id: u32,
        e: BrokerError,
    ) -> Result<(), SessionError> {
        let frame = broker_error(id, &self.state.metrics, e);
        self.send(&frame).await
    }

    pub(super) async fn error(
        &mut self,
        id: u32,
        code: ErrorCode,
        message: &str,
    ) -> Result<(), SessionError> {
        self.state.metrics.error(code);
        self.send(&ServerFrame::Error(ErrorFrame {
            id,
            code,
            message: message.to_string(),
        }))
        .await
    }
}

/// Why a send was refused before reaching the broker.
enum Refused {
    Quota(QuotaExceeded),
    Broker(BrokerError),
}

/// The id of a request that counts against the session's request rate (Join, Leave, Who,
/// History, Refresh); sends have their own, Ping none (it is the keep-alive).
fn counted_request(frame: &ClientFrame) -> Option<u32> {
    match frame {
        ClientFrame::Join { id, .. }
        | ClientFrame::Leave { id, .. }
        | ClientFrame::Who { id, .. }
        | ClientFrame::History { id, .. }
        | ClientFrame::Refresh { id, .. }
        | ClientFrame::ListRooms { id, .. }
        | ClientFrame::CreateRoom { id, .. }
        | ClientFrame::SetTopic { id, .. } => Some(*id),
        ClientFrame::Hello(_)
        | ClientFrame::Send { .. }
        | ClientFrame::SendOnce { .. }
        | ClientFrame::Post { .. }
        | ClientFrame::Edit { .. }
        | ClientFrame::Delete { .. }
        | ClientFrame::React { .. }
        | ClientFrame::Rename { .. }
        | ClientFrame::MarkRead { .. }
        | ClientFrame::Ping { .. } => None,
    }
}

/// Newest messages before `before`, at most `limit` and at most HISTORY_PAGE_BYTES.
pub(super) async fn history_page(
    broker: &SharedBroker,
    id: u32,
    room: String,
    before: Option<u64>,
    limit: usize,
) -> Result<ServerFrame, BrokerError> {
    let head = broker.head(&room).await?;
    // One extra tells whether more exist.
    let mut messages = broker.read_before(&room, before, limit + 1).await?;
    let more = fit_page(&mut messages, limit, |m| {
        m.text.len() + m.from.len() + m.room.len() + 32
    });
    Ok(ServerFrame::History(HistoryPage {
        id,
        room,
        epoch: head.epoch,
        messages,
        more,
    }))
}
