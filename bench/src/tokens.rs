//! What sessions sign in with: nothing (open mode, unclaimed guest nicks), a guest secret
//! each (open mode as the page and the CLI use it: every session claims its nick), or a
//! token each against relays in token mode (`--auth jwt`): one JWT per session, signed
//! HS256 with the relay's HMAC secret or ES256 with a private key whose public half the
//! relay was given (`--auth-public-keys`). Secrets and tokens are made before a workload's
//! clock starts, so the load generator's signing is not counted against the relay's work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// How long minted tokens are valid: longer than any workload runs, so no session is warned
/// of expiry (and sends no `Refresh`) while it is measured.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The token flags of `chitchat-bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Sign one HS256 token per session with the secret in this file (the relay's
    /// --auth-hmac-secret-file).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token_es256_key", "guest_secrets"])]
    pub token_hs256_secret: Option<PathBuf>,

    /// Sign one ES256 token per session with this P-256 private key (PKCS#8 PEM); the relay
    /// has its public key (--auth-public-keys).
    #[arg(long, value_name = "FILE", conflicts_with = "guest_secrets")]
    pub token_es256_key: Option<PathBuf>,

    /// Give every session a fresh guest secret, so each claims its nick (open mode as the
    /// page and the CLI use it).
    #[arg(long)]
    pub guest_secrets: bool,

    /// The issuer (`iss`) tokens carry (the relay's --auth-issuer).
    #[arg(long, value_name = "ISS")]
    pub token_issuer: Option<String>,

    /// The audience (`aud`) tokens carry (the relay's --auth-audience).
    #[arg(long, value_name = "AUD")]
    pub token_audience: Option<String>,
}

/// The claims of a bench token: every room readable and writable.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    rooms: BTreeMap<&'static str, &'static str>,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Makes one credential per session.
pub enum Minter {
    /// A fresh guest secret (open mode).
    GuestSecret,
    /// A token signed with `key`.
    Jwt(Box<Jwt>),
}

/// Signs one token per session.
pub struct Jwt {
    key: EncodingKey,
    header: Header,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Minter {
    /// The minter the flags ask for; `None` for sessions with neither a secret nor a token.
    pub fn from_args(args: &TokenArgs) -> anyhow::Result<Option<Self>> {
        if args.guest_secrets {
            return Ok(Some(Minter::GuestSecret));
        }
        let (key, alg) = match (&args.token_hs256_secret, &args.token_es256_key) {
            (Some(path), _) => {
                let secret = read(path)?;
                let secret = secret.trim_ascii();
                (EncodingKey::from_secret(secret), Algorithm::HS256)
            }
            (None, Some(path)) => {
                let key = EncodingKey::from_ec_pem(&read(path)?).with_context(|| {
                    format!("{}: not a P-256 private key in PKCS#8 PEM", path.display())
                })?;
                (key, Algorithm::ES256)
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Minter::Jwt(Box::new(Jwt {
            key,
            header: Header::new(alg),
            issuer: args.token_issuer.clone(),
            audience: args.token_audience.clone(),
        }))))
    }

    /// The mode's name, as reports show it (`open+secret`, `HS256`, `ES256`).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Minter::GuestSecret => "open+secret",
            Minter::Jwt(jwt) if jwt.header.alg == Algorithm::ES256 => "ES256",
            Minter::Jwt(_) => "HS256",
        }
    }

    /// `nick`'s credential: a guest secret, or a token granting every room.
    pub fn mint(&self, nick: &str) -> anyhow::Result<String> {
        match self {
            Minter::GuestSecret => Ok(chitchat_cli::guest::new_secret()),
            Minter::Jwt(jwt) => jwt.mint(nick),
        }
    }
}

impl Jwt {
    fn mint(&self, nick: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: nick,
            rooms: BTreeMap::from([("*", "rw")]),
            exp: now + TOKEN_TTL.as_secs(),
            iat: now,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).context("signing a token")
    }
}

/// A key file, read whole (key files are small).
fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The auth mode a run used, as reports show it: `open`, `open+secret`, or the token
/// algorithm.
pub fn mode(minter: Option<&Minter>) -> &'static str {
    minter.map_or("open", Minter::algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hs256_token_carries_the_claims_the_relay_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let args = TokenArgs {
            token_hs256_secret: Some(path),
            token_es256_key: None,
            token_issuer: Some("bench".into()),
            token_audience: None,
            guest_secrets: false,
        };
        let minter = Minter::from_args(&args).unwrap().unwrap();
        let token = minter.mint("c7").unwrap();
        let key = jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_issuer(&["bench"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "c7");
        assert_eq!(data.claims["rooms"]["*"], "rw");
        assert_eq!(mode(Some(&minter)), "HS256");
    }

    #[test]
    fn guest_secrets_are_fresh_and_valid() {
        let args = TokenArgs {
            token_hs256_secret: None,
            token_es256_key: None,
            token_issuer: None,
            token_audience: None,
            guest_secrets: true,
        };
        let minter = Minter::from_args(&args).unwrap().unwrap();
        let (a, b) = (minter.mint("c1").unwrap(), minter.mint("c1").unwrap());
        assert_ne!(a, b);
        chitchat_protocol::validate_guest_secret(&a).unwrap();
        assert_eq!(mode(Some(&minter)), "open+secret");
    }
}
