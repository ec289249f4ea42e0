//! Minting HS256 tokens with the relay's HMAC secret: `chitchat-relay token` (for scripts,
//! tests and small teams) and the development sign-in (`--auth-dev-login`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chitchat_protocol::validate_nick;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::grants::Grants;
use super::jwt::Claims;
use super::keys::read_hmac_secret;
use crate::clock::now_ms;

/// The longest `--ttl`. Why a year: a token that must outlive that is a password; issue
/// short ones and refresh them.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// `chitchat-relay token`: prints a token signed with the HMAC secret.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Who the token is for (`sub`); a refresh must name the same.
    #[arg(long)]
    pub sub: String,

    /// The nick (`name`; default: the sub).
    #[arg(long)]
    pub name: Option<String>,

    /// A room grant, PATTERN=r|w|rw (`*` is any run of characters); repeat for more.
    #[arg(long = "rooms", value_name = "PATTERN=ACCESS")]
    pub rooms: Vec<String>,

    /// How long the token is valid (e.g. 30s, 15m, 8h, 7d).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// The file holding the relay's HMAC secret (the relay's --auth-hmac-secret-file).
    #[arg(long, env = "CHITCHAT_AUTH_HMAC_SECRET_FILE")]
    pub auth_hmac_secret_file: PathBuf,

    /// The issuer (`iss`) to put in the token (the relay's --auth-issuer).
    #[arg(long, env = "CHITCHAT_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,

    /// The audience (`aud`) to put in the token (the relay's --auth-audience).
    #[arg(long, env = "CHITCHAT_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
}

/// The token `args` describe, checked the way the relay will check it.
pub fn token_command(args: &TokenArgs) -> anyhow::Result<String> {
    let secret = read_hmac_secret(&args.auth_hmac_secret_file)?;
    let mut rooms = BTreeMap::new();
    for grant in &args.rooms {
        let (pattern, access) = grant.rsplit_once('=').with_context(|| {
            format!("--rooms {grant:?}: write PATTERN=r, PATTERN=w or PATTERN=rw")
        })?;
        rooms.insert(pattern.to_string(), access.to_string());
    }
    Grants::from_claim(&rooms).map_err(|e| anyhow::anyhow!("--rooms: {e}"))?;
    if args.ttl.is_zero() || args.ttl > MAX_TTL {
        anyhow::bail!("--ttl must be more than 0 and at most 366 days");
    }
    if args.sub.is_empty() {
        anyhow::bail!("--sub must not be empty");
    }
    let nick = args.name.as_deref().unwrap_or(&args.sub);
    validate_nick(nick).map_err(|e| {
        anyhow::anyhow!(
            "the nick {nick:?} (--name, or --sub without it) is not valid: {}",
            e.message
        )
    })?;
    let now = now_ms() / 1000;
    let claims = Claims {
        sub: args.sub.clone(),
        name: args.name.clone(),
        rooms,
        exp: now + args.ttl.as_secs().max(1),
        iat: Some(now),
        iss: args.auth_issuer.clone(),
        aud: args.auth_audience.clone(),
    };
    sign(&secret, &claims)
}

/// Signs `claims` with HS256.
pub fn sign(secret: &[u8], claims: &Claims) -> anyhow::Result<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .context("signing the token")
}
