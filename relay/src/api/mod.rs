//! The server API on the HTTP port, for the operator's own backend: JSON over HTTP under
//! `/api/v1`, each request carrying one of the relay's API keys (`Authorization: Bearer
//! KEY`, keys from `--api-key-file`). Without a key file the API is off and every route
//! answers 404 saying so. The routes publish into a room as a named sender, read its
//! history and list its members ([`rooms`]), and keep rooms as records: the directory,
//! creating a room with a topic, changing the topic ([`directory`]); docs/api.md describes them and
//! docs/openapi.json is their contract (the tests validate every answer against it).
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with an HTTP status: the
//! code is the wire protocol's error name where one fits (`INVALID_ROOM`, `TEXT_TOO_LONG`,
//! `UNAVAILABLE`, ...), else one of the API's own (`UNAUTHORIZED`, `API_DISABLED`,
//! `BAD_REQUEST`, `NOT_FOUND`).

mod directory;
mod keys;
mod removal;
mod rooms;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chitchat_protocol::ErrorCode;
use serde::Serialize;

pub use keys::{ApiKeys, KeysError};

use crate::broker::BrokerError;
use crate::session::RelayState;

/// The largest request body the API reads: a message is at most the relay's text limit
/// (64 KiB at most) plus a nick and a little JSON.
const MAX_BODY: usize = 80 * 1024;

/// The API's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiConfig {
    /// Turns on the server API (`/api/v1` on the HTTP port) for clients presenting one of the
    /// keys in this file (`Authorization: Bearer KEY`): one key per line, at least 32
    /// characters each; blank lines and lines starting with `#` are ignored.
    #[arg(long, value_name = "FILE", env = "CHITCHAT_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
}

/// What the API's handlers need.
pub struct ApiState {
    pub relay: Arc<RelayState>,
    /// `None`: the API is off.
    pub keys: Option<ApiKeys>,
}

/// Where the API's routes live on the HTTP port.
pub const PREFIX: &str = "/api/v1";

/// The API's routes under [`PREFIX`], each behind the key check.
pub fn router(state: Arc<ApiState>) -> Router {
    let api = rooms::routes()
        .merge(directory::routes())
        .merge(removal::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    Router::new().nest(PREFIX, api)
}

/// An API error: an HTTP status and the JSON body naming the code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A request the API cannot use (`BAD_REQUEST`, 400).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// A value the protocol's rules refuse, under the protocol's code (400).
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code.name(), message)
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> ApiError {
        let status = match &e {
            BrokerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            BrokerError::LookAlikeNick(_) => StatusCode::CONFLICT,
            BrokerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            BrokerError::Refused { code, .. } if *code == ErrorCode::NO_SUCH_MESSAGE => {
                StatusCode::NOT_FOUND
            }
            BrokerError::Refused { code, .. } if *code == ErrorCode::NOT_AUTHOR => {
                StatusCode::FORBIDDEN
            }
            BrokerError::Refused { .. } => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code().name(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chitchat\""),
            );
        }
        response
    }
}

/// Lets a request through only with a valid key; answers for a disabled API first, so an
/// operator probing it learns why.
async fn authorize(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let Some(keys) = &state.keys else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "API_DISABLED",
            "the server API is off on this relay: start it with --api-key-file FILE",
        )
        .into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    let refusal = match presented {
        None => "no API key: send the header 'Authorization: Bearer KEY'",
        Some(key) if keys.accepts(key) => {
            state.relay.metrics.api_request();
            return next.run(request).await;
        }
        Some(_) => "the API key is not one of this relay's (--api-key-file)",
    };
    state.relay.metrics.api_refused();
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", refusal).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such API route; see docs/api.md",
    )
}
