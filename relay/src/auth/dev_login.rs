//! `POST /auth/dev-login` (`--auth-dev-login`, for development only): mints a short-lived
//! token for any name, sent as a form (`name=...`) or as JSON (`{"name": ...}`). The relay
//! refuses to start with it unless every listen address is loopback, and logs it loudly.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chitchat_protocol::validate_nick;

use super::Auth;
use super::jwt::Claims;
use super::mint::sign;
use crate::clock::now_ms;

/// How long a development token lasts. Why 10 minutes: long enough to try things, short
/// enough that the page's refresh runs often while developing.
pub const DEV_LOGIN_TTL: Duration = Duration::from_secs(600);

/// The largest dev-login body. Why 1 KiB: it carries one nick.
const DEV_LOGIN_BODY: usize = 1024;

/// The dev-login form or JSON body.
#[derive(serde::Deserialize)]
struct DevLogin {
    name: String,
}

/// The route, on the public HTTP port.
pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route(
            "/auth/dev-login",
            axum::routing::post(dev_login).layer(DefaultBodyLimit::max(DEV_LOGIN_BODY)),
        )
        .with_state(auth)
}

/// Answers `{"token", "nick", "expires_ms"}`: a token for that nick granting every room for
/// [`DEV_LOGIN_TTL`]; 404 when the development sign-in is off, 4xx for a bad body or nick.
async fn dev_login(State(auth): State<Arc<Auth>>, request: Request) -> Response {
    if !auth.dev_login {
        return (StatusCode::NOT_FOUND, "the development sign-in is off").into_response();
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let name = if json {
        axum::Json::<DevLogin>::from_request(request, &())
            .await
            .map(|j| j.0.name)
            .map_err(IntoResponse::into_response)
    } else {
        axum::Form::<DevLogin>::from_request(request, &())
            .await
            .map(|f| f.0.name)
            .map_err(IntoResponse::into_response)
    };
    let name = match name {
        Ok(n) => n,
        Err(rejection) => return rejection,
    };
    match mint(&auth, &name) {
        Ok((token, expires_ms)) => {
            tracing::warn!(%name, "development sign-in");
            let body =
                serde_json::json!({ "token": token, "nick": name, "expires_ms": expires_ms });
            ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
        }
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// A token for `name` granting every room, and when it expires (ms since the Unix epoch).
fn mint(auth: &Auth, name: &str) -> Result<(String, u64), String> {
    let secret = auth
        .hmac_secret
        .as_deref()
        .ok_or("the development sign-in needs --auth-hmac-secret-file")?;
    validate_nick(name).map_err(|e| e.message)?;
    let now = now_ms() / 1000;
    let exp = now + DEV_LOGIN_TTL.as_secs();
    let verifier = auth.verifier.as_ref();
    let claims = Claims {
        sub: name.to_string(),
        name: Some(name.to_string()),
        rooms: [("*".to_string(), "rw".to_string())].into(),
        exp,
        iat: Some(now),
        iss: verifier.and_then(|v| v.issuer.clone()),
        aud: verifier.and_then(|v| v.audience.clone()),
    };
    let token = sign(secret, &claims).map_err(|e| e.to_string())?;
    Ok((token, exp * 1000))
}
