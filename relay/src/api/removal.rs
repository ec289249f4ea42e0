//! `DELETE /rooms/{room}/messages/{seq}`: the operator removes a message. The removal is a
//! delete entry in the room's log like a member's (clients see a tombstone, a resuming one
//! receives it), made without the author check: the API key is the authority.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::delete;
use chitchat_protocol::{EntryBody, validate_nick};
use serde::{Deserialize, Serialize};

use super::rooms::room_of;
use super::{ApiError, ApiState};
use crate::broker::NewEntry;

/// Who the delete entry names when the request names nobody.
const OPERATOR: &str = "operator";

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/rooms/{room}/messages/{seq}", delete(remove))
}

/// `?by=NICK`: the name the delete entry carries (default `operator`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    by: Option<String>,
}

/// The delete entry stored.
#[derive(Debug, Serialize)]
struct Removed {
    room: String,
    epoch: u64,
    /// The delete entry's own seq.
    seq: u64,
    /// The removed message's seq.
    target: u64,
    by: String,
    /// Milliseconds since the Unix epoch when the relay stored the delete.
    ts: u64,
}

async fn remove(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<Json<Removed>, ApiError> {
    let Path((room, seq)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let room = room_of(Ok(Path(room)))?;
    let target: u64 = seq
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{seq:?} is not a message seq")))?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let by = query.by.unwrap_or_else(|| OPERATOR.to_owned());
    validate_nick(&by).map_err(|e| ApiError::invalid(e.code, e.message))?;
    let stored = state
        .relay
        .broker
        .append(NewEntry {
            room,
            from: by,
            body: EntryBody::Delete { target },
            send_id: None,
            by_operator: true,
        })
        .await?;
    Ok(Json(Removed {
        room: stored.room,
        epoch: stored.epoch,
        seq: stored.seq,
        target,
        by: stored.from,
        ts: stored.ts,
    }))
}
