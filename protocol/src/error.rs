//! Error codes: carried in [`crate::ErrorFrame`]s and used as QUIC application close codes.

use serde::{Deserialize, Serialize};

/// A numeric error code. Unknown codes decode fine (a newer relay may send one); they have no
/// name. The same numbers close QUIC connections and WebTransport sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErrorCode(pub u16);

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident = $n:literal, $text:literal;)*) => {
        impl ErrorCode {
            $($(#[doc = $doc])* pub const $name: ErrorCode = ErrorCode($n);)*

            /// Every named code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code's name, e.g. `TEXT_TOO_LONG`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($n => stringify!($name),)*
                    _ => "UNKNOWN",
                }
            }

            /// What the code means, in words a user can read.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($n => $text,)*
                    _ => "unknown error",
                }
            }
        }
    };
}

codes! {
    /// Normal close.
    NO_ERROR = 0, "closed";
    /// A frame did not decode (closes the connection).
    BAD_FRAME = 1, "malformed frame";
    /// A length prefix over the frame limit (closes the connection).
    FRAME_TOO_LARGE = 2, "frame too large";
    /// A frame type this protocol version does not know (closes the connection).
    UNKNOWN_FRAME = 3, "unknown frame type";
    /// A string that is not UTF-8 (closes the connection).
    INVALID_UTF8 = 4, "invalid UTF-8";
    /// A frame out of place, e.g. anything before Hello (closes the connection).
    PROTOCOL_VIOLATION = 5, "protocol violation";
    /// The Hello's version is not the relay's.
    UNSUPPORTED_VERSION = 6, "unsupported protocol version";
    /// The nick breaks the nick rules.
    INVALID_NICK = 10, "invalid nick";
    /// The room name breaks the room name rules.
    INVALID_ROOM = 11, "invalid room name";
    /// The text is over the relay's text limit.
    TEXT_TOO_LONG = 12, "message too long";
    /// The text is empty or holds control characters.
    INVALID_TEXT = 13, "invalid message text";
    /// The request names a room this session has not joined.
    NOT_JOINED = 14, "not in that room";
    /// Joining would pass the rooms-per-session limit.
    TOO_MANY_ROOMS = 15, "too many rooms";
    /// Sending faster than the per-session rate limit.
    RATE_LIMITED = 16, "sending too fast";
    /// A request field is out of range (e.g. a History limit of 0).
    INVALID_REQUEST = 17, "invalid request";
    /// A quota of the client's source address (new rooms or stored bytes per minute) is
    /// used up; the message says which. Try again later.
    QUOTA_EXCEEDED = 18, "quota exceeded";
    /// Joining a room where another member's nick looks the same as this session's (same
    /// TR39 skeleton, different nick).
    NICK_LOOKALIKE = 19, "nick looks like a member's";
    /// The relay has as many sessions as it allows (closes the connection).
    SERVER_BUSY = 20, "relay is full";
    /// No Hello arrived in time (closes the connection).
    HANDSHAKE_TIMEOUT = 21, "handshake timed out";
    /// The session stayed silent too long (closes the connection).
    IDLE_TIMEOUT = 22, "idle timeout";
    /// The session did not read its messages fast enough (closes the connection; resume to
    /// get everything).
    SLOW_CONSUMER = 23, "too slow reading messages";
    /// The relay is shutting down (closes the connection; reconnect elsewhere).
    SHUTTING_DOWN = 24, "relay shutting down";
    /// The message store is unreachable; nothing was stored. Try again.
    UNAVAILABLE = 25, "message store unavailable";
    /// The relay failed; nothing was stored.
    INTERNAL = 26, "internal error";
    /// The relay's disk is nearly full; nothing was stored. Not fatal: reading, joining and
    /// other requests go on, and a send may work once space is freed.
    STORAGE_FULL = 27, "relay storage full";
    /// This client's address already holds as many sessions as the relay allows one
    /// address (closes the connection; close another session or try another relay).
    TOO_MANY_FROM_ADDRESS = 28, "too many sessions from this address";
    /// Open mode: the nick (or one that looks the same) is claimed by someone holding
    /// another secret (closes the connection; pick another nick or use the claim's secret).
    NICK_TAKEN = 29, "nick is taken";
    /// The token was refused: bad signature, wrong algorithm, issuer or audience, not yet
    /// valid, malformed, or missing where the relay requires one; the message says which
    /// (closes the connection).
    UNAUTHORIZED = 30, "not signed in";
    /// The session's identity has no grant for this room (or is not named in a direct-message
    /// room). Not fatal: other requests go on.
    FORBIDDEN = 31, "not allowed in that room";
    /// The session's token expired before a `Refresh` replaced it (closes the connection;
    /// reconnect with a fresh token and resume).
    TOKEN_EXPIRED = 32, "sign-in expired";
    /// `CreateRoom` for a name that has a record already (the first record stays). Not fatal.
    ROOM_EXISTS = 33, "room exists";
    /// `SetTopic` for a room without a record. Not fatal.
    NO_SUCH_ROOM = 34, "no such room";
    /// Edit, Delete, React or a reply naming a seq that is not a text message of the room,
    /// or one that is deleted. Not fatal.
    NO_SUCH_MESSAGE = 35, "no such message";
    /// Edit or Delete of another user's message. Not fatal.
    NOT_AUTHOR = 36, "not your message";
    /// Edit of a message that has had [`crate::MAX_EDITS`] edits. Not fatal.
    EDIT_LIMIT = 37, "edited too often";
}

impl ErrorCode {
    /// Whether a relay closes the connection after sending this code. `INVALID_NICK` and
    /// `NICK_TAKEN` answer only a `Hello`, which they refuse: the session ends.
    pub fn is_fatal(self) -> bool {
        matches!(self.0, 1..=6 | 10 | 20..=24 | 28..=30 | 32)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
