//! The ChitChat wire protocol: every frame between clients and relays, how frames become
//! bytes, the rules for nicks, room names and texts, and the error codes; and, in [`bus`],
//! the frames relays send each other through Redis.
//!
//! This crate does no I/O and knows nothing of tokio, QUIC or sockets: the relay, the CLI
//! and the load generator all speak through it, and docs/protocol.md specifies the same
//! bytes for other implementations (the web client's JavaScript codec among them).

pub mod bus;
mod codec;
mod entries;
mod error;
mod frames;
mod unicode;
mod validate;

pub use codec::{
    CONFIG, Frame, FrameBuffer, FrameError, LEN_PREFIX, MAX_DATAGRAM_LEN, MAX_FRAME_LEN,
    decode_body, decode_datagram, encode_datagram, encode_frame, encode_frame_into,
};
pub use entries::{MAX_EDITS, REACTIONS, is_reaction};
pub use error::ErrorCode;
pub use frames::*;
pub use unicode::nick_skeleton;
pub use validate::{
    MAX_DM_MEMBERS, MAX_DM_ROOM_LEN, MAX_GUEST_SECRET_LEN, MAX_NICK_CHARS, MAX_ROOM_LEN,
    MAX_ROOMS_PAGE, MAX_TOKEN_LEN, MAX_TOPIC_BYTES, MIN_GUEST_SECRET_LEN, ValidationError,
    dm_members, dm_room, validate_guest_secret, validate_nick, validate_room, validate_text,
    validate_topic,
};

/// The newest protocol version: a client announces the newest it speaks in [`Hello`], and
/// the session speaks the lower of that and the relay's. Version 2 adds log entries (edit,
/// delete, replies, reactions); version 3 adds read markers and renames.
pub const PROTOCOL_VERSION: u16 = 3;

/// The oldest protocol version a relay still serves: version-1 sessions get exactly the
/// frames version 1 defines.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// ALPN of native QUIC sessions.
pub const ALPN_CHITCHAT: &[u8] = b"chitchat/1";

/// ALPN of WebTransport sessions (HTTP/3).
pub const ALPN_H3: &[u8] = b"h3";

/// The HTTP path of the WebSocket transport on a relay's HTTP port.
pub const WS_PATH: &str = "/ws";

/// The WebSocket subprotocol of the WebSocket transport: QMux draft-02 records
/// (`qmux-02.`) carrying this protocol (`chitchat-1`: `/` is not allowed in a subprotocol).
pub const WS_SUBPROTOCOL: &str = "qmux-02.chitchat-1";

/// Epochs are below 2^53 so that JavaScript numbers hold them exactly.
pub const MAX_EPOCH: u64 = (1 << 53) - 1;
