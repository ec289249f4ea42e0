//! Identity over real QUIC: token mode's refusals (`tokens`), room grants, private rooms and
//! direct-message rooms (`rooms`), refresh and expiry on a live session (`refresh`), the
//! page's configuration, the development sign-in and the metrics (`web`), and token mode
//! across a Redis cluster (`cluster`); `measure` compares new sessions per second by mode.

mod cluster;
mod measure;
mod refresh;
mod rooms;
mod tokens;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chitchat_protocol::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{RawClient, TestRelay};

/// The HMAC secret every token-mode test relay uses.
pub const SECRET: &[u8] = b"a test secret that is long enough for HS256 keys";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token with `claims`, signed with `secret`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// A token for `sub` with these room grants, valid for `ttl` seconds, signed with [`SECRET`].
pub fn token(sub: &str, rooms: &[(&str, &str)], ttl: u64) -> String {
    let rooms: serde_json::Map<String, Value> = rooms
        .iter()
        .map(|(p, a)| (p.to_string(), Value::String(a.to_string())))
        .collect();
    hs256(
        SECRET,
        &json!({ "sub": sub, "rooms": rooms, "exp": now() + ttl, "iat": now() }),
    )
}

/// A token-mode relay (HS256 with [`SECRET`]), plus `extra` flags; the key files live in
/// the returned dir.
pub async fn jwt_relay(extra: &[&str]) -> (TestRelay, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let secret = secret.display().to_string();
    let mut flags = vec!["--auth", "jwt", "--auth-hmac-secret-file", secret.as_str()];
    flags.extend_from_slice(extra);
    (TestRelay::start(&flags).await, keys)
}

/// Sends Hello with `token` and returns the relay's first answer.
pub async fn hello_token(c: &mut RawClient, nick: &str, token: Option<String>) -> ServerFrame {
    c.send(&ClientFrame::Hello(Hello {
        version: MIN_PROTOCOL_VERSION,
        nick: nick.into(),
        token,
    }))
    .await;
    c.recv().await
}

/// Connects with `token` and expects Welcome.
pub async fn signed_in(relay: &TestRelay, token: String) -> (RawClient, Welcome) {
    signed_in_at(relay.addr, &relay.ca(), token).await
}

/// Connects to `addr` with `token` and expects Welcome.
pub async fn signed_in_at(addr: SocketAddr, ca: &Path, token: String) -> (RawClient, Welcome) {
    let mut c = RawClient::connect_to(addr, ca, None).await;
    match hello_token(&mut c, "ignored", Some(token)).await {
        ServerFrame::Welcome(w) => (c, w),
        other => panic!("expected Welcome, got {other:?}"),
    }
}

/// Connects with `token`, expects `Error { id: 0, code }` whose message contains `says`,
/// then the close with `code`.
pub async fn refused(relay: &TestRelay, token: Option<String>, code: ErrorCode, says: &str) {
    let mut c = RawClient::connect(relay).await;
    match hello_token(&mut c, "mallory", token).await {
        ServerFrame::Error(e) => {
            assert_eq!((e.id, e.code), (0, code), "{e:?}");
            assert!(
                e.message.contains(says),
                "the refusal should say {says:?}: {}",
                e.message
            );
        }
        other => panic!("expected Error {code}, got {other:?}"),
    }
    let (closed, _) = c.closed().await;
    assert_eq!(closed, u64::from(code.0));
}

/// Expects `Error { id, FORBIDDEN }`.
pub fn forbidden(frame: ServerFrame, id: u32) {
    match frame {
        ServerFrame::Error(e) => assert_eq!((e.id, e.code), (id, ErrorCode::FORBIDDEN), "{e:?}"),
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
}

/// A key pair made with rcgen: its PKCS#8 private key (PEM) for signing and its public
/// key (SPKI PEM and raw bytes).
pub struct TestKey {
    pub private_pem: String,
    pub public_pem: String,
    pub raw: Vec<u8>,
}

impl TestKey {
    pub fn generate(alg: &'static rcgen::SignatureAlgorithm) -> TestKey {
        let pair = rcgen::KeyPair::generate_for(alg).unwrap();
        TestKey {
            private_pem: pair.serialize_pem(),
            public_pem: pair.public_key_pem(),
            raw: pair.public_key_raw().to_vec(),
        }
    }

    /// Signs `claims` with this key's algorithm, naming `kid` if given.
    pub fn sign(&self, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(self.private_pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(self.private_pem.as_bytes()),
            _ => panic!("no test keys for {alg:?}"),
        }
        .unwrap();
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
