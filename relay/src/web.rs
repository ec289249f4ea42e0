//! The relay's HTTP side: the browser client as an immutable web app, `/healthz`,
//! `/metrics`, `/config.json` and `/relays`, and the public addresses it advertises.
//! `/metrics` and `/relays` move to the admin listener when there is one ([`admin_router`]).
//!
//! The page's WebTransport URLs never echo an arbitrary `Host` header: the host the browser
//! used is kept only if the relay's certificate names it ([`PageHosts`]), otherwise the
//! public address is used, so a shared cache cannot be poisoned with another host. The page
//! carries a Content-Security-Policy allowing only its own assets, its import map (by hash)
//! and the WebTransport and WebSocket origins it lists ([`crate::page_policy`]), and may not
//! be framed.
//!
//! Every asset under web/ is embedded at build time and served at a content-hashed path with
//! `Cache-Control: immutable`; index.html alone is `no-cache`, and carries the deployment's
//! configuration ([`PageConfig`]) and an import map from plain to hashed paths.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::auth::Auth;
use crate::broker::{RelayInfo, SharedBroker};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::page_policy::{
    certified_authority, content_security_policy, host_without_port, websocket_url,
};
use crate::tls::CertState;

/// Where clients and other relays' pages reach this relay, as the relay registry tells
/// them (behind NAT, a proxy or a container, not the addresses it binds).
#[derive(Debug, Clone, clap::Args)]
pub struct PublicConfig {
    /// Public QUIC address (HOST:PORT) of this relay; its WebTransport URL is
    /// https://HOST:PORT/ (default: localhost and the bound UDP port).
    #[arg(long, env = "CHITCHAT_PUBLIC_ADDR", value_parser = parse_host_port)]
    pub public_addr: Option<String>,

    /// Public HTTP URL of this relay's web app (default: http://localhost:PORT/, the bound
    /// HTTP port).
    #[arg(long, env = "CHITCHAT_PUBLIC_HTTP", value_parser = parse_http_url)]
    pub public_http: Option<String>,
}

/// `HOST:PORT`, where HOST may be a bracketed IPv6 address.
fn parse_host_port(value: &str) -> Result<String, String> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(value.to_string())
        }
        _ => Err(format!("{value:?} is not HOST:PORT")),
    }
}

/// An `http://` or `https://` URL.
fn parse_http_url(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not an http:// or https:// URL"))
    }
}

/// The hosts the page may name as this relay: the names its certificate is valid for, so
/// any other `Host` header is answered with the public address instead of echoed.
#[derive(Debug, Clone)]
pub struct PageHosts {
    /// Lower-case host names and addresses (IPv6 in brackets), without ports.
    allowed: Vec<String>,
    /// The public QUIC `host:port`, used for any other `Host`.
    public_quic: String,
    /// The bound UDP port, combined with an allowed host the browser used.
    quic_port: u16,
}

impl PageHosts {
    /// The dev leaf's names (localhost, 127.0.0.1, ::1 and `--tls-name`s) and the public
    /// address's host.
    pub fn new(public: &PublicConfig, tls_names: &[String], quic_port: u16) -> PageHosts {
        let public_quic = public.quic(quic_port);
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|h| h.to_string())
            .collect();
        for name in tls_names {
            let name = name.to_ascii_lowercase();
            let name = if name.contains(':') && !name.starts_with('[') {
                format!("[{name}]")
            } else {
                name
            };
            allowed.push(name);
        }
        allowed.push(host_without_port(&public_quic).to_ascii_lowercase());
        PageHosts {
            allowed,
            public_quic,
            quic_port,
        }
    }

    /// This relay's WebTransport URL for a page requested with `host` (the `Host` header).
    fn webtransport(&self, host: Option<&str>) -> String {
        let public_host = host_without_port(&self.public_quic);
        match host.map(|h| host_without_port(h).to_ascii_lowercase()) {
            Some(h) if h == public_host.to_ascii_lowercase() => {
                format!("https://{}/", self.public_quic)
            }
            Some(h) if self.allowed.contains(&h) => format!("https://{h}:{}/", self.quic_port),
            _ => format!("https://{}/", self.public_quic),
        }
    }
}

impl PageHosts {
    /// The `Host` header as `host[:port]` if the certificate names its host.
    fn certified(&self, host: Option<&str>) -> Option<String> {
        certified_authority(&self.allowed, host?)
    }

    /// This relay's WebSocket URL for a page requested with `host`: the origin the browser
    /// used when the certificate names its host (the scheme of `public_http`), else the one
    /// derived from `public_http`.
    fn websocket(&self, host: Option<&str>, public_http: &str) -> Option<String> {
        let public = websocket_url(public_http)?;
        Some(match self.certified(host) {
            Some(authority) => {
                let scheme = if public.starts_with("wss:") {
                    "wss"
                } else {
                    "ws"
                };
                format!("{scheme}://{authority}/ws")
            }
            None => public,
        })
    }
}

impl PublicConfig {
    /// The public QUIC address, given the bound UDP port.
    pub fn quic(&self, quic_port: u16) -> String {
        self.public_addr
            .clone()
            .unwrap_or_else(|| format!("localhost:{quic_port}"))
    }

    /// The public WebTransport URL, given the bound UDP port.
    pub fn webtransport(&self, quic_port: u16) -> String {
        format!("https://{}/", self.quic(quic_port))
    }

    /// The public HTTP URL, given the bound TCP port.
    pub fn http(&self, http_port: u16) -> String {
        self.public_http
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{http_port}/"))
    }
}

/// The web client's files, embedded at build time (in every build profile).
#[derive(rust_embed::Embed)]
#[folder = "../web/"]
#[include = "index.html"]
#[include = "js/*"]
#[include = "css/*"]
#[include = "img/*"]
#[include = "vendor/*"]
struct WebFiles;

/// Cache policy of hashed assets: their content never changes under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Cache policy of index.html and everything without a hash: always revalidate.
const NO_CACHE: &str = "no-cache";

/// Hex digits of the content hash in asset names: 64 bits, plenty to never collide here.
const HASH_LEN: usize = 16;

/// One embedded asset.
struct Asset {
    data: Cow<'static, [u8]>,
    mime: String,
}

/// The embedded web app: hashed assets and the index template.
pub struct WebApp {
    /// Hashed path (`js/app.<hash>.js`) -> asset.
    hashed: HashMap<String, Asset>,
    /// Plain path (`js/app.js`) -> hashed path.
    plain: HashMap<String, String>,
    index_template: String,
}

impl WebApp {
    /// Reads the embedded files and names each by its content hash.
    pub fn load() -> WebApp {
        let mut hashed = HashMap::new();
        let mut plain = HashMap::new();
        let mut index_template = String::new();
        for path in WebFiles::iter() {
            let Some(file) = WebFiles::get(&path) else {
                continue;
            };
            if path == "index.html" {
                index_template = String::from_utf8_lossy(&file.data).into_owned();
                continue;
            }
            let hash = hex::encode(file.metadata.sha256_hash());
            let name = hashed_name(&path, &hash[..HASH_LEN]);
            plain.insert(path.to_string(), name.clone());
            hashed.insert(
                name,
                Asset {
                    mime: file.metadata.mimetype().to_string(),
                    data: file.data,
                },
            );
        }
        WebApp {
            hashed,
            plain,
            index_template,
        }
    }

    /// index.html for one deployment (asset links rewritten to hashed paths, the import map
    /// and the configuration inserted at the top of `<head>`) and its Content-Security-Policy.
    fn index(&self, config: &PageConfig) -> (String, String) {
        let mut html = self.index_template.clone();
        let mut imports = serde_json::Map::new();
        // Longest paths first, so a path that is a prefix of another is not rewritten inside it.
        let mut plain: Vec<_> = self.plain.iter().collect();
        plain.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (path, name) in plain {
            let from = format!("/assets/{path}");
            let to = format!("/assets/{name}");
            html = html.replace(&format!("\"{from}\""), &format!("\"{to}\""));
            imports.insert(from, serde_json::Value::String(to));
        }
        let import_map = serde_json::json!({ "imports": imports });
        // `</` cannot appear inside the JSON (serde_json escapes nothing there), so escape '<'.
        let config_json = serde_json::to_string(config)
            .unwrap_or_else(|_| "{}".into())
            .replace('<', "\\u003c");
        let import_json = import_map.to_string().replace('<', "\\u003c");
        let inject = format!(
            "\n<script type=\"importmap\">{import_json}</script>\n<script id=\"chitchat-config\" type=\"application/json\">{config_json}</script>\n"
        );
        match html.find("<head>") {
            Some(i) => html.insert_str(i + "<head>".len(), &inject),
            None => html.insert_str(0, &inject),
        }
        let mut connect = config.webtransport.clone();
        connect.extend(config.websocket.iter().cloned());
        connect.extend(config.auth.token_url.iter().cloned());
        (html, content_security_policy(&import_json, &connect))
    }
}

/// `js/app.js` + hash -> `js/app.<hash>.js`.
fn hashed_name(path: &str, hash: &str) -> String {
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    match file.rfind('.') {
        Some(dot) => format!("{dir}{}.{hash}{}", &file[..dot], &file[dot..]),
        None => format!("{dir}{file}.{hash}"),
    }
}

/// The deployment's configuration, written into index.html and served at /config.json.
#[derive(Debug, Clone, Serialize)]
pub struct PageConfig {
    /// This relay's node id.
    pub node: String,
    pub protocol_version: u16,
    /// WebTransport URLs to try, this relay's first.
    pub webtransport: Vec<String>,
    /// WebSocket URLs to try, this relay's first (the page puts its own origin first in any
    /// case), then the other live relays' in the same order as `webtransport`.
    pub websocket: Vec<String>,
    /// SHA-256 (hex) of certificates to accept by hash (the dev leaves of the relays
    /// listed); empty with real certificates.
    pub cert_hashes: Vec<String>,
    /// How the page signs in.
    pub auth: PageAuth,
}

/// The page's sign-in: the relay's auth mode, where a token-mode page gets its token
/// (called with the browser's cookies, again to refresh), and whether `POST
/// /auth/dev-login` is on.
#[derive(Debug, Clone, Serialize)]
pub struct PageAuth {
    /// `open` or `jwt`.
    pub mode: &'static str,
    pub token_url: Option<String>,
    pub dev_login: bool,
}

/// What the HTTP handlers need.
pub struct WebState {
    pub app: WebApp,
    pub node_id: String,
    /// The QUIC (WebTransport) port, combined with the host the browser used.
    pub quic_port: u16,
    /// This relay's public QUIC address (`host:port`), as the registry has it.
    pub public_quic: String,
    /// This relay's public HTTP URL.
    pub public_http: String,
    pub cert: Arc<RwLock<CertState>>,
    pub metrics: Arc<Metrics>,
    pub broker: SharedBroker,
    pub hub: Arc<Hub>,
    pub sessions: Arc<dyn Fn() -> usize + Send + Sync>,
    /// The hosts the page may name as this relay.
    pub pages: PageHosts,
    /// The auth mode, the page's token URL and the development sign-in.
    pub auth: Arc<Auth>,
}

impl WebState {
    /// The page's configuration: this relay at the host the browser used if the relay's
    /// certificate names it (else at its public address), then the other live relays of
    /// the cluster, least busy first (so pages whose relay died spread over the others
    /// rather than all landing on one), by WebTransport and by WebSocket (from each one's
    /// registry `http` URL).
    async fn page_config(&self, headers: &HeaderMap) -> PageConfig {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let mut webtransport = vec![self.pages.webtransport(host)];
        let mut websocket: Vec<String> = self
            .pages
            .websocket(host, &self.public_http)
            .into_iter()
            .collect();
        let mut cert_hashes: Vec<String> = self.cert_hash().into_iter().collect();
        // Without the registry (Redis unreachable) the page still has this relay.
        if let Ok(Some(mut relays)) = self.broker.relays().await {
            relays.retain(|r| r.node != self.node_id);
            relays.sort_by(|a, b| (a.sessions, &a.node).cmp(&(b.sessions, &b.node)));
            for relay in relays {
                if let Some(ws) = websocket_url(&relay.http)
                    && !websocket.contains(&ws)
                {
                    websocket.push(ws);
                }
                if relay.webtransport.is_empty() {
                    continue;
                }
                if !webtransport.contains(&relay.webtransport) {
                    webtransport.push(relay.webtransport);
                }
                if let Some(hash) = relay.cert_sha256
                    && !cert_hashes.contains(&hash)
                {
                    cert_hashes.push(hash);
                }
            }
        }
        PageConfig {
            node: self.node_id.clone(),
            protocol_version: chitchat_protocol::PROTOCOL_VERSION,
            webtransport,
            websocket,
            cert_hashes,
            auth: PageAuth {
                mode: self.auth.mode.as_str(),
                token_url: self.auth.token_url.clone(),
                dev_login: self.auth.dev_login,
            },
        }
    }

    /// SHA-256 (hex) of the dev leaf in service.
    fn cert_hash(&self) -> Option<String> {
        self.cert.read().ok().and_then(|c| c.sha256_hex.clone())
    }

    /// This relay as the registry would list it.
    pub fn own_info(&self) -> RelayInfo {
        RelayInfo {
            node: self.node_id.clone(),
            quic: self.public_quic.clone(),
            webtransport: format!("https://{}/", self.public_quic),
            http: self.public_http.clone(),
            cert_sha256: self.cert_hash(),
            sessions: (self.sessions)() as u64,
            seen_ms: crate::clock::now_ms(),
        }
    }
}

/// The public HTTP routes; `/metrics` and `/relays` too when `with_admin` (no admin
/// listener).
pub fn router(state: Arc<WebState>, with_admin: bool) -> Router {
    let public = Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/config.json", get(config_json))
        .route("/healthz", get(healthz));
    let public = if with_admin {
        public
            .route("/relays", get(relays))
            .route("/metrics", get(metrics))
    } else {
        public
    };
    let auth = state.auth.clone();
    public
        .with_state(state)
        .merge(crate::auth::dev_login::router(auth))
}

/// The admin listener's routes (`--admin-listen`): `/metrics`, `/relays`, `/healthz`.
pub fn admin_router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/relays", get(relays))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn index(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    let (html, csp) = state.app.index(&state.page_config(&headers).await);
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, NO_CACHE),
            // The page names the host it was asked for (when the certificate does).
            (header::VARY, "Host"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

async fn asset(State(state): State<Arc<WebState>>, Path(path): Path<String>) -> Response {
    let (asset, cache) = match state.app.hashed.get(&path) {
        Some(a) => (a, IMMUTABLE),
        // A plain path (e.g. a module not in the import map): served, never cached.
        None => match state
            .app
            .plain
            .get(&path)
            .and_then(|h| state.app.hashed.get(h))
        {
            Some(a) => (a, NO_CACHE),
            None => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
        },
    };
    let mut response = asset.data.clone().into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(&asset.mime) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn config_json(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    (
        [
            (header::CACHE_CONTROL, NO_CACHE),
            (header::VARY, "Host"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        axum::Json(state.page_config(&headers).await),
    )
        .into_response()
}

/// The live relays: `{"node": <this relay>, "relays": [...]}`, by node id; this relay alone
/// without a cluster. 503 if the registry could not be read lately.
async fn relays(State(state): State<Arc<WebState>>) -> Response {
    let relays = match state.broker.relays().await {
        Ok(Some(relays)) => relays,
        Ok(None) => vec![state.own_info()],
        Err(e) => {
            let body = serde_json::json!({ "node": state.node_id, "error": e.to_string() });
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
    };
    let body = serde_json::json!({ "node": state.node_id, "relays": relays });
    ([(header::CACHE_CONTROL, NO_CACHE)], axum::Json(body)).into_response()
}

async fn healthz(State(state): State<Arc<WebState>>) -> Response {
    let ready = state.broker.is_ready();
    let body = serde_json::json!({
        "status": if ready { "ok" } else { "unavailable" },
        "node": state.node_id,
        "sessions": (state.sessions)(),
        "rooms": state.hub.room_count(),
        "broker_ready": ready,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<WebState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_keep_dir_and_extension() {
        assert_eq!(hashed_name("js/app.js", "abc"), "js/app.abc.js");
        assert_eq!(hashed_name("css/app.min.css", "abc"), "css/app.min.abc.css");
        assert_eq!(hashed_name("LICENSE", "abc"), "LICENSE.abc");
    }

    #[test]
    fn only_certified_hosts_are_named_and_others_get_the_public_address() {
        let public = PublicConfig {
            public_addr: Some("chat.example.org:443".into()),
            public_http: None,
        };
        let pages = PageHosts::new(&public, &["relay.lan".into(), "::2".into()], 4433);
        assert_eq!(
            pages.webtransport(Some("chat.example.org")),
            "https://chat.example.org:443/"
        );
        assert_eq!(
            pages.webtransport(Some("localhost:8080")),
            "https://localhost:4433/"
        );
        assert_eq!(
            pages.webtransport(Some("RELAY.lan")),
            "https://relay.lan:4433/"
        );
        assert_eq!(pages.webtransport(Some("[::2]:80")), "https://[::2]:4433/");
        for hostile in ["evil.example", "evil.example:4433", "x\"><script>", ""] {
            assert_eq!(
                pages.webtransport(Some(hostile)),
                "https://chat.example.org:443/"
            );
        }
        assert_eq!(pages.webtransport(None), "https://chat.example.org:443/");
    }

    #[test]
    fn the_websocket_url_is_the_certified_origin_or_the_public_one() {
        let public = PublicConfig {
            public_addr: Some("chat.example.org:443".into()),
            public_http: None,
        };
        let pages = PageHosts::new(&public, &["relay.lan".into()], 4433);
        let http = "http://localhost:8080/";
        let ws = |host| pages.websocket(host, http);
        assert_eq!(
            ws(Some("[::1]:8080")).as_deref(),
            Some("ws://[::1]:8080/ws")
        );
        let https = pages.websocket(Some("Relay.LAN"), "https://relay.lan/");
        assert_eq!(https.as_deref(), Some("wss://relay.lan/ws"));
        for other in [Some("evil.example:8080"), Some("[::1]:8080/evil"), None] {
            assert_eq!(
                ws(other).as_deref(),
                Some("ws://localhost:8080/ws"),
                "{other:?}"
            );
        }
    }
}
