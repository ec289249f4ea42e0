//! The room routes of the server API that deal with rooms as records: the directory
//! (`GET /rooms`), creating a room with a topic (`POST /rooms`), reading one (`GET
//! /rooms/{room}`) and changing its topic (`PATCH /rooms/{room}`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chitchat_protocol::{validate_nick, validate_room, validate_text};
use serde::{Deserialize, Serialize};

use super::rooms::{json_error, room_of};
use super::{ApiError, ApiState};
use crate::broker::{RoomChange, RoomRecord};
use crate::clock::now_ms;
use crate::rooms::RoomEntry;

/// Directory entries per page when the request names no limit.
const DEFAULT_PAGE: usize = 50;

/// The most entries one directory request may ask for: each costs the relay a member count
/// and a read of the room's newest message.
const MAX_PAGE: usize = 100;

/// The longest topic, in bytes: a line people read in a room list, not a document.
pub const MAX_TOPIC_BYTES: usize = 256;

/// Who the API's own records name as their creator when the request names nobody.
const API_CREATOR: &str = "api";

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/rooms", get(list).post(create))
        .route("/rooms/{room}", get(show).patch(change))
}

/// A topic, checked: empty, or a line of text of at most [`MAX_TOPIC_BYTES`].
fn check_topic(topic: &str) -> Result<(), ApiError> {
    if topic.is_empty() {
        return Ok(());
    }
    if topic.contains('\n') {
        return Err(ApiError::bad_request("a topic is one line"));
    }
    validate_text(topic, MAX_TOPIC_BYTES)
        .map_err(|e| ApiError::bad_request(format!("topic: {}", e.message)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    search: String,
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Directory {
    rooms: Vec<RoomEntry>,
    /// Pass as `after` for the next page; null at the end.
    next: Option<String>,
}

async fn list(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Directory>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    if query.search.len() > MAX_TOPIC_BYTES {
        return Err(ApiError::bad_request(format!(
            "search is at most {MAX_TOPIC_BYTES} bytes"
        )));
    }
    let (rooms, next) = state
        .relay
        .rooms
        .directory(&query.search, query.after.as_deref(), limit)
        .await?;
    Ok(Json(Directory { rooms, next }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    #[serde(default)]
    topic: String,
    /// Left out of the directory (who may join is the token's grants, in token mode).
    #[serde(default)]
    private: bool,
    /// The nick the record names as its creator.
    created_by: Option<String>,
}

async fn create(
    State(state): State<Arc<ApiState>>,
    body: Result<Json<Create>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(create) = body.map_err(json_error)?;
    validate_room(&create.name).map_err(|e| ApiError::invalid(e.code, e.message))?;
    check_topic(&create.topic)?;
    let created_by = create.created_by.unwrap_or_else(|| API_CREATOR.into());
    validate_nick(&created_by).map_err(|e| ApiError::invalid(e.code, e.message))?;
    let rooms = &state.relay.rooms;
    let (record, made) = rooms
        .create(RoomRecord {
            name: create.name,
            topic: create.topic,
            private: create.private,
            archived: false,
            created_ms: now_ms(),
            created_by,
        })
        .await?;
    if !made {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ROOM_EXISTS",
            format!(
                "room {} exists (made by {}); change its topic with PATCH /api/v1/rooms/{}",
                record.name, record.created_by, record.name
            ),
        ));
    }
    let entry = rooms.entry(record).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

fn no_such_room(room: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NO_SUCH_ROOM",
        format!("room {room} has no record: nobody has made, joined or posted to it"),
    )
}

async fn show(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RoomEntry>, ApiError> {
    let room = room_of(path)?;
    let record = state
        .relay
        .broker
        .room(&room)
        .await?
        .ok_or_else(|| no_such_room(&room))?;
    Ok(Json(state.relay.rooms.entry(record).await?))
}

/// A PATCH body: the fields to change, at least one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    topic: Option<String>,
    /// Archived rooms are read-only and left out of the directory.
    archived: Option<bool>,
    /// Private rooms are left out of the directory.
    private: Option<bool>,
}

async fn change(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Change>, JsonRejection>,
) -> Result<Json<RoomEntry>, ApiError> {
    let room = room_of(path)?;
    let Json(change) = body.map_err(json_error)?;
    let topic_changed = change.topic.is_some();
    if let Some(topic) = &change.topic {
        check_topic(topic)?;
    }
    if change.topic.is_none() && change.archived.is_none() && change.private.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give topic, archived or private",
        ));
    }
    let record = state
        .relay
        .broker
        .update_room(
            &room,
            RoomChange {
                topic: change.topic,
                archived: change.archived,
                private: change.private,
            },
        )
        .await?
        .ok_or_else(|| no_such_room(&room))?;
    if let Some(archived) = change.archived {
        state.relay.rooms.note_archived(&room, archived);
    }
    if topic_changed {
        state.relay.rooms.announce_topic(&record, "");
    }
    Ok(Json(state.relay.rooms.entry(record).await?))
}
