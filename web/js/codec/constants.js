// The protocol's numbers that every part of the codec and the page share.

/** The newest protocol version: a client announces it in Hello; Welcome says what the session speaks. */
export const PROTOCOL_VERSION = 3;
/** The oldest protocol version a relay serves (Rust MIN_PROTOCOL_VERSION). */
export const MIN_PROTOCOL_VERSION = 1;
/** The most edits one message may have (Rust MAX_EDITS). */
export const MAX_EDITS = 20;
/** The emoji a reaction may be, in the order MessageState lists them (Rust REACTIONS). */
export const REACTIONS = Object.freeze(['\u{1f44d}', '\u{2764}\u{fe0f}', '\u{1f602}', '\u{1f389}', '\u{1f62e}', '\u{1f622}', '\u{1f64f}', '\u{1f440}']);
/** ALPN of native QUIC sessions. */
export const ALPN_CHITCHAT = 'chitchat/1';
/** ALPN of WebTransport sessions (HTTP/3). */
export const ALPN_H3 = 'h3';
/** The most bytes one frame body may hold, in either direction (Rust MAX_FRAME_LEN). */
export const MAX_FRAME_LEN = 256 * 1024;
/** The most bytes one datagram may hold (Rust MAX_DATAGRAM_LEN). */
export const MAX_DATAGRAM_LEN = 1000;
/** Bytes of the big-endian length prefix in front of every stream frame. */
export const LEN_PREFIX = 4;
/** The longest nick, in characters (code points). */
export const MAX_NICK_CHARS = 32;
/** The longest room name, in bytes (room names are ASCII). */
export const MAX_ROOM_LEN = 64;
/** Epochs stay below 2^53 by design, so that JS numbers hold them exactly. */
export const MAX_EPOCH = Number.MAX_SAFE_INTEGER;
/** The longest direct-message room name, in bytes (Rust MAX_DM_ROOM_LEN). */
export const MAX_DM_ROOM_LEN = 256;
/** The most nicks a direct-message room names (Rust MAX_DM_MEMBERS). */
export const MAX_DM_MEMBERS = 8;
/** The longest Hello or Refresh token, in bytes (Rust MAX_TOKEN_LEN). */
export const MAX_TOKEN_LEN = 4096;
/** The longest room topic, in bytes (Rust MAX_TOPIC_BYTES). */
export const MAX_TOPIC_BYTES = 256;
/** The most rooms one ListRooms page holds (Rust MAX_ROOMS_PAGE). */
export const MAX_ROOMS_PAGE = 100;
