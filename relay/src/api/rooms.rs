//! The room routes of the server API: publish a message as a named sender, read a room's
//! history a page at a time, list who is in a room. A published message is numbered, stored
//! and delivered exactly as a client's `Send` is; the API is the operator's, so it is not
//! bound by room grants, rate limits or quotas (the key is the authority).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chitchat_protocol::{
    ErrorCode, Message, MessageState, validate_nick, validate_room, validate_text,
};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::broker::NewMessage;

/// History messages per page when the request names no limit.
const DEFAULT_PAGE: usize = 50;

/// The most history messages one request may ask for: a page of 500 messages of the
/// largest size is ~32 MB, of typical ones well under a megabyte.
const MAX_PAGE: usize = 500;

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/rooms/{room}/messages", get(history).post(publish))
        .route("/rooms/{room}/members", get(members))
}

/// `POST /rooms/{room}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    /// The sender's nick, as members see it.
    from: String,
    text: String,
    /// The caller's id for this message: a retry with the same `from` and `send_id` within
    /// ten minutes returns the stored message instead of storing another.
    #[serde(default)]
    send_id: Option<u64>,
}

/// A stored message as the API shows it.
#[derive(Debug, Serialize)]
struct StoredMessage {
    room: String,
    epoch: u64,
    seq: u64,
    from: String,
    text: String,
    /// Milliseconds since the Unix epoch, the relay's clock when it stored the message.
    ts: u64,
}

/// A message in its latest state, as history pages show it.
#[derive(Debug, Serialize)]
struct MessageNow {
    room: String,
    epoch: u64,
    seq: u64,
    from: String,
    /// The latest text; empty once deleted.
    text: String,
    ts: u64,
    reply_to: Option<u64>,
    /// When it was last edited (ms since the Unix epoch); 0: never.
    edited_ts: u64,
    deleted: bool,
    /// Each emoji chosen, with the nicks that chose it.
    reactions: std::collections::BTreeMap<String, Vec<String>>,
}

impl MessageNow {
    fn new(room: &str, epoch: u64, m: MessageState) -> MessageNow {
        MessageNow {
            room: room.to_owned(),
            epoch,
            seq: m.seq,
            from: m.from,
            text: m.text,
            ts: m.ts,
            reply_to: m.reply_to,
            edited_ts: m.edited_ts,
            deleted: m.deleted,
            reactions: m
                .reactions
                .into_iter()
                .map(|r| (r.emoji, r.nicks))
                .collect(),
        }
    }
}

impl From<Message> for StoredMessage {
    fn from(m: Message) -> StoredMessage {
        StoredMessage {
            room: m.room,
            epoch: m.epoch,
            seq: m.seq,
            from: m.from,
            text: m.text,
            ts: m.ts,
        }
    }
}

/// The room of the path, checked.
pub(super) fn room_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(room) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    validate_room(&room).map_err(|e| ApiError::invalid(e.code, e.message))?;
    Ok(room)
}

/// A body the API cannot read: 415 without a JSON content type, 413 over the size limit,
/// else 400 (malformed JSON, a missing or unknown field, a value of the wrong type).
pub(super) fn json_error(e: JsonRejection) -> ApiError {
    match e.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(e.status(), "UNSUPPORTED_MEDIA_TYPE", e.body_text())
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(e.status(), "PAYLOAD_TOO_LARGE", e.body_text())
        }
        _ => ApiError::bad_request(e.body_text()),
    }
}

async fn publish(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Publish>, JsonRejection>,
) -> Result<Response, ApiError> {
    let room = room_of(path)?;
    let Json(publish) = body.map_err(json_error)?;
    validate_nick(&publish.from).map_err(|e| ApiError::invalid(e.code, e.message))?;
    let max_text = state.relay.limits.max_text_bytes as usize;
    validate_text(&publish.text, max_text).map_err(|e| ApiError::invalid(e.code, e.message))?;
    state
        .relay
        .rooms
        .check_writable(&room)
        .map_err(|m| ApiError::new(StatusCode::FORBIDDEN, ErrorCode::FORBIDDEN.name(), m))?;
    state.relay.rooms.ensure(&room, &publish.from).await?;
    let stored = state
        .relay
        .broker
        .publish(NewMessage {
            room,
            from: publish.from,
            text: publish.text,
            send_id: publish.send_id,
        })
        .await?;
    state.relay.metrics.message_in();
    Ok((StatusCode::CREATED, Json(StoredMessage::from(stored))).into_response())
}

/// `GET /rooms/{room}/messages?before=SEQ|after=SEQ&limit=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// One page of a room's history.
#[derive(Debug, Serialize)]
struct HistoryPage {
    room: String,
    epoch: u64,
    /// The oldest seq still stored, the newest: where the room's history stands.
    first_seq: u64,
    last_seq: u64,
    /// Oldest first, each in its latest state.
    messages: Vec<MessageNow>,
    /// Whether more messages lie beyond this page in the direction read.
    more: bool,
}

async fn history(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let room = room_of(path)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    let broker = &state.relay.broker;
    let head = broker.head(&room).await?;
    // One extra tells whether more exist.
    let (mut messages, more) = match (query.before, query.after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give before or after, not both: before pages back from a seq, after forward",
            ));
        }
        (before, None) => {
            let mut page = broker.read_states_before(&room, before, limit + 1).await?;
            let more = page.len() > limit;
            if more {
                page.remove(0);
            }
            (page, more)
        }
        (None, Some(after)) => {
            // `limit` entries forward; the texts among them, in their latest state (the
            // newest that many texts up to the last one read are exactly those texts).
            let mut entries = broker.read_entries_after(&room, after, limit + 1).await?;
            let more = entries.len() > limit;
            entries.truncate(limit);
            let texts = entries.iter().filter(|e| e.target().is_none()).count();
            let page = match entries.iter().rev().find(|e| e.target().is_none()) {
                Some(last) => {
                    let bound = last.seq.saturating_add(1);
                    broker.read_states_before(&room, Some(bound), texts).await?
                }
                None => Vec::new(),
            };
            (page, more)
        }
    };
    Ok(Json(HistoryPage {
        epoch: head.epoch,
        first_seq: head.first_seq,
        last_seq: head.last_seq,
        messages: messages
            .drain(..)
            .map(|m| MessageNow::new(&room, head.epoch, m))
            .collect(),
        room,
        more,
    }))
}

/// Who is in a room.
#[derive(Debug, Serialize)]
struct Members {
    room: String,
    /// The nicks with a session in the room on any relay of the cluster, sorted.
    members: Vec<String>,
}

async fn members(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Members>, ApiError> {
    let room = room_of(path)?;
    let members = match state.relay.broker.room_members(&room).await? {
        Some(nicks) => nicks,
        // A relay alone: its own sessions are the room.
        None => state.relay.hub.members(&room),
    };
    Ok(Json(Members { room, members }))
}
