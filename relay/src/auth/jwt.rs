//! Verifying a token (jsonwebtoken does the cryptography): its size, its header (`alg:
//! none` and algorithm confusion are refused before any key is tried), the key chosen by
//! `alg` and `kid`, the signature, `exp`, `nbf`, `iss`, `aud`, and the claims the relay
//! uses (`sub`, `name`, `rooms`). Every refusal says what to fix.

use std::collections::BTreeMap;

use base64::Engine;
use chitchat_protocol::{MAX_TOKEN_LEN, validate_nick};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::grants::Grants;
use super::keys::PublicKeys;
use super::{Refusal, RefusalReason};

/// Clock skew allowed between the token's issuer and the relay, in seconds, on `exp` and
/// `nbf`. Why 5: servers keep time by NTP to well under a second; a minute (the crate's
/// default) would keep an expired token working for that long.
const LEEWAY_SECS: u64 = 5;

/// The claims the relay reads and the token subcommand writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token is for; a refresh must name the same.
    pub sub: String,
    /// The nick (default: `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Room patterns and their grants (`r`, `w`, `rw`).
    #[serde(default)]
    pub rooms: BTreeMap<String, String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer (checked by the crate against `--auth-issuer`).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (checked by the crate against `--auth-audience`).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// What a good token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub sub: String,
    pub nick: String,
    pub grants: Grants,
    /// `exp`, in milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

/// The keys and the expected issuer and audience.
pub struct Verifier {
    pub hmac: Option<DecodingKey>,
    pub public: PublicKeys,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// The part of the header read before choosing a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The time claims, read without verifying, only to word a refusal.
#[derive(Deserialize)]
struct RawTimes {
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
}

fn refuse(reason: RefusalReason, message: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
    }
}

fn segment<T: serde::de::DeserializeOwned>(token: &str, index: usize) -> Option<T> {
    let part = token.split('.').nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Verifier {
    /// Verifies `token`; the refusal's message says what is wrong.
    pub fn verify(&self, token: &str) -> Result<Verified, Refusal> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(refuse(
                RefusalReason::TooLong,
                format!(
                    "the token is {} bytes; the most is {MAX_TOKEN_LEN} (grant rooms by pattern)",
                    token.len()
                ),
            ));
        }
        let malformed = || {
            refuse(
                RefusalReason::Malformed,
                "not a JWT: expected three base64url parts separated by '.', with a JSON header",
            )
        };
        if !token.contains('.') {
            // What a client in open mode sends: its guest secret.
            return Err(refuse(
                RefusalReason::Malformed,
                "this relay is in token mode and wants a signed token (JWT), not a guest secret: \
                 sign in through the operator's application (CLI: --token, --token-file or \
                 --token-command)",
            ));
        }
        if token.split('.').count() != 3 {
            return Err(malformed());
        }
        let header: RawHeader = segment(token, 0).ok_or_else(malformed)?;
        let (key, alg) = self.key_for(&header)?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| self.explain(token, alg, e.into_kind()))?
            .claims;
        // The leeway is for the issuer's clock at `nbf`; at `exp` the session is closed
        // without one, so a token past it is not admitted again.
        if claims.exp.saturating_mul(1000) <= crate::clock::now_ms() {
            return Err(self.explain(token, alg, ErrorKind::ExpiredSignature));
        }
        let nick = claims.name.clone().unwrap_or_else(|| claims.sub.clone());
        validate_nick(&nick).map_err(|e| {
            refuse(
                RefusalReason::Claims,
                format!(
                    "the token's name {nick:?} is not a valid nick: {}",
                    e.message
                ),
            )
        })?;
        let grants = Grants::from_claim(&claims.rooms)
            .map_err(|e| refuse(RefusalReason::Claims, format!("the token's {e}")))?;
        Ok(Verified {
            sub: claims.sub,
            nick,
            grants,
            expires_ms: claims.exp.saturating_mul(1000),
        })
    }

    /// The key for this header: HMAC tokens only with the HMAC secret, public-key tokens only
    /// with the public key their `kid` names, each key with its one algorithm.
    fn key_for(&self, header: &RawHeader) -> Result<(&DecodingKey, Algorithm), Refusal> {
        let alg = header.alg.as_str();
        if alg.eq_ignore_ascii_case("none") {
            return Err(refuse(
                RefusalReason::AlgNone,
                "alg \"none\": unsigned tokens are never accepted; sign it",
            ));
        }
        if alg.starts_with("HS") {
            let Some(key) = &self.hmac else {
                return Err(refuse(
                    RefusalReason::Algorithm,
                    format!(
                        "alg {alg}: an HMAC-signed token, but this relay verifies only public-key \
                         signatures (ES256, RS256, EdDSA); sign with your private key"
                    ),
                ));
            };
            if alg != "HS256" {
                return Err(refuse(
                    RefusalReason::Algorithm,
                    format!("alg {alg} is not supported; sign with HS256"),
                ));
            }
            return Ok((key, Algorithm::HS256));
        }
        let public = match &header.kid {
            Some(kid) => self.public.by_kid.get(kid).ok_or_else(|| {
                refuse(
                    RefusalReason::UnknownKid,
                    format!("kid {kid:?} names no key in --auth-public-keys"),
                )
            })?,
            None => self.public.unnamed.as_ref().ok_or_else(|| {
                let message = if self.public.is_empty() {
                    format!(
                        "alg {alg}: a public-key token, but this relay verifies only HMAC (HS256) \
                         tokens"
                    )
                } else {
                    "the token has no kid; name one of the keys in --auth-public-keys".into()
                };
                refuse(RefusalReason::UnknownKid, message)
            })?,
        };
        let expected = format!("{:?}", public.alg);
        if alg != expected {
            return Err(refuse(
                RefusalReason::Algorithm,
                format!("alg {alg} does not match the key, which verifies {expected}"),
            ));
        }
        Ok((&public.key, public.alg))
    }

    fn explain(&self, token: &str, alg: Algorithm, kind: ErrorKind) -> Refusal {
        let times: Option<RawTimes> = segment(token, 1);
        let at = |secs: Option<u64>| {
            secs.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s as i64).ok())
                .map(|t| format!(" ({t} UTC)"))
                .unwrap_or_default()
        };
        match kind {
            ErrorKind::InvalidSignature => refuse(
                RefusalReason::Signature,
                format!("bad {alg:?} signature: the token was not signed with this relay's key"),
            ),
            ErrorKind::ExpiredSignature => refuse(
                RefusalReason::Expired,
                format!(
                    "the token expired{}; get a fresh one",
                    at(times.and_then(|t| t.exp))
                ),
            ),
            ErrorKind::ImmatureSignature => refuse(
                RefusalReason::NotYetValid,
                format!(
                    "the token is not valid yet (nbf{}); check the issuer's clock",
                    at(times.and_then(|t| t.nbf))
                ),
            ),
            ErrorKind::InvalidIssuer => refuse(
                RefusalReason::Issuer,
                format!(
                    "wrong issuer: this relay accepts iss {:?}",
                    self.issuer.as_deref().unwrap_or_default()
                ),
            ),
            ErrorKind::InvalidAudience => refuse(
                RefusalReason::Audience,
                format!(
                    "wrong audience: this relay accepts aud {:?}",
                    self.audience.as_deref().unwrap_or_default()
                ),
            ),
            ErrorKind::MissingRequiredClaim(claim) => refuse(
                RefusalReason::Claims,
                format!("the token has no {claim:?} claim"),
            ),
            ErrorKind::InvalidAlgorithm => refuse(
                RefusalReason::Algorithm,
                format!("the token's alg does not match the key's ({alg:?})"),
            ),
            ErrorKind::Json(e) => refuse(
                RefusalReason::Malformed,
                format!(
                    "the token's claims do not parse ({e}): it needs sub, exp, and may have name and rooms"
                ),
            ),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => refuse(
                RefusalReason::Malformed,
                "not a JWT: a part is not valid base64url",
            ),
            other => refuse(
                RefusalReason::Signature,
                format!("the signature could not be checked: {other:?}"),
            ),
        }
    }
}
