//! Who a session is: the relay's auth mode (`--auth open|jwt`), the [`Identity`] each
//! `Hello` is admitted with, and what that identity may do in a room.
//!
//! Open mode (the default): the nick is the client's; the session is *verified* when its
//! `Hello` carried a guest secret (the nick claims, checked in the same handshake, refuse a
//! secret that does not match). Token mode: the nick and the room grants come from a JWT
//! ([`jwt`]) checked with the configured keys ([`keys`]); the token expires on the live
//! session and is replaced by `Refresh`. Room patterns and grants are in [`grants`]; the
//! token subcommand and the development sign-in mint tokens in [`mint`].

pub mod dev_login;
pub mod grants;
pub mod jwt;
pub mod keys;
pub mod mint;

use std::path::PathBuf;

use chitchat_protocol::{ErrorCode, Hello, dm_members, validate_guest_secret};
use jsonwebtoken::DecodingKey;

use grants::{Access, Grants, RoomPattern};
use jwt::Verifier;
use keys::{PublicKeys, read_hmac_secret, read_public_keys};

/// How sessions prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Guest nicks, claimed by a secret the client keeps.
    Open,
    /// A signed token (JWT) names the user and grants rooms.
    Jwt,
}

impl AuthMode {
    /// `open` or `jwt` (metrics labels, /config.json).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Open => "open",
            AuthMode::Jwt => "jwt",
        }
    }
}

/// The auth flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// How sessions are identified: `open` (guest nicks claimed with a secret) or `jwt`
    /// (a signed token names the user and grants rooms). The same on every relay of a
    /// cluster.
    #[arg(long = "auth", env = "CHITCHAT_AUTH", value_enum, default_value_t = AuthMode::Open)]
    pub mode: AuthMode,

    /// Token mode: a file holding the HS256 secret (at least 32 bytes).
    #[arg(long, env = "CHITCHAT_AUTH_HMAC_SECRET_FILE")]
    pub auth_hmac_secret_file: Option<PathBuf>,

    /// Token mode: public keys, a PEM public key (for tokens without `kid`) or a JWKS
    /// (chosen by `kid`); ES256, RS256 or EdDSA.
    #[arg(long, env = "CHITCHAT_AUTH_PUBLIC_KEYS")]
    pub auth_public_keys: Option<PathBuf>,

    /// Token mode: the issuer (`iss`) every token must name.
    #[arg(long, env = "CHITCHAT_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,

    /// Token mode: the audience (`aud`) every token must name.
    #[arg(long, env = "CHITCHAT_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,

    /// A room pattern (`*` is any run of characters) whose rooms need a read grant to be
    /// joined, read or listed; repeat for more. Token mode only.
    #[arg(
        long = "private-rooms",
        env = "CHITCHAT_PRIVATE_ROOMS",
        value_delimiter = ','
    )]
    pub private_rooms: Vec<String>,

    /// Token mode: the URL the web page calls (with the browser's cookies) for a token,
    /// and again to refresh it.
    #[arg(long, env = "CHITCHAT_AUTH_TOKEN_URL")]
    pub auth_token_url: Option<String>,

    /// Token mode, development only: `POST /auth/dev-login` mints a token for any name.
    /// Refused unless every listen address is loopback.
    #[arg(long, env = "CHITCHAT_AUTH_DEV_LOGIN")]
    pub auth_dev_login: bool,
}

/// A configuration that cannot start, said so plainly.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("{0}")]
    Flags(String),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
}

/// Why a token or a guest secret was refused: a small fixed set, the `reason` label of
/// `chitchat_auth_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    Missing,
    TooLong,
    Malformed,
    AlgNone,
    Algorithm,
    UnknownKid,
    Signature,
    Issuer,
    Audience,
    NotYetValid,
    Expired,
    Claims,
    OtherUser,
}

impl RefusalReason {
    /// Every reason, for registering the metric's labels.
    pub const ALL: [RefusalReason; 13] = [
        RefusalReason::Missing,
        RefusalReason::TooLong,
        RefusalReason::Malformed,
        RefusalReason::AlgNone,
        RefusalReason::Algorithm,
        RefusalReason::UnknownKid,
        RefusalReason::Signature,
        RefusalReason::Issuer,
        RefusalReason::Audience,
        RefusalReason::NotYetValid,
        RefusalReason::Expired,
        RefusalReason::Claims,
        RefusalReason::OtherUser,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Missing => "missing",
            RefusalReason::TooLong => "too_long",
            RefusalReason::Malformed => "malformed",
            RefusalReason::AlgNone => "alg_none",
            RefusalReason::Algorithm => "algorithm",
            RefusalReason::UnknownKid => "unknown_kid",
            RefusalReason::Signature => "signature",
            RefusalReason::Issuer => "issuer",
            RefusalReason::Audience => "audience",
            RefusalReason::NotYetValid => "not_yet_valid",
            RefusalReason::Expired => "expired",
            RefusalReason::Claims => "claims",
            RefusalReason::OtherUser => "other_user",
        }
    }
}

/// A refused token or secret: `UNAUTHORIZED`, with a message a developer can act on.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

impl Refusal {
    /// The error code a refusal is answered with.
    pub const CODE: ErrorCode = ErrorCode::UNAUTHORIZED;
}

/// Who a session is, made in the handshake and replaced by a `Refresh`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub nick: String,
    pub mode: AuthMode,
    /// Open mode: the Hello carried a guest secret (so the nick's claim is this session's).
    /// Token mode: always.
    pub verified: bool,
    /// Token mode: the token's `sub`.
    pub sub: Option<String>,
    /// Token mode: the rooms granted.
    pub grants: Grants,
    /// Token mode: when the token expires, in milliseconds since the Unix epoch.
    pub expires_ms: Option<u64>,
}

impl Identity {
    /// A guest without a secret: what a session is before its `Hello` is admitted.
    pub fn guest(nick: &str) -> Identity {
        Identity {
            nick: nick.to_string(),
            mode: AuthMode::Open,
            verified: false,
            sub: None,
            grants: Grants::default(),
            expires_ms: None,
        }
    }
}

/// The relay's auth: its mode, keys and private room patterns.
pub struct Auth {
    pub mode: AuthMode,
    verifier: Option<Verifier>,
    private: Vec<RoomPattern>,
    /// The HMAC secret, kept for the development sign-in.
    hmac_secret: Option<Vec<u8>>,
    /// `--auth-token-url`.
    pub token_url: Option<String>,
    /// `--auth-dev-login`.
    pub dev_login: bool,
}

impl Auth {
    /// Reads the keys and checks that the flags fit together.
    pub fn load(config: &AuthConfig) -> Result<Auth, AuthSetupError> {
        let flags = |m: &str| Err(AuthSetupError::Flags(m.to_string()));
        let private = config
            .private_rooms
            .iter()
            .map(|p| {
                RoomPattern::parse(p)
                    .map_err(|e| AuthSetupError::Flags(format!("--private-rooms: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if config.mode == AuthMode::Open {
            let token_only = [
                (
                    config.auth_hmac_secret_file.is_some(),
                    "--auth-hmac-secret-file",
                ),
                (config.auth_public_keys.is_some(), "--auth-public-keys"),
                (config.auth_issuer.is_some(), "--auth-issuer"),
                (config.auth_audience.is_some(), "--auth-audience"),
                (!private.is_empty(), "--private-rooms"),
                (config.auth_token_url.is_some(), "--auth-token-url"),
                (config.auth_dev_login, "--auth-dev-login"),
            ];
            if let Some((_, flag)) = token_only.iter().find(|(set, _)| *set) {
                return flags(&format!(
                    "{flag} needs --auth jwt: in open mode nobody holds grants or tokens"
                ));
            }
            return Ok(Auth {
                mode: AuthMode::Open,
                verifier: None,
                private,
                hmac_secret: None,
                token_url: None,
                dev_login: false,
            });
        }
        let hmac_secret = config
            .auth_hmac_secret_file
            .as_deref()
            .map(read_hmac_secret)
            .transpose()?;
        let public = match &config.auth_public_keys {
            Some(path) => read_public_keys(path)?,
            None => PublicKeys::default(),
        };
        if hmac_secret.is_none() && public.is_empty() {
            return flags(
                "--auth jwt needs --auth-hmac-secret-file or --auth-public-keys to verify tokens",
            );
        }
        if config.auth_dev_login && hmac_secret.is_none() {
            return flags("--auth-dev-login mints HS256 tokens: it needs --auth-hmac-secret-file");
        }
        if let Some(url) = &config.auth_token_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return flags(&format!("--auth-token-url {url:?} is not an http(s) URL"));
        }
        Ok(Auth {
            mode: AuthMode::Jwt,
            verifier: Some(Verifier {
                hmac: hmac_secret.as_deref().map(DecodingKey::from_secret),
                public,
                issuer: config.auth_issuer.clone(),
                audience: config.auth_audience.clone(),
            }),
            private,
            hmac_secret,
            token_url: config.auth_token_url.clone(),
            dev_login: config.auth_dev_login,
        })
    }

    /// The identity a `Hello` is admitted with, or why not.
    pub fn admit(&self, hello: &Hello) -> Result<Identity, Refusal> {
        let Some(verifier) = &self.verifier else {
            let verified = match &hello.token {
                None => false,
                Some(secret) => {
                    validate_guest_secret(secret).map_err(|e| Refusal {
                        reason: RefusalReason::Malformed,
                        message: e.message,
                    })?;
                    true
                }
            };
            return Ok(Identity {
                nick: hello.nick.clone(),
                mode: AuthMode::Open,
                verified,
                sub: None,
                grants: Grants::default(),
                expires_ms: None,
            });
        };
        let Some(token) = &hello.token else {
            return Err(Refusal {
                reason: RefusalReason::Missing,
                message:
                    "this relay requires a token (token mode): sign in and send it in Hello.token"
                        .into(),
            });
        };
        let v = verifier.verify(token)?;
        Ok(Identity {
            nick: v.nick,
            mode: AuthMode::Jwt,
            verified: true,
            sub: Some(v.sub),
            grants: v.grants,
            expires_ms: Some(v.expires_ms),
        })
    }

    /// The identity after a `Refresh` with `token`: the same user (`sub`) and nick, the new
    /// token's grants and expiry. `None` in open mode, where there is nothing to refresh.
    pub fn refresh(&self, current: &Identity, token: &str) -> Option<Result<Identity, Refusal>> {
        let verifier = self.verifier.as_ref()?;
        Some(verifier.verify(token).and_then(|v| {
            if current.sub.as_deref() != Some(v.sub.as_str()) {
                return Err(Refusal {
                    reason: RefusalReason::OtherUser,
                    message: format!(
                        "the new token is for sub {:?}, this session's is {:?}: reconnect to change user",
                        v.sub,
                        current.sub.as_deref().unwrap_or_default()
                    ),
                });
            }
            Ok(Identity {
                nick: current.nick.clone(),
                mode: current.mode,
                verified: true,
                sub: current.sub.clone(),
                grants: v.grants,
                expires_ms: Some(v.expires_ms),
            })
        }))
    }

    /// Whether `room` is left out of the room directory: a direct-message room, or one of
    /// the `--private-rooms` patterns.
    pub fn is_private(&self, room: &str) -> bool {
        dm_members(room).is_some() || self.private.iter().any(|p| p.matches(room))
    }

    /// Whether `identity` may do what needs `need` in `room`; the error is the `FORBIDDEN`
    /// message.
    pub fn authorize(&self, identity: &Identity, room: &str, need: Access) -> Result<(), String> {
        if let Some(members) = dm_members(room) {
            if identity.verified && members.contains(&identity.nick.as_str()) {
                return Ok(());
            }
            let only = members.join(", ");
            return Err(if identity.verified {
                format!("{room} is a direct-message room for {only} only")
            } else {
                format!(
                    "{room} is a direct-message room for {only} only, each holding their nick's \
                     secret; this session sent none"
                )
            });
        }
        if identity.mode == AuthMode::Open {
            // No private rooms in open mode (refused at start-up).
            return Ok(());
        }
        let have = identity.grants.access(room);
        if have.covers(need) {
            return Ok(());
        }
        let what = if need.write {
            "sending"
        } else {
            "joining, reading or listing"
        };
        let private = if self.private.iter().any(|p| p.matches(room)) {
            "private room "
        } else {
            ""
        };
        Err(format!(
            "{what} needs a {} grant on {private}{room}; your token grants {:?} there",
            need.as_str(),
            have.as_str()
        ))
    }
}
