//! What can go wrong talking to a relay, in words a user can act on.
//!
//! [`ClientError`] is the one error type of the client library; [`CloseReason`] says why a
//! connection ended. Both are plain values (`Clone`), so a session can hand the same error
//! to its user and keep it for its own decisions.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chitchat_protocol::{ErrorCode, ErrorFrame, FrameError, ValidationError};

use crate::config::ConfigError;
use crate::token::{TokenError, TokenSource, expired_message};

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The relay closed it on purpose, with an error code and a reason text.
    Relay { code: ErrorCode, reason: String },
    /// This client closed it: on request (`NO_ERROR`) or because the relay broke the
    /// protocol.
    Local { code: ErrorCode, reason: String },
    /// The path failed: the relay stopped answering, reset the connection or refused it at
    /// the QUIC or TLS level.
    Lost(String),
}

impl CloseReason {
    /// Maps quinn's view of a closed connection.
    pub fn from_quinn(e: &quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        match e {
            E::ApplicationClosed(close) => CloseReason::Relay {
                code: ErrorCode(u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX)),
                reason: String::from_utf8_lossy(&close.reason).into_owned(),
            },
            E::LocallyClosed => CloseReason::Local {
                code: ErrorCode::NO_ERROR,
                reason: "closed by this client".into(),
            },
            E::TimedOut => CloseReason::Lost("the relay stopped answering (timed out)".into()),
            E::Reset => CloseReason::Lost("the relay reset the connection (restarted?)".into()),
            other => CloseReason::Lost(other.to_string()),
        }
    }

    /// The error code, if the connection was closed with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            CloseReason::Relay { code, .. } | CloseReason::Local { code, .. } => Some(*code),
            CloseReason::Lost(_) => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Relay { code, reason } if *code == ErrorCode::NO_ERROR => {
                write!(f, "the relay closed the connection: {reason}")
            }
            CloseReason::Relay { code, reason } => write!(
                f,
                "the relay closed the connection: {} ({}): {reason}",
                code.description(),
                code.name()
            ),
            CloseReason::Local { code, reason } if *code == ErrorCode::NO_ERROR => {
                write!(f, "{reason}")
            }
            CloseReason::Local { code, reason } => {
                write!(
                    f,
                    "closed the connection: {} ({}): {reason}",
                    code.description(),
                    code.name()
                )
            }
            CloseReason::Lost(text) => write!(f, "connection lost: {text}"),
        }
    }
}

/// Everything that can go wrong talking to a relay.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The CA certificate file could not be used.
    #[error("cannot use CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// Nothing listens where the relay should be: the port refused the connection (TCP),
    /// or its host answered the QUIC packets with ICMP port unreachable.
    #[error("no relay answering at {relay} (connection refused)")]
    NotListening { relay: String },
    /// The configuration (file, context, variables) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No connection to a relay could be made.
    #[error("cannot reach relay {relay} (trusting the CA in {}): {reason}", ca.display())]
    Unreachable {
        relay: String,
        ca: PathBuf,
        reason: String,
    },
    /// The relay answered, but its certificate does not verify against the CA file: the
    /// wrong CA (or relay) was given. Waiting cannot fix it, so commands that wait for a
    /// relay to come up stop at once; a session already running keeps trying (a relay may
    /// come back with the right certificate).
    #[error(
        "the certificate of relay {relay} is not signed by the CA in {}: {reason}; give the relay's CA with --ca (or in the context)",
        ca.display()
    )]
    Certificate {
        relay: String,
        ca: PathBuf,
        reason: String,
    },
    /// Several relays were tried and none could be reached; each attempt's error, in order.
    #[error("cannot reach any relay: {}", list(.0))]
    NoRelay(Vec<ClientError>),
    /// The relay (or this client, checking before sending) refused a request or the session.
    #[error("{} ({}): {message}", code.description(), code.name())]
    Refused { code: ErrorCode, message: String },
    /// The connection ended before the request was answered.
    #[error("{0}")]
    Closed(CloseReason),
    /// The relay sent bytes that are not a valid frame.
    #[error("the relay sent a bad frame: {0}")]
    BadFrame(FrameError),
    /// The relay answered with a frame of the wrong kind.
    #[error("the relay answered with an unexpected frame: {0}")]
    Unexpected(String),
    /// No answer in time.
    #[error("no answer from the relay within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The session this request went through has stopped.
    #[error("the session has ended")]
    SessionEnded,
    /// The nick's guest secret could not be read or saved.
    #[error("guest secret file {}: {reason}", path.display())]
    GuestSecret { path: PathBuf, reason: String },
    /// No usable sign-in token: its source failed, or it expired and cannot be refreshed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

fn list(errors: &[ClientError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ClientError {
    /// The protocol error code behind this error, if there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            ClientError::Closed(reason) => reason.code(),
            ClientError::BadFrame(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether the connection is gone (as opposed to one request failing on a live one).
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ClientError::Closed(_) | ClientError::BadFrame(_))
            || self.code().is_some_and(ErrorCode::is_fatal)
    }

    /// Whether trying again (later, or on another relay) cannot help: the CA file or the
    /// guest secret is unusable, no token can be had, or the relay refused the session for
    /// something this client sends (its protocol version, nick or token, or a nick another
    /// secret holds).
    pub fn is_permanent(&self) -> bool {
        match self {
            ClientError::CaFile { .. }
            | ClientError::GuestSecret { .. }
            | ClientError::Config(_)
            | ClientError::Token(_) => true,
            ClientError::Refused { code, .. } => matches!(
                *code,
                ErrorCode::UNSUPPORTED_VERSION
                    | ErrorCode::INVALID_NICK
                    | ErrorCode::NICK_TAKEN
                    | ErrorCode::UNAUTHORIZED
            ),
            ClientError::NoRelay(all) => !all.is_empty() && all.iter().all(Self::is_permanent),
            _ => false,
        }
    }

    /// Whether no relay could be reached at all: nothing listens, no answer in time, or the
    /// connection failed below the session (as opposed to a relay refusing the session, or
    /// a problem of this client's own).
    pub fn is_transport_failure(&self) -> bool {
        match self {
            ClientError::NotListening { .. }
            | ClientError::Unreachable { .. }
            | ClientError::Timeout(_)
            | ClientError::Closed(CloseReason::Lost(_)) => true,
            ClientError::NoRelay(all) => {
                !all.is_empty() && all.iter().all(Self::is_transport_failure)
            }
            _ => false,
        }
    }
}

impl ClientError {
    /// A refused sign-in in words that say what to do: an expired token names when it
    /// expired and how to give a fresh one (from `source`; `token` is the one refused);
    /// any other error is kept as it is, the relay's reason included.
    pub fn with_token_advice(self, source: Option<&TokenSource>, token: Option<&str>) -> Self {
        let Some(source) = source else {
            return self;
        };
        let expired = match self.code() {
            Some(ErrorCode::TOKEN_EXPIRED) => true,
            // A relay may refuse an expired token at Hello as unauthorized: its reason says.
            Some(ErrorCode::UNAUTHORIZED) => self.to_string().contains("expired"),
            _ => false,
        };
        if !expired {
            return self;
        }
        ClientError::Token(TokenError::Expired(expired_message(token, source)))
    }
}

impl From<ErrorFrame> for ClientError {
    fn from(e: ErrorFrame) -> Self {
        ClientError::Refused {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<ValidationError> for ClientError {
    fn from(e: ValidationError) -> Self {
        ClientError::Refused {
            code: e.code,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_like_the_relay_wrote_them() {
        let e = ClientError::from(ErrorFrame {
            id: 3,
            code: ErrorCode::TEXT_TOO_LONG,
            message: "message is 5000 bytes; the most is 4096".into(),
        });
        assert_eq!(
            e.to_string(),
            "message too long (TEXT_TOO_LONG): message is 5000 bytes; the most is 4096"
        );
        assert!(!e.is_connection_lost());
        assert!(!e.is_permanent());
    }

    #[test]
    fn close_reasons() {
        let slow = CloseReason::Relay {
            code: ErrorCode::SLOW_CONSUMER,
            reason: "queue full".into(),
        };
        assert_eq!(
            slow.to_string(),
            "the relay closed the connection: too slow reading messages (SLOW_CONSUMER): queue full"
        );
        assert!(ClientError::Closed(slow).is_connection_lost());
        let nick = ClientError::Refused {
            code: ErrorCode::INVALID_NICK,
            message: "nick is empty".into(),
        };
        assert!(nick.is_permanent());
        let taken = ClientError::Refused {
            code: ErrorCode::NICK_TAKEN,
            message: "nick 'ada' is taken".into(),
        };
        assert!(
            taken.is_permanent(),
            "another secret holds it: retrying cannot help"
        );
        let busy = ClientError::Closed(CloseReason::Relay {
            code: ErrorCode::SERVER_BUSY,
            reason: "full".into(),
        });
        assert!(!busy.is_permanent() && busy.is_connection_lost());
    }

    #[test]
    fn only_failures_to_reach_a_relay_are_transport_failures() {
        let down = ClientError::NotListening {
            relay: "localhost:4433 (127.0.0.1:4433)".into(),
        };
        assert_eq!(
            down.to_string(),
            "no relay answering at localhost:4433 (127.0.0.1:4433) (connection refused)"
        );
        assert!(down.is_transport_failure() && !down.is_permanent());
        let slow = ClientError::Unreachable {
            relay: "h:1".into(),
            ca: "ca.pem".into(),
            reason: "no answer within 5000 ms".into(),
        };
        assert!(ClientError::NoRelay(vec![down.clone(), slow]).is_transport_failure());
        let refusals = [
            ErrorCode::UNAUTHORIZED,
            ErrorCode::NICK_TAKEN,
            ErrorCode::UNSUPPORTED_VERSION,
        ];
        for code in refusals {
            let refused = ClientError::Refused {
                code,
                message: "no".into(),
            };
            assert!(!refused.is_transport_failure(), "{code:?}");
            assert!(!ClientError::NoRelay(vec![down.clone(), refused]).is_transport_failure());
        }
        let wrong_ca = ClientError::Certificate {
            relay: "h:1".into(),
            ca: "ca.pem".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(!wrong_ca.is_transport_failure() && !wrong_ca.is_permanent());
        assert!(!ClientError::NoRelay(Vec::new()).is_transport_failure());
        assert!(!ClientError::Config(ConfigError::NoConfigDir).is_transport_failure());
    }
}
